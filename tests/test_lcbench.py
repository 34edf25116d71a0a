"""LCBench converter, on a small file written in exactly the data_2k(_lw).json layout."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from simtune.blackboxes import repository
from simtune.blackboxes.blackbox import TIME
from simtune.blackboxes.sources.lcbench import EPOCHS, convert_lcbench, load_lcbench

DATASETS = ("credit-g", "Fashion-MNIST")
TAGS = (
    "Train/val_accuracy",
    "Train/val_cross_entropy",
    "Train/val_balanced_accuracy",
    "Train/test_result",
    "Train/test_cross_entropy",
    "Train/test_balanced_accuracy",
)


def lcbench_data(n_configs: int = 3, seed: int = 0) -> dict:
    """`data[dataset][config_id] = {config, log, results}` with 52-entry logs, as LCBench has."""
    rng = np.random.default_rng(seed)
    data: dict = {}
    for d, dataset in enumerate(DATASETS):
        runs = {}
        for i in range(n_configs):
            config = {  # the same configs on every dataset, as in LCBench
                "batch_size": [16, 91, 512][i % 3],
                "imputation_strategy": "mean",
                "learning_rate_scheduler": "cosine_annealing",
                "loss": "cross_entropy_weighted",
                "network": "shapedmlpnet",
                "max_dropout": [0.0, 0.5, 0.91][i % 3],
                "normalization_strategy": "standardize",
                "optimizer": "sgd",
                "cosine_annealing_T_max": 50,
                "cosine_annealing_eta_min": 1e-08,
                "activation": "relu",
                "max_units": [64, 256, 1024][i % 3],
                "mlp_shape": "funnel",
                "num_layers": [1, 3, 5][i % 3],
                "learning_rate": [1e-4, 0.0031622777, 0.07113964491331314][i % 3],
                "momentum": [0.1, 0.545, 0.46269226264944247][i % 3],
                "weight_decay": [1e-5, 0.050005, 0.0018436505744833952][i % 3],
            }
            log = {
                "time": np.cumsum(rng.uniform(1.0, 3.0, EPOCHS)).tolist(),
                "epoch": list(range(1, EPOCHS + 1)),
                "Train/loss": rng.uniform(0, 1, EPOCHS).tolist(),
                "Train/lr": rng.uniform(0, 0.1, EPOCHS).tolist(),
            }
            for tag in TAGS:
                log[tag] = (rng.uniform(50, 100, EPOCHS) + d).tolist()
            results = {"model_parameters": 1234 + i, "final_val_accuracy": log[TAGS[0]][-1]}
            runs[str(i)] = {"config": config, "log": log, "results": results}
        data[dataset] = runs
    return data


def write_lcbench(folder: Path, data: dict | None = None, name: str = "data_2k_lw.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(lcbench_data() if data is None else data))
    return path


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIMTUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SIMTUNE_LCBENCH_DIR", raising=False)
    return tmp_path / "cache"


def test_values_end_to_end(tmp_path: Path) -> None:
    data = lcbench_data()
    tables = convert_lcbench(write_lcbench(tmp_path, data))
    assert sorted(tables) == sorted(DATASETS)
    bb = tables["credit-g"]
    record = data["credit-g"]["1"]
    config = {k: record["config"][k] for k in bb.space}
    assert bb.fidelities == list(range(1, 53)) and bb.seeds == [0] and len(bb) == 3
    # log entry k is fidelity k + 1: the first and the last entry
    first = bb.evaluate(config, fidelity=1, seed=0)
    last = bb.evaluate(config, fidelity=52, seed=0)
    assert first["val_accuracy"] == record["log"]["Train/val_accuracy"][0]
    assert last["val_accuracy"] == record["log"]["Train/val_accuracy"][51]
    assert last["test_accuracy"] == record["log"]["Train/test_result"][51]
    assert last["val_cross_entropy"] == record["log"]["Train/val_cross_entropy"][51]
    assert last[TIME] == record["log"]["time"][51]
    assert bb.objectives["val_accuracy"] == "max" and bb.objectives["val_cross_entropy"] == "min"
    other = tables["Fashion-MNIST"].evaluate(config, fidelity=52, seed=0)
    assert other["val_accuracy"] == data["Fashion-MNIST"]["1"]["log"]["Train/val_accuracy"][51]


def test_time_made_monotone(tmp_path: Path) -> None:
    data = lcbench_data()
    times = data["credit-g"]["0"]["log"]["time"]
    times[10] = times[9] - 0.5  # a clock hiccup in the raw log
    bb = convert_lcbench(write_lcbench(tmp_path, data))["credit-g"]
    config = {k: data["credit-g"]["0"]["config"][k] for k in bb.space}
    elapsed = bb.curve(config, 0).elapsed
    assert elapsed[10] == times[9]  # running maximum
    assert np.all(np.diff(elapsed) >= 0)


def test_load_caches_every_dataset(tmp_path: Path, private_cache: Path, monkeypatch) -> None:
    write_lcbench(tmp_path / "raw")
    monkeypatch.setenv("SIMTUNE_LCBENCH_DIR", str(tmp_path / "raw"))
    bb = repository.load("lcbench", "credit-g")
    assert "LCBench raw file" in bb.source
    assert sorted(p.name for p in (private_cache / "lcbench").glob("*.h5")) == [
        "Fashion-MNIST.h5",
        "credit-g.h5",
    ]
    monkeypatch.delenv("SIMTUNE_LCBENCH_DIR")
    (tmp_path / "raw" / "data_2k_lw.json").unlink()  # the cache alone must answer now
    again = load_lcbench("Fashion-MNIST")
    config = again.configs()[2]
    assert again.evaluate(config, fidelity=52, seed=0)["val_accuracy"] == pytest.approx(
        lcbench_data()["Fashion-MNIST"]["2"]["log"]["Train/val_accuracy"][51]
    )


def test_reads_the_zip(tmp_path: Path, private_cache: Path) -> None:
    raw = write_lcbench(tmp_path)
    with zipfile.ZipFile(tmp_path / "data_2k_lw.zip", "w") as z:
        z.write(raw, "data_2k_lw.json")
    raw.unlink()
    bb = load_lcbench("credit-g", raw_dir=tmp_path)
    assert len(bb) == 3


def test_bad_input_messages(tmp_path: Path, private_cache: Path) -> None:
    with pytest.raises(ValueError, match="SIMTUNE_LCBENCH_DIR.*download lcbench"):
        load_lcbench("credit-g")
    data = lcbench_data()
    del data["credit-g"]["2"]["log"]["Train/val_cross_entropy"]
    path = write_lcbench(tmp_path / "a", data)
    with pytest.raises(ValueError, match=r"data_2k_lw.json: \['credit-g'\]\['2'\]\['log'\] has no"):
        convert_lcbench(path)
    data = lcbench_data()
    data["credit-g"]["0"]["log"]["time"] = data["credit-g"]["0"]["log"]["time"][:50]
    with pytest.raises(ValueError, match="'time'\\] has 50 entries, expected 52"):
        convert_lcbench(write_lcbench(tmp_path / "b", data))
    write_lcbench(tmp_path / "c")
    with pytest.raises(ValueError, match="has no dataset 'adult'; it has Fashion-MNIST, credit-g"):
        load_lcbench("adult", raw_dir=tmp_path / "c")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "data_2k_lw.json").write_text('{"credit-g": {"0": ')
    with pytest.raises(ValueError, match="not a readable LCBench file.*delete it"):
        load_lcbench("credit-g", raw_dir=tmp_path / "d")
    with pytest.raises(ValueError, match="holds none of data_2k_lw.json"):
        load_lcbench("credit-g", raw_dir=tmp_path / "e")
