"""experiments/sim2real.py: a real run and its simulation on the mlp_sklearn table, compared."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simtune.analysis.sim2real_compare import (
    CONFIG,
    END,
    IDENTICAL,
    ORDER,
    VALUE,
    first_divergence,
    rank_agreement,
)

ROOT = Path(__file__).resolve().parents[1]


def _rows(keys: list[tuple[int, int, float]], lr: float = 0.1) -> pd.DataFrame:
    return pd.DataFrame([{"trial_id": t, "epoch": e, "acc": v, "decision": "continue",
                          "config_lr": lr} for t, e, v in keys])


def test_first_divergence_says_where_and_why() -> None:
    a = [(0, 1, 0.5), (1, 1, 0.6), (0, 2, 0.7)]
    assert first_divergence(_rows(a), _rows(a), "acc", "epoch")["reason"] == IDENTICAL
    swapped = first_divergence(_rows(a), _rows([a[1], a[0], a[2]]), "acc", "epoch")
    assert (swapped["index"], swapped["reason"]) == (0, ORDER)
    value = first_divergence(_rows(a), _rows([a[0], (1, 1, 0.61), a[2]]), "acc", "epoch")
    assert (value["index"], value["reason"]) == (1, VALUE)
    assert first_divergence(_rows(a), _rows(a, lr=0.2), "acc", "epoch")["reason"] == CONFIG
    assert first_divergence(_rows(a), _rows(a[:2]), "acc", "epoch")["reason"] == END


def _no_nan(name: str) -> None:
    raise AssertionError(f"summary.json holds {name}: not strict JSON")


def test_rank_agreement_is_kendall_tau_over_methods() -> None:
    sim = np.array([[0.1, 0.2, 0.3], [0.12, 0.25, 0.28]])  # seeds x methods
    rng = np.random.default_rng(0)
    assert rank_agreement(sim, sim + 0.05, rng, n_boot=50)["tau"] == 1.0
    reverse = rank_agreement(sim, -sim, rng, n_boot=50)
    assert reverse["tau"] == -1.0 and reverse["ci_high"] == -1.0


def test_tiny_study_real_run_follows_its_simulation(tmp_path: Path) -> None:
    """Random search, 1 worker, 2 trials on wine, given as a user's own table and training
    function: nothing depends on timing, so the real run makes the simulated run's
    decisions, and its reports are the training function's."""
    from simtune.blackboxes.sources.mlp_sklearn import TRAINING, path_of
    from simtune.experiments import sim2real

    out = tmp_path / "s2r"
    argv = ["--out", str(out), "--table", str(path_of("wine")), "--training", TRAINING,
            "--schedulers", "random", "--seeds", "1", "--workers", "1", "--max-trials", "2",
            "--budget", "100"]
    assert sim2real.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text(), parse_constant=_no_nan)
    assert {"tau", "ci_low", "ci_high"} <= set(summary["kendall_tau"])
    assert summary["kendall_tau"]["tau"] is None  # one method: no ranking to agree on
    timing = summary["timing_error"]
    assert timing["n_epochs"] == 100 and timing["cpu_ratio_median"] > 0
    assert summary["values_equal_table"]["reports"] == 100
    assert summary["machine"]["versions"]["scikit-learn"] != "not installed"
    assert summary["task"] == "wine" and summary["table"] == str(path_of("wine"))
    for name in ("regret.png", "ranks.png", "timing.png"):
        assert (out / name).stat().st_size > 0

    study = sim2real.parse(argv)
    sim = pd.read_csv(study.run_dir("sim", "random", 0, 1) / "results.csv")
    real = pd.read_csv(study.run_dir("real", "random", 0, 1) / "results.csv")
    same = ["trial_id", "epoch", "decision", *[c for c in sim if c.startswith("config_")]]
    pd.testing.assert_frame_equal(sim[same], real[same])
    assert summary["runs"][0]["diverge_reason"] in (IDENTICAL, VALUE)  # values: the table's
    # build vs this machine's; the real reports are exactly what the training function gives
    from simtune.core.backends.python import load_function

    train = load_function(TRAINING, ROOT)  # the script itself, as backend=python loads it

    first = real[real["trial_id"] == 0]
    config = {c[len("config_"):]: first[c].iloc[0] for c in same[3:]}
    retrained: list[float] = []
    train(config, lambda **m: retrained.append(m["val_accuracy"]))
    assert first["val_accuracy"].tolist() == retrained


def test_bad_scheduler_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from simtune.experiments import sim2real

    with pytest.raises(SystemExit) as e:
        sim2real.parse(["--out", "x", "--schedulers", "nope"])
    assert e.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
