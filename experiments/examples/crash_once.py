"""A training that crashes once per trial at step 3: the example (and test) of `retries=N`.

    python experiments/run.py benchmark=custom backend=python retries=1 scheduler=random \\
      benchmark.training=experiments/examples/crash_once.py:train \\
      benchmark.space=experiments/examples/crash_once_space.yaml \\
      benchmark.metric=loss benchmark.mode=min benchmark.max_fidelity=6 stop.max_trials=4

Every trial reaches step 6: at step 3 its first process leaves a mark in the trial's
checkpoint directory and dies; the retry starts the training again, which finds the
checkpoint of step 2 and the mark, and goes on from step 3. results.csv shows each retry
as a row of status "retried". With retries=0 every trial fails at step 3. backend=local
runs this file as a script.

For the tests, environment variables change the crash:
- SIMTUNE_CRASH_AT=N: crash at step N instead (0: never);
- SIMTUNE_CRASH_ALWAYS=1: crash at step 3 every time, not only once;
- SIMTUNE_CRASH_AFTER_REPORT=1: crash right after reporting step 3, before its checkpoint
  (a retry then starts from step 2's checkpoint and reports step 3 again);
- SIMTUNE_CRASH_GATE=PATH: a process started after the crash waits until PATH exists.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from simtune.core.report import run_script

CRASH_AT = int(os.environ.get("SIMTUNE_CRASH_AT", "3"))


def train(config: dict[str, Any], reporter: Any, checkpoint_dir: str | None = None) -> None:
    """config["steps"] steps of a made-up loss x^2 + 1/step, one checkpoint per step."""
    ckpt = Path(checkpoint_dir) if checkpoint_dir else None
    state_file = ckpt / "state.json" if ckpt else None
    mark = ckpt / "crashed" if ckpt else None
    state = {"step": 0}
    if state_file is not None and state_file.exists():
        state = json.loads(state_file.read_text())
    gate = os.environ.get("SIMTUNE_CRASH_GATE")
    if gate and mark is not None and mark.exists():
        while not Path(gate).exists():
            time.sleep(0.05)
    after_report = os.environ.get("SIMTUNE_CRASH_AFTER_REPORT") == "1"
    for step in range(state["step"] + 1, int(config["steps"]) + 1):
        crash = step == CRASH_AT and mark is not None and (
            not mark.exists() or os.environ.get("SIMTUNE_CRASH_ALWAYS") == "1")
        if crash and not after_report:
            _crash(mark, step)
        if state_file is not None and not crash:  # checkpoint first, then report
            state["step"] = step
            state_file.write_text(json.dumps(state))
        reporter(epoch=step, loss=float(config["x"]) ** 2 + 1.0 / step)
        if crash:
            _crash(mark, step)


def _crash(mark: Path, step: int) -> None:
    mark.touch()
    raise RuntimeError(f"crash at step {step} (crash_once.py: once per trial)")


if __name__ == "__main__":
    run_script(train)
