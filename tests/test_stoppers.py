"""Stoppers (core/stoppers.py) and a callback's StopRun: on tables whose curves are known,
the trial or the run ends at the exact report the rule says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import simulate

from simtune.blackboxes.blackbox import TabularBlackbox
from simtune.core.callbacks import Callback, StopRun
from simtune.core.space import Space, choice
from simtune.core.stoppers import (
    ExperimentPlateauStopper,
    MaxFidelityStopper,
    TrialPlateauStopper,
    stoppers_from_config,
)
from simtune.core.stopping import EndReason

ROOT = Path(__file__).resolve().parents[1]


def flat_table(same: bool = False, n: int = 4) -> TabularBlackbox:
    """`n` configs x 10 epochs: config i's loss is (i + 1) * [5, 4, 3, 2, 2, ...] (flat from
    epoch 4), or, with `same`, [5, 4, 3, 2, 2, ...] for every config; epoch e of config i
    ends at (i + 1) * e seconds."""
    epochs = np.arange(1, 11)
    curve = np.maximum(6.0 - epochs, 2.0)
    loss = np.stack([curve * (1 if same else i + 1) for i in range(n)])[:, None, :]
    elapsed = np.stack([(i + 1) * epochs for i in range(n)]).astype(float)[:, None, :]
    return TabularBlackbox.from_arrays(
        name="flat", task="t", space=Space({"i": choice(list(range(n)))}),
        configs=[{"i": i} for i in range(n)], seeds=[0], fidelities=epochs.tolist(),
        objectives={"loss": "min"}, values={"loss": loss, "elapsed_time": elapsed},
        source="test",
    )


def curves(path: Path) -> dict[int, pd.DataFrame]:
    df = pd.read_csv(path)
    return {int(t): rows for t, rows in df.groupby("trial_id")}


def test_trial_plateau_stops_each_trial_at_the_first_flat_window(tmp_path):
    """Window of 3 reports, std 0.01: the loss is 2 from epoch 4, so the first window of
    three equal values ends at epoch 6, where each trial is stopped; never before."""
    stopper = TrialPlateauStopper(std=0.01, num_results=3, grace_period=3)
    simulate(flat_table(), "random", 0, tmp_path, n_workers=2, max_trials=6,
             tuner_args={"stoppers": [stopper]})
    for tid, rows in curves(tmp_path / "results.csv").items():
        assert rows["epoch"].tolist() == [1, 2, 3, 4, 5, 6], tid
        assert rows["decision"].tolist() == ["continue"] * 5 + ["stop"]
        assert rows["status"].iloc[-1] == "stopped"


def test_trial_plateau_waits_for_its_grace_period(tmp_path):
    """A grace period of 8 reports: flat since epoch 4, the trial is stopped at report 8."""
    stopper = TrialPlateauStopper(std=0.01, num_results=3, grace_period=8)
    simulate(flat_table(), "random", 0, tmp_path, n_workers=1, max_trials=2,
             tuner_args={"stoppers": [stopper]})
    for rows in curves(tmp_path / "results.csv").values():
        assert rows["epoch"].iloc[-1] == 8 and rows["decision"].iloc[-1] == "stop"


@pytest.mark.parametrize("scheduler", ["sync_hyperband", "asha"])
def test_a_scheduler_that_waits_for_a_stopped_trial_goes_on(tmp_path, scheduler):
    """Synchronous Hyperband waits for every trial of a rung, ASHA (stopping) promotes:
    trials a stopper stops count as ended for them (on_error), and the run reaches its
    budget with every trial ended."""
    stopper = TrialPlateauStopper(std=0.01, num_results=3, grace_period=3)
    tuner = simulate(flat_table(n=12), scheduler, 0, tmp_path, n_workers=3, max_trials=12,
                     tuner_args={"stoppers": [stopper]})
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["complete"] is True and len(tuner.trials) == 12
    last = pd.read_csv(tmp_path / "results.csv").groupby("trial_id").last()
    assert set(last["status"]) <= {"completed", "stopped"}
    assert (last["epoch"] <= 6).all()  # none trains past its plateau


def test_max_fidelity_stopper_stops_every_trial_at_it(tmp_path):
    simulate(flat_table(), "random", 0, tmp_path, n_workers=2, max_trials=5,
             tuner_args={"stoppers": [MaxFidelityStopper(3)]})
    for rows in curves(tmp_path / "results.csv").values():
        assert rows["epoch"].tolist() == [1, 2, 3]
        assert rows["decision"].iloc[-1] == "stop"


def test_experiment_plateau_ends_the_run_when_the_top_stays_the_same(tmp_path):
    """Every config has the same curve: the top 2 (ties to the earlier trial) are trials 0
    and 1 for good; with one worker, trial 4 is the third trial to end without a change,
    and the run ends there, complete, saying why."""
    tuner = simulate(flat_table(same=True, n=12), "random", 0, tmp_path, n_workers=1, max_trials=40,
                     tuner_args={"stoppers": [ExperimentPlateauStopper(top=2, patience=3)]})
    assert len(tuner.trials) == 5
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert EndReason.of(meta["end_reason"]) is EndReason.PLATEAU
    assert meta["end_reason"].startswith("plateau: the top 2 trials by loss")
    assert meta["complete"] is True


class StopAfter(Callback):
    """Ends the run at its `n`-th report, by returning StopRun or raising it."""

    def __init__(self, n: int, raise_it: bool) -> None:
        self.n, self.seen, self.raise_it = n, 0, raise_it

    def on_report(self, trial, report, decision):
        self.seen += 1
        if self.seen == self.n:
            signal = StopRun(f"{self.n} reports seen")
            if self.raise_it:
                raise signal
            return signal
        return None


@pytest.mark.parametrize("raise_it", [False, True])
def test_a_callback_ends_the_run_at_the_report_it_chose(tmp_path, raise_it):
    tuner = simulate(flat_table(n=12), "random", 0, tmp_path, n_workers=2, max_trials=20,
                     tuner_args={"callbacks": [StopAfter(7, raise_it)]})
    df = pd.read_csv(tmp_path / "results.csv")
    assert tuner.n_reports == 7 and df["decision"].notna().sum() == 7
    assert set(df.loc[df["decision"].isna(), "status"]) <= {"stopped"}  # the run's end
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["end_reason"] == "ended by a callback: 7 reports seen"
    assert meta["complete"] is True


def test_config_keys_build_the_stoppers_and_bad_values_name_their_key():
    built = stoppers_from_config({"max_trial_fidelity": 5, "trial_plateau_std": 0.1,
                                  "trial_plateau_reports": 3, "trial_plateau_grace": 4,
                                  "run_plateau_trials": None, "run_plateau_top": 10})
    assert [type(s).__name__ for s in built] == ["MaxFidelityStopper", "TrialPlateauStopper"]
    assert built[1].num_results == 3 and built[1].grace_period == 4
    assert stoppers_from_config({"trial_plateau_reports": 3}) == []  # std null: off
    with pytest.raises(ValueError, match=r"^stop\.trial_plateau_reports must be an integer >= 2"):
        stoppers_from_config({"trial_plateau_std": 0.1, "trial_plateau_reports": 1})
    with pytest.raises(ValueError, match=r"^stop\.run_plateau_top must be an integer >= 1"):
        stoppers_from_config({"run_plateau_trials": 3, "run_plateau_top": "x"})


def test_stoppers_from_the_command_line(tmp_path):
    """run.py with stop.*: random search never stops a trial, the trial plateau stopper
    does; the run plateau stopper ends the run long before its trial budget."""
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "run.py"), "benchmark=synthetic",
         "scheduler=random", "stop.max_trials=500", "stop.max_wallclock=null",
         "stop.trial_plateau_std=0.05", "stop.run_plateau_trials=5", "stop.run_plateau_top=3",
         "progress=false", f"hydra.run.dir={out}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "SIMTUNE_CACHE": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    df = pd.read_csv(out / "results.csv")
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["end_reason"].startswith("plateau: the top 3 trials by loss")
    assert meta["n_trials"] < 500 and meta["complete"] is True
    stopped = df[df["decision"] == "stop"]
    assert len(stopped) > 0 and (stopped["epoch"] < 81).all()
