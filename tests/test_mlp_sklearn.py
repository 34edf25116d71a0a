"""The shipped mlp_sklearn tables and the training function that made them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from simtune.blackboxes import repository
from simtune.blackboxes.blackbox import TIME
from simtune.blackboxes.sources.mlp_sklearn import (
    EPOCHS,
    OBJECTIVES,
    SEEDS,
    TASKS,
    TRAINING,
    load_mlp_sklearn,
    mlp_sklearn_space,
    path_of,
)
from simtune.blackboxes.tabulate import grid
from simtune.blackboxes.tabulate_eval import load_function
from simtune.core.report import parse_report

ROOT = Path(__file__).resolve().parents[1]
train = load_function(f"{ROOT / TRAINING.partition(':')[0]}:train")


def _config(**kw) -> dict:
    base = {"dataset": "wine", "n_layers": 2, "width": 16, "learning_rate_init": 1e-2,
            "batch_size": 32, "alpha": 1e-5, "activation": "tanh", "epochs": 5, "seed": 1}
    return {**base, **kw}


def _run(config: dict, checkpoint_dir: Path | None = None, stop_after: int | None = None):
    reports: list[dict] = []

    def reporter(**m) -> None:
        reports.append(m)
        if stop_after is not None and m["epoch"] == stop_after:
            raise KeyboardInterrupt  # the process is killed right after this report

    try:
        train(config, reporter, checkpoint_dir)
    except KeyboardInterrupt:
        pass
    return reports


@pytest.mark.parametrize("task", TASKS)
def test_shipped_table(task: str) -> None:
    assert path_of(task).exists(), f"shipped table {path_of(task)} is missing"
    bb = repository.load("mlp_sklearn", task)
    assert (bb.name, bb.task, bb.objectives) == ("mlp_sklearn", task, OBJECTIVES)
    assert dict(bb.ds.sizes) == {"config": 288, "seed": 3, "fidelity": EPOCHS}
    assert bb.fidelities == list(range(1, EPOCHS + 1)) and bb.seeds == list(SEEDS)
    assert bb.configs() == grid(mlp_sklearn_space(task))
    for name in [*OBJECTIVES, TIME]:
        assert np.isfinite(bb.ds[name].values).all(), name
    acc = bb.ds["val_accuracy"].values
    assert ((acc >= 0) & (acc <= 1)).all()
    assert (np.diff(bb.ds[TIME].values, axis=2) > 0).all()  # cumulative time grows
    final = acc[:, :, -1].mean(axis=1)
    # scikit-learn's MLP reaches >= 95% on each of these small datasets when tuned...
    assert final.max() >= 0.95
    # ...while the grid holds poor configs too (lr 1e-4 with batch 128 barely moves in 50
    # epochs): the curves must differ between configs, and change along the epochs
    assert final.max() - final.min() >= 0.2
    assert np.mean(acc[:, :, -1] != acc[:, :, 0]) > 0.5
    # one epoch of CPU time: ~1-100 ms for these sizes, per the speed script
    per_epoch = bb.ds[TIME].values[:, :, -1].mean() / EPOCHS
    assert 1e-3 < per_epoch < 0.2
    attrs = bb.ds.attrs
    assert attrs["clock"] == "cpu" and json.loads(attrs["seeds"]) == list(SEEDS)
    assert "scikit-learn" in json.loads(attrs["versions"])


def test_spot_check_retrains_one_config() -> None:
    bb = load_mlp_sklearn("wine")
    row, seed = 137, 2
    config = bb.configs()[row]
    t0 = time.process_time()
    reports = _run({**config, "seed": seed})
    cpu = time.process_time() - t0
    curve = bb.curve(config, seed)
    assert [r["epoch"] for r in reports] == curve.fidelities
    for name in ("val_accuracy", "test_accuracy"):
        assert [r[name] for r in reports] == curve.metrics[name], name
    np.testing.assert_allclose([r["val_logloss"] for r in reports],
                               curve.metrics["val_logloss"], rtol=1e-9)
    # CPU time on another day and load: within a loose factor of the table's
    assert curve.elapsed[-1] / 5 < cpu < curve.elapsed[-1] * 5


def test_checkpoint_resume_equals_uninterrupted(tmp_path: Path) -> None:
    full = _run(_config())
    assert [r["epoch"] for r in full] == [1, 2, 3, 4, 5]
    first = _run(_config(), tmp_path, stop_after=2)
    assert [r["epoch"] for r in first] == [1, 2]
    rest = _run(_config(), tmp_path)  # resumes: epochs continue, they do not restart
    assert [r["epoch"] for r in rest] == [3, 4, 5]
    assert first + rest == full
    assert _run(_config(), tmp_path) == []  # all 5 epochs done: nothing left to train
    assert _run(_config(epochs=6), tmp_path) == _run(_config(epochs=6))[5:]


def test_seed_fixes_split_and_initialization() -> None:
    a, b, c = _run(_config(epochs=2)), _run(_config(epochs=2)), _run(_config(epochs=2, seed=2))
    assert a == b and a != c


def test_bad_config_names_what_is_missing() -> None:
    with pytest.raises(ValueError, match="lacks \\['width'\\]"):
        train({k: v for k, v in _config().items() if k != "width"}, lambda **m: None)
    with pytest.raises(ValueError, match="unknown dataset 'iris'"):
        train(_config(dataset="iris"), lambda **m: None)


def test_runs_as_a_script_with_checkpoint_dir(tmp_path: Path) -> None:
    argv = [f"--{k}" if i % 2 == 0 else str(v)
            for k, v in _config(epochs=3).items() for i in (0, 1)]
    cmd = [sys.executable, str(ROOT / "experiments/training/mlp_sklearn.py"), *argv,
           "--checkpoint-dir", str(tmp_path / "ckpt")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    reports = [r for r in map(parse_report, proc.stdout.splitlines()) if r is not None]
    assert reports == _run(_config(epochs=3))
    assert (tmp_path / "ckpt" / "mlp_sklearn.pkl").exists()


def test_benchmark_is_registered() -> None:
    bench = repository.BENCHMARKS["mlp_sklearn"]
    assert bench.tasks == TASKS
    with pytest.raises(ValueError, match="no task 'iris'"):
        repository.load("mlp_sklearn", "iris")
