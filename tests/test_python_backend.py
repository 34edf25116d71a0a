"""PythonBackend: a training function and its tuner in one file, run as __main__."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from simtune.core.backends.python import PythonBackend
    from simtune.core.rundir import open_run
    from simtune.core.schedulers import make_scheduler
    from simtune.core.space import Space, choice
    from simtune.core.stopping import StoppingCriterion
    from simtune.core.tuner import Tuner

    SCALE = 3.0  # a global of __main__: cloudpickle takes it along by value

    def train(config, reporter, checkpoint_dir=None):
        for epoch in range(1, 5):
            reporter(epoch=epoch, loss=SCALE * config["x"] / epoch)

    if __name__ == "__main__":
        space = Space({"x": choice([1, 2, 3, 4, 5, 6])})
        sched = make_scheduler("asha", {
            "space": space, "metric": "loss", "mode": "min", "objectives": {"loss": "min"},
            "fidelities": [1, 2, 3, 4], "rng": np.random.default_rng(0), "candidates": None,
        }, eta=2)
        out = sys.argv[1]
        writer = open_run(out, fidelity="epoch", metrics=["loss"], hyperparameters=["x"]).writer
        backend = PythonBackend(train, root=out + "/trials", max_fidelity=4)
        summary = Tuner(scheduler=sched, backend=backend, stop=StoppingCriterion(max_trials=6),
                        n_workers=2, results=writer, progress=False).run()
        print("REASON", summary.reason, summary.n_failed)
    """
)


def test_function_defined_in_main_runs_in_trial_processes(tmp_path):
    script = tmp_path / "tune.py"
    script.write_text(SCRIPT)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "REASON" in proc.stdout and proc.stdout.split()[-1] == "0"  # no failed trial
    df = pd.read_csv(out / "results.csv")
    assert set(df["trial_id"]) == set(range(6))
    # loss = 3 * x / epoch: every row carries exactly the function's numbers
    assert ((df["loss"] - 3.0 * df["config_x"] / df["epoch"]).abs() < 1e-12).all()
    for _, epochs in df.groupby("trial_id")["epoch"]:
        assert list(epochs) == list(range(1, len(epochs) + 1))
    assert "completed" in set(df["status"]) and "stop" in set(df["decision"])


def count_epochs(config, reporter, checkpoint_dir):
    """Checkpoints the epoch it reached; reports the epoch it started from."""
    from pathlib import Path

    ckpt = Path(checkpoint_dir) / "epoch.txt"
    done = int(ckpt.read_text()) if ckpt.exists() else 0
    for epoch in range(done + 1, config["epochs"] + 1):
        ckpt.write_text(str(epoch))
        reporter(epoch=epoch, resumed_from=done)


def test_recover_continues_a_function_from_its_checkpoint(tmp_path):
    from simtune.core.backends.python import FUNCTION_FILE, PythonBackend
    from simtune.core.trial import Trial

    root = tmp_path / "trials"
    backend = PythonBackend(count_epochs, root=root, max_fidelity=4)
    assert not root.exists()  # nothing on disk before the first start or recover
    (root / "trial_1" / "checkpoints").mkdir(parents=True)  # left by an interrupted run
    (root / "trial_1" / "config.json").write_text('{"epochs": 4}\n')
    (root / "trial_1" / "checkpoints" / "epoch.txt").write_text("2")
    trial = Trial(1, {"epochs": 4})
    backend.recover(trial)
    assert (root / FUNCTION_FILE).is_file()
    backend.resume(trial)
    events = []
    while len(events) < 2:
        events += backend.next_events(until=60)
    backend.close()
    assert [(e.fidelity, e.metrics["resumed_from"]) for e in events] == [(3, 2), (4, 2)]
