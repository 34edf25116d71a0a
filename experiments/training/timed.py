"""Any tabulated training function, with its own clocks in every report (for sim2real).

`train` calls the function named by $SIM2REAL_TRAIN ("path/file.py:name" or
"package.module:name"; default experiments/training/mlp_sklearn.py:train) on the config
plus `seed` = $SIM2REAL_SEED (the table seed it was tabulated with; default 0), and adds to
each report `cpu_s` and `wall_s`: the trial's training time so far (process CPU time, as
`tabulate --clock cpu` measured the table's `elapsed_time`, and wall-clock time; summed over
the processes of a paused and resumed trial, kept in CLOCK_FILE beside its checkpoint; a
trial that starts from another trial's checkpoint (PBT) starts from zero, as in the
simulator); `setup_cpu_s`, the CPU the process spent before the call (interpreter start,
imports). `cpu_s` is what `stop.max_cost` with `stop.cost_attribute=cpu_s` counts.
results.csv records only the benchmark's metrics; the extra keys stay in the trial's
stdout.txt, where analysis/sim2real_compare.py reads them.

Example:
    SIM2REAL_TRAIN=my/train.py:train python experiments/run.py backend=python \
        +benchmark.training=experiments/training/timed.py:train
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

TRAIN_ENV, SEED_ENV = "SIM2REAL_TRAIN", "SIM2REAL_SEED"
DEFAULT = "experiments/training/mlp_sklearn.py:train"
CLOCK_FILE = "sim2real_clock.json"
ROOT = Path(__file__).resolve().parents[2]  # the checkout: DEFAULT is relative to it


def train(config: dict, reporter: Any, checkpoint_dir: Path | None = None) -> None:
    """The training function of $SIM2REAL_TRAIN, each report with this trial's clocks."""
    from simtune.blackboxes.tabulate_eval import load_function

    fn = load_function(os.environ.get(TRAIN_ENV) or str(ROOT / DEFAULT))  # imports: setup
    setup, c0, w0 = time.process_time(), time.process_time(), time.perf_counter()
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir)
    before = _read_clock(ckpt)

    def timed(**metrics: Any) -> None:
        cpu = before["cpu_s"] + time.process_time() - c0
        wall = before["wall_s"] + time.perf_counter() - w0
        if ckpt is not None:
            _write_clock(ckpt, {"cpu_s": cpu, "wall_s": wall, "dir": str(ckpt.resolve())})
        reporter(**metrics, cpu_s=cpu, wall_s=wall, setup_cpu_s=setup)

    fn({**config, "seed": int(os.environ.get(SEED_ENV) or 0)}, timed, checkpoint_dir)


def _read_clock(ckpt: Path | None) -> dict[str, Any]:
    """The training time of this trial's earlier processes (zero for a copied checkpoint)."""
    zero = {"cpu_s": 0.0, "wall_s": 0.0}
    if ckpt is None or not (ckpt / CLOCK_FILE).exists():
        return zero
    saved = json.loads((ckpt / CLOCK_FILE).read_text())
    return saved if saved.get("dir") == str(ckpt.resolve()) else zero


def _write_clock(ckpt: Path, clock: dict[str, Any]) -> None:
    ckpt.mkdir(parents=True, exist_ok=True)
    tmp = ckpt / f"{CLOCK_FILE}.tmp"
    tmp.write_text(json.dumps(clock))
    tmp.replace(ckpt / CLOCK_FILE)
