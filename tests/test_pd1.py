"""PD1 converter, on small files written in the layout of pd1_*_results.jsonl.gz."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from simtune.blackboxes import repository
from simtune.blackboxes.blackbox import TIME
from simtune.blackboxes.sources.pd1 import convert_pd1, find_raw, load_pd1

WRN = "cifar10_wide_resnet_batch_size_256"
CNN = "mnist_max_pooling_cnn_tanh_batch_size_2048"


def trial(dataset, model, bs, lr, power, decay, momentum, n, *, act=None, seed=0, **over):
    """One row as PD1 writes it: hps.* scalars and per-evaluation arrays."""
    rng = np.random.default_rng(seed)
    row = {
        "dataset": dataset,
        "model": model,
        "hparams": {"batch_size": bs},
        "trial_dir": f"/trials/{dataset}/{seed}",
        "status": "done",
        "study_group": f"{dataset}_{model}",
        "hps.batch_size": bs,
        "hps.activation_fn": act,
        "hps.lr_hparams.initial_value": lr,
        "hps.lr_hparams.power": power,
        "hps.lr_hparams.decay_steps_factor": decay,
        "hps.lr_hparams.schedule": "polynomial",
        "hps.opt_hparams.momentum": momentum,
        "hps.optimizer": "momentum",
        "global_step": (np.arange(1, n + 1) * 100).tolist(),
        "epoch": (np.arange(1, n + 1) * 0.5).tolist(),
        "eval_time": rng.uniform(10, 20, n).tolist(),
        "valid/error_rate": rng.uniform(0.1, 0.9, n).tolist(),
        "valid/ce_loss": rng.uniform(0.5, 2.0, n).tolist(),
        "test/error_rate": rng.uniform(0.1, 0.9, n).tolist(),
        "train/ce_loss": rng.uniform(0.5, 2.0, n).tolist(),
        "best_valid/error_rate": 0.1,
    }
    row.update(over)
    return row


def write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return path


@pytest.fixture
def rows() -> dict[str, list[dict]]:
    phase0 = [
        trial("cifar10", "wide_resnet", 256, 0.1, 1.0, 0.5, 0.9, 6, seed=1),
        trial("cifar10", "wide_resnet", 256, 2.5, 0.3, 0.2, 0.5, 4, seed=2),  # replaced below
        trial("mnist", "max_pooling_cnn", 2048, 0.01, 1.5, 0.9, 0.99999, 3, act="tanh", seed=3),
        # diverged before the first evaluation: null arrays, no curve
        trial("mnist", "max_pooling_cnn", 2048, 9.0, 1.0, 0.5, 0.5, 3, act="tanh", seed=4,
              status="diverged", **{"valid/error_rate": None, "eval_time": None, "epoch": None}),
    ]  # fmt: skip
    phase1 = [
        trial("cifar10", "wide_resnet", 256, 2.5, 0.3, 0.2, 0.5, 5, seed=5),
        # diverged mid-way: the curve ends at the first NaN error rate
        trial("cifar10", "wide_resnet", 256, 7.0, 0.5, 0.1, 0.2, 5, seed=6,
              **{"valid/error_rate": [0.5, 0.4, float("nan"), None, None]}),
        trial("mnist", "max_pooling_cnn", 2048, 0.02, 1.0, 0.4, 0.8, 3, act="relu", seed=7),
    ]  # fmt: skip
    return {"phase0": phase0, "phase1": phase1}


@pytest.fixture
def raw(tmp_path: Path, rows) -> Path:
    write(tmp_path / "pd1" / "pd1_matched_phase0_results.jsonl.gz", rows["phase0"])
    write(tmp_path / "pd1" / "pd1_matched_phase1_results.jsonl.gz", rows["phase1"])
    return tmp_path


def test_values_end_to_end(raw: Path, rows) -> None:
    tables = convert_pd1(find_raw(raw))
    assert sorted(tables) == [WRN, "mnist_max_pooling_cnn_relu_batch_size_2048", CNN]
    bb = tables[WRN]
    assert bb.fidelity_name == "eval" and bb.fidelities == [1, 2, 3, 4, 5, 6]
    assert len(bb) == 3  # the phase-0 duplicate was replaced by its phase-1 row
    row = rows["phase0"][0]
    config = {
        "lr_initial_value": 0.1,
        "lr_power": 1.0,
        "lr_decay_steps_factor": 0.5,
        "one_minus_momentum": 1.0 - 0.9,
    }
    curve = bb.curve(config, 0)
    assert curve.metrics["valid_error_rate"] == row["valid/error_rate"]
    assert curve.metrics["test_error_rate"] == row["test/error_rate"]
    assert curve.elapsed == pytest.approx(np.cumsum(row["eval_time"]).tolist())
    at3 = bb.evaluate(config, fidelity=3, seed=0)
    assert at3["valid_ce_loss"] == row["valid/ce_loss"][2]
    assert bb.ds["epoch"].values[bb.row(config), 0, :].tolist() == row["epoch"]
    assert bb.objectives == dict.fromkeys(
        ("valid_error_rate", "valid_ce_loss", "test_error_rate", "train_ce_loss"), "min"
    )


def test_duplicates_divergence_and_space(raw: Path, rows) -> None:
    tables = convert_pd1(find_raw(raw))
    bb = tables[WRN]
    dup = {
        "lr_initial_value": 2.5,
        "lr_power": 0.3,
        "lr_decay_steps_factor": 0.2,
        "one_minus_momentum": 0.5,
    }
    curve = bb.curve(dup, 0)
    assert curve.metrics["valid_error_rate"] == rows["phase1"][0]["valid/error_rate"]
    assert curve.fidelities == [1, 2, 3, 4, 5]  # shorter than the task's longest curve
    cut = bb.curve(
        {
            "lr_initial_value": 7.0,
            "lr_power": 0.5,
            "lr_decay_steps_factor": 0.1,
            "one_minus_momentum": 1.0 - 0.2,
        },
        0,
    )
    assert cut.metrics["valid_error_rate"] == [0.5, 0.4] and len(cut.elapsed) == 2
    cnn = tables[CNN]
    assert len(cnn) == 1  # the trial that diverged before any evaluation is dropped
    low = cnn.space["one_minus_momentum"].low
    assert low == pytest.approx(1.0 - 0.99999)  # declared 1e-3, widened to the data
    assert cnn.space["lr_initial_value"].high == 10.0


def test_load_through_repository(raw: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SIMTUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SIMTUNE_PD1_DIR", str(raw))
    bb = repository.load("pd1", CNN)
    assert "PD1 raw files" in bb.source
    assert len(list((tmp_path / "cache" / "pd1").glob("*.h5"))) == 3
    monkeypatch.delenv("SIMTUNE_PD1_DIR")
    again = load_pd1(WRN)  # from the cache
    assert again.evaluate(again.configs()[0], fidelity=1, seed=0)[TIME] > 0


def test_bad_input_messages(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SIMTUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SIMTUNE_PD1_DIR", raising=False)
    with pytest.raises(ValueError, match="SIMTUNE_PD1_DIR.*download pd1"):
        load_pd1(WRN)
    with pytest.raises(ValueError, match="has no PD1 files"):
        find_raw(tmp_path)
    row = trial("cifar10", "wide_resnet", 256, 0.1, 1.0, 0.5, 0.9, 3)
    del row["hps.lr_hparams.power"]
    path = write(tmp_path / "a" / "pd1_matched_phase0_results.jsonl.gz", [row])
    with pytest.raises(ValueError, match=r"phase0_results.jsonl.gz:1: row has no key 'hps.lr"):
        convert_pd1([path])
    row = trial("cifar10", "wide_resnet", 256, 0.1, 1.0, 0.5, 0.9, 3)
    row["eval_time"] = row["eval_time"][:2]
    path = write(tmp_path / "b" / "pd1_matched_phase0_results.jsonl.gz", [row])
    with pytest.raises(ValueError, match="'eval_time' has 2 entries but valid/error_rate has 3"):
        convert_pd1([path])
    path = tmp_path / "c" / "pd1_matched_phase0_results.jsonl.gz"
    path.parent.mkdir()
    path.write_bytes(gzip.compress(b'{"dataset": "x", ')[:-6])  # truncated download
    with pytest.raises(ValueError, match="not a readable PD1 JSON Lines file.*delete it"):
        convert_pd1([path])
    write(
        tmp_path / "d" / "pd1_matched_phase0_results.jsonl.gz",
        [trial("a", "b", 8, 1, 1, 0.5, 0.5, 2)],
    )
    with pytest.raises(ValueError, match="no task 'cifar10_wide.*tasks there: a_b_batch_size_8"):
        load_pd1(WRN, raw_dir=tmp_path / "d")
