"""LocalBackend specifics: GPU rotation (pure functions), PBT checkpoint copies, bad input."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from core.backends.local import LocalBackend, parse_nvidia_smi, pick_gpus
from core.trial import Trial

QUERY = "0\n1\n2\n3\n"  # nvidia-smi --query-gpu=index --format=csv,noheader
LISTING = textwrap.dedent(
    """\
    GPU 0: Tesla T4 (UUID: GPU-1b2c3d4e-0000-1111-2222-333344445555)
    GPU 1: Tesla T4 (UUID: GPU-9f8e7d6c-0000-1111-2222-333344445555)
    """
)


def test_parse_nvidia_smi_outputs():
    assert parse_nvidia_smi(QUERY) == [0, 1, 2, 3]
    assert parse_nvidia_smi(LISTING) == [0, 1]
    assert parse_nvidia_smi("") == []
    assert parse_nvidia_smi("NVIDIA-SMI has failed because it couldn't communicate") == []


def test_pick_gpus_takes_the_least_busy():
    gpus = [0, 1, 2, 3]
    assert pick_gpus(gpus, {}, 1) == [0]
    assert pick_gpus(gpus, {0: 1}, 1) == [1]
    assert pick_gpus(gpus, {0: 2, 1: 1, 2: 1, 3: 2}, 2) == [1, 2]
    assert pick_gpus(gpus, {0: 1, 1: 1, 2: 1, 3: 0}, 2) == [0, 3]
    with pytest.raises(ValueError, match="gpus_per_trial=5 but this machine has 4 GPU"):
        pick_gpus(gpus, {}, 5)


def test_trials_rotate_over_gpus(tmp_path, monkeypatch):
    monkeypatch.setattr("core.backends.local._detect_gpus", lambda: [0, 1, 2])
    script = tmp_path / "env.py"
    script.write_text(
        "import os\nfrom core.report import run_script\n"
        "def train(config, reporter):\n"
        "    reporter(epoch=1, gpu=float(os.environ['CUDA_VISIBLE_DEVICES']))\n"
        "if __name__ == '__main__':\n    run_script(train)\n"
    )
    backend = LocalBackend(str(script), root=tmp_path / "t", max_fidelity=1)
    for i in range(4):
        backend.start(Trial(i, {"i": i}))
    gpus = {}
    while len(gpus) < 4:
        for ev in backend.next_events(until=30):
            gpus[ev.trial_id] = ev.metrics["gpu"]
    backend.close()
    # three GPUs busy with trials 0-2 when trial 3 starts: it shares the lowest-indexed one
    assert gpus == {0: 0.0, 1: 1.0, 2: 2.0, 3: 0.0}


def test_checkpoint_of_copies_the_source_checkpoint(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(
        "import pathlib\nfrom core.report import run_script\n"
        "def train(config, reporter, checkpoint_dir):\n"
        "    p = pathlib.Path(checkpoint_dir) / 'w.txt'\n"
        "    w = float(p.read_text()) if p.exists() else 0.0\n"
        "    p.write_text(str(w + config['step']))\n"
        "    reporter(epoch=1, w=w + config['step'])\n"
        "if __name__ == '__main__':\n    run_script(train)\n"
    )
    backend = LocalBackend(str(script), root=tmp_path / "t", max_fidelity=1)
    backend.start(Trial(0, {"step": 1.5}))
    first = backend.next_events(until=30)
    backend.start(Trial(1, {"step": 10.0}, checkpoint_of=0))
    second = backend.next_events(until=30)
    backend.close()
    assert [e.metrics["w"] for e in first + second] == [1.5, 11.5]
    assert (backend.checkpoint_dir(0) / "w.txt").read_text() == "1.5"  # the source is untouched
    assert json.loads((backend.trial_dir(1) / "config.json").read_text()) == {"step": 10.0}


def test_bad_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="training script 'nope.py' not found"):
        LocalBackend("nope.py")
    with pytest.raises(ValueError, match="grace_period must be a non-negative"):
        LocalBackend([sys.executable, "-c", "pass"], grace_period=-1)
    backend = LocalBackend([sys.executable, "-c", "pass"], root=tmp_path)
    with pytest.raises(ValueError, match="trial 0 is not paused"):
        backend.resume(Trial(0, {}))
    with pytest.raises(ValueError, match="trial 3 is not running"):
        backend.stop(3)
    assert backend.next_events(until=1) == []  # nothing runs: no waiting


BRANIN_TRAIN = textwrap.dedent(
    """
    import time
    from blackboxes.synthetic import BraninCurves
    from core.report import run_script

    def train(config, reporter, checkpoint_dir=None):
        curve = BraninCurves().curve(config)
        for epoch, loss in zip(curve.fidelities, curve.metrics["loss"]):
            time.sleep(0.002)
            reporter(epoch=epoch, loss=loss)

    if __name__ == "__main__":
        run_script(train)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["local", "python"])
def test_run_py_trains_for_real_with_the_simulated_schema(tmp_path, backend):
    import os
    import subprocess
    from pathlib import Path

    import pandas as pd

    from blackboxes.synthetic import BraninCurves

    root = Path(__file__).resolve().parents[1]
    script = tmp_path / "branin_train.py"
    script.write_text(BRANIN_TRAIN)
    out = tmp_path / "run"
    env = {**os.environ, "SIMTUNE_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, str(root / "experiments" / "run.py"), f"backend={backend}",
         "benchmark=synthetic", f"+benchmark.training={script}:train", "scheduler=asha",
         "stop.max_wallclock=12", "n_workers=2", "progress=false", f"hydra.run.dir={out}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["complete"] and meta["backend"]["name"] == backend
    assert meta["backend"]["max_fidelity"] == 81 and meta["backend"]["fidelity"] == "epoch"
    df = pd.read_csv(out / "results.csv")
    assert list(df.columns) == ["trial_id", "time", "epoch", "loss", "decision", "status",
                                "config_x1", "config_x2"]
    assert df["trial_id"].nunique() >= 2 and (df["time"] <= 12 + 5).all()
    bb = BraninCurves()
    row = df.iloc[-1]  # a real report equals the curve the table would give
    config = {"x1": row["config_x1"], "x2": row["config_x2"]}
    assert row["loss"] == pytest.approx(bb.evaluate(config, fidelity=int(row["epoch"]))["loss"])
    assert (out / "trials" / "trial_0" / "config.json").exists()
