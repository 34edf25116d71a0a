"""The incumbent (core.incumbent): one definition of a run's best, the same in the Tuner's
summary, metadata.json, RunResults.best, the status line and run.png."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simtune.blackboxes import repository
from simtune.blackboxes.synthetic import zdt1_curves
from simtune.core.backends.simulated import SimulatedBackend
from simtune.core.callbacks import StatusLine
from simtune.core.incumbent import Incumbent, incumbent
from simtune.core.run_results import RunResults
from simtune.core.rundir import open_run
from simtune.core.schedulers import create
from simtune.core.stopping import Ended, EndReason, StoppingCriterion
from simtune.core.tuner import Tuner
from tests.helpers import simulate

ROWS = pd.DataFrame({  # trial 0 looked best at epoch 1, trial 1 and 2 trained to epoch 3
    "trial_id": [0, 1, 2, 0, 1, 2, 1, 2, 3],
    "epoch": [1, 1, 1, 1, 3, 3, np.nan, 3, 3],
    "acc": [0.9, 0.4, 0.3, np.nan, 0.6, 0.7, np.nan, 0.7, np.nan],
    "loss": [np.nan, 1.0, 2.0, np.nan, 0.5, 0.1, np.nan, 0.1, 0.05],
})


def test_the_best_value_at_the_highest_fidelity_reached():
    row = incumbent(ROWS, "acc", "max", "epoch")
    assert (row["trial_id"], row["epoch"], row["acc"]) == (2, 3, 0.7)
    assert row.name == 5  # a tie (0.7 twice) goes to the earlier report
    # no fidelity column: every report counts alike, the early 0.9 wins
    assert incumbent(ROWS.drop(columns="epoch"), "acc", "max")["trial_id"] == 0
    # a NaN value never counts (trial 3 reached epoch 3 without an acc)
    assert incumbent(ROWS, "loss", "min", "epoch")["trial_id"] == 3
    assert incumbent(ROWS.assign(acc=np.nan), "acc", "max", "epoch") is None
    assert incumbent(ROWS, "f1", "max", "epoch") is None


def test_the_live_incumbent_agrees_with_the_rows():
    live = Incumbent("max")
    for r in ROWS.itertuples():
        live.offer(r.trial_id, r.epoch, r.acc)
    assert (live.trial_id, live.fidelity, live.value) == (2, 3, 0.7)
    assert not live.offer(9, 2, 1.0) and not live.offer(9, 3, math.inf)


@pytest.mark.parametrize("scheduler", ["asha", "hyperband", "random"])
def test_summary_metadata_and_results_name_the_same_incumbent(scheduler, tmp_path):
    bb = repository.load_shared("mlp_sklearn", "digits")
    tuner = simulate(bb, scheduler, 0, tmp_path, max_trials=40)
    summary = tuner._summary(Ended(EndReason.BUDGET))
    meta = json.loads((tmp_path / "metadata.json").read_text())
    rows = pd.read_csv(tmp_path / "results.csv")
    top = rows["epoch"][rows["val_accuracy"].notna()].max()
    assert meta["best"] == {"trial_id": summary.best_trial, "config": summary.best_config,
                            "value": summary.best, "fidelity": int(top)}
    run = RunResults(rows=rows, metadata={**meta, "metric": "val_accuracy", "mode": "max",
                                          "fidelity_name": "epoch"})
    best = run.best()
    assert (best.trial_id, best.value, best.fidelity, best.config) == (
        summary.best_trial, summary.best, top, summary.best_config)
    at_top = rows[rows["epoch"] == top]["val_accuracy"]
    assert summary.best == at_top.max()
    assert run.best("any").value == rows["val_accuracy"].max() >= summary.best
    if scheduler == "asha":  # an early stopped trial looked better than the incumbent
        assert run.best("any").value > summary.best and run.best("any").fidelity < top
    with pytest.raises(ValueError, match="rule must be one of incumbent, any, last"):
        run.best("first")


def test_a_multi_objective_run_has_an_incumbent_of_its_metric(tmp_path):
    bb = zdt1_curves(max_fidelity=9)
    tuner = simulate(bb, "moasha", 0, tmp_path, max_wallclock=300)
    best = json.loads((tmp_path / "metadata.json").read_text())["best"]
    rows = pd.read_csv(tmp_path / "results.csv")
    row = incumbent(rows, "f1", "min", bb.fidelity_name)
    assert (best["trial_id"], best["value"]) == (int(row["trial_id"]), row["f1"])
    assert best["fidelity"] == rows[bb.fidelity_name].max()
    assert tuner.incumbent.trial_id == best["trial_id"]


def test_the_status_line_ranks_trials_as_the_incumbent(tmp_path):
    bb = repository.load_shared("mlp_sklearn", "digits")
    status = StatusLine(every=1e-9, top=3)
    sched = create("asha", space=bb.space, metric="val_accuracy", mode="max",
                   fidelities=bb.fidelities, seed=0)
    writer = open_run(tmp_path, fidelity="epoch", metrics=list(bb.objectives),
                      hyperparameters=list(bb.space)).writer
    summary = Tuner(scheduler=sched, backend=SimulatedBackend(bb, rng=np.random.default_rng(1)),
                    stop=StoppingCriterion(max_trials=30), n_workers=4, results=writer,
                    progress=False, callbacks=[status]).run()
    first = status.line().split("best: ", 1)[1]
    assert first.startswith(f"#{summary.best_trial} val_accuracy={summary.best:.6g} "
                            f"(fidelity {summary.best_fidelity}) ")


def test_the_metric_target_names_the_report_that_reached_it(tmp_path, caplog):
    """metric_target counts any report (as Syne Tune's); the log line says which one, since
    the run's best (the incumbent) may then be another, worse trial that trained further."""
    bb = repository.load_shared("synthetic", "branin")
    target = 2.0
    with caplog.at_level("INFO", logger="simtune.stopping"):
        tuner = simulate(bb, "asha", 0, tmp_path, metric_target=target, max_trials=500)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["end_reason"] == "metric target reached"
    [line] = [r.getMessage() for r in caplog.records if "reached by trial" in r.getMessage()]
    (trial_id, fidelity), value = tuner.so_far.best_at, tuner.so_far.best
    assert value <= target
    assert line.startswith(f"metric target {target} reached by trial {trial_id}: loss {value} "
                           f"at fidelity {fidelity}")
    rows = pd.read_csv(tmp_path / "results.csv")
    hit = rows[(rows["trial_id"] == trial_id) & (rows[bb.fidelity_name] == fidelity)]
    assert hit["loss"].iloc[0] == value  # the report named is the one recorded
    assert meta["best"]["fidelity"] >= fidelity  # the incumbent trained at least as far


@pytest.mark.parametrize("scheduler", ["asha", "hyperband", "random"])
def test_the_analysis_curve_ends_at_the_runs_best(tmp_path, scheduler):
    """simtune.analysis.load's best_so_far is the incumbent after each report: it ends at
    metadata.json's best, and differs from the best over every report where an early stop
    looked better than what trained further."""
    from simtune.analysis.load import best_so_far, read_run

    run_py = Path(__file__).resolve().parents[1] / "experiments" / "run.py"
    subprocess.run([sys.executable, str(run_py), f"scheduler={scheduler}", "stop.max_trials=60",
                    "benchmark=mlp_sklearn", "progress=false", f"hydra.run.dir={tmp_path}"],
                   check=True, capture_output=True, timeout=300)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    df = read_run(tmp_path)
    assert df["best_so_far"].iloc[-1] == meta["best"]["value"]
    anytime = best_so_far(df["value"].to_numpy(), "max")
    assert (df["best_so_far"] <= anytime).all()  # never above what any report showed
