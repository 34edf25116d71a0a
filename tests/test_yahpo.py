"""YAHPO Gym LCBench surrogate through onnxruntime, on the real model files in $SIMTUNE_DATA."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the yahpo extra (onnxruntime) is not installed")

from simtune.blackboxes import repository  # noqa: E402
from simtune.blackboxes.blackbox import TIME  # noqa: E402
from simtune.blackboxes.sources.yahpo import (  # noqa: E402
    INPUTS,
    TASKS,
    YahpoLCBench,
    freeze,
    load_yahpo_lcbench,
)

DEFAULT = {  # YAHPO's documented check configuration (the config space defaults)
    "batch_size": 91,
    "learning_rate": 0.0031622777,
    "momentum": 0.545,
    "weight_decay": 0.050005,
    "num_layers": 3,
    "max_units": 256,
    "max_dropout": 0.5,
}


@pytest.fixture(scope="module")
def model_dir(data_dir: Path) -> Path:
    return data_dir / "yahpo" / "lcbench"


@pytest.fixture(scope="module")
def bb(model_dir: Path) -> YahpoLCBench:
    return YahpoLCBench(model_dir, "3945")


def test_check_value(bb: YahpoLCBench) -> None:
    at52 = bb.evaluate(DEFAULT, fidelity=52, seed=0)
    assert at52[TIME] == pytest.approx(165.69, abs=0.005)
    assert at52["val_accuracy"] == pytest.approx(93.40, abs=0.005)
    curve = bb.curve(DEFAULT, 0)
    assert curve.fidelities == list(range(1, 53))
    assert curve.metrics["val_accuracy"][-1] == at52["val_accuracy"]


def test_space_and_tasks_match_the_model_files(bb: YahpoLCBench, model_dir: Path) -> None:
    spec = json.loads((model_dir / "config_space.json").read_text())
    hps = {h["name"]: h for h in spec["hyperparameters"]}
    assert tuple(hps["OpenML_task_id"]["choices"]) == TASKS
    assert set(bb.space) == set(INPUTS)
    for name in INPUTS:
        assert (bb.space[name].low, bb.space[name].high) == (hps[name]["lower"], hps[name]["upper"])
    assert bb.space["batch_size"].kind == "lograndint" and bb.space["momentum"].kind == "uniform"
    defaults = {name: hps[name]["default"] for name in INPUTS}
    assert defaults == DEFAULT


def test_elapsed_time_is_monotone(bb: YahpoLCBench) -> None:
    configs = bb.space.sample(np.random.default_rng(1), 300)
    raw = _raw_time(bb, configs)
    assert (np.diff(raw, axis=1) < 0).any()  # the model alone is not monotone for some configs
    for c in configs[:50]:
        assert np.all(np.diff(bb.curve(c, 0).elapsed) >= 0)
    enforced = bb.predict(configs)[TIME]
    assert np.array_equal(enforced, np.maximum.accumulate(raw, axis=1))


def _raw_time(bb: YahpoLCBench, configs: list[dict]) -> np.ndarray:
    """Time predicted by the ONNX model, one call per epoch, without the running maximum."""
    out = []
    cat = np.full((len(configs), 1), bb._task_code, dtype=np.int32)
    for e in bb.fidelities:
        x = np.array([[e, *(c[k] for k in INPUTS)] for c in configs], dtype=np.float32)
        out.append(bb._session.run(None, {"x_cat": cat, "x_cont": x})[0][:, 0])
    return np.stack(out, axis=1).astype(float)


def test_freeze_is_seeded_and_matches_curves(bb: YahpoLCBench) -> None:
    a = freeze(bb, 40, np.random.default_rng(7))
    b = freeze(bb, 40, np.random.default_rng(7))
    c = freeze(bb, 40, np.random.default_rng(8))
    assert a.configs() == b.configs() and a.configs() != c.configs()
    config = a.configs()[13]
    table, live = a.curve(config, 0), bb.curve(config, 0)
    assert table.metrics["val_accuracy"] == pytest.approx(live.metrics["val_accuracy"], abs=1e-9)
    assert table.elapsed == pytest.approx(live.elapsed, abs=1e-9)
    assert len(a) == 40 and a.fidelities == list(range(1, 53))


def test_bad_input(bb: YahpoLCBench, model_dir: Path, monkeypatch, tmp_path) -> None:
    with pytest.raises(ValueError, match="'learning_rate'.*outside"):
        bb.curve({**DEFAULT, "learning_rate": 0.5}, 0)
    with pytest.raises(ValueError, match="only seed 0"):
        bb.curve(DEFAULT, 1)
    with pytest.raises(ValueError, match="no task '167083'"):
        YahpoLCBench(model_dir, "167083")  # coded in encoding.json, not a task of the space
    with pytest.raises(ValueError, match="lacks model.onnx, config_space.json, encoding.json"):
        YahpoLCBench(tmp_path, "3945")
    monkeypatch.delenv("SIMTUNE_YAHPO_DIR", raising=False)
    monkeypatch.setenv("SIMTUNE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="SIMTUNE_YAHPO_DIR.*download yahpo_lcbench"):
        load_yahpo_lcbench("3945")


def test_repository_entry(model_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("SIMTUNE_YAHPO_DIR", str(model_dir))
    bb = repository.load("yahpo_lcbench", "7593")
    assert bb.task == "7593" and "surrogate" in bb.source
    assert repository.status("yahpo_lcbench", "7593").startswith("surrogate model in")
    other = bb.evaluate(DEFAULT, fidelity=52, seed=0)["val_accuracy"]
    assert 0 < other <= 100 and other != pytest.approx(93.40, abs=0.005)  # the task matters


@pytest.mark.slow
def test_run_py_end_to_end(model_dir: Path, tmp_path: Path) -> None:
    """`experiments/run.py benchmark=yahpo_lcbench benchmark.task=3945` in a real process."""
    import csv
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "SIMTUNE_YAHPO_DIR": str(model_dir), "SIMTUNE_CACHE": str(tmp_path)}
    out = tmp_path / "run"
    args = ["benchmark=yahpo_lcbench", "benchmark.task=3945", "scheduler=asha",
            "stop.max_wallclock=1500", "progress=false", f"hydra.run.dir={out}"]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, str(repo / "experiments" / "run.py"), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out / "results.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["decision"]]  # reports only
    assert len(rows) > 50
    assert max(int(r["epoch"]) for r in rows) == 52  # ASHA promoted someone to the end
    assert len({r["trial_id"] for r in rows}) > 20  # and stopped most trials early
    assert all(0 < float(r["val_accuracy"]) <= 100 for r in rows)
    assert max(float(r["time"]) for r in rows) <= 1500  # the virtual-time budget
