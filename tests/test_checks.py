"""simtune.core.checks: a run that goes ahead but looks misconfigured says so (a mode its metric's
name contradicts, reports past max_fidelity, no trial ever reaching it)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simtune.blackboxes.synthetic import BraninCurves
from simtune.core.backends.python import PythonBackend
from simtune.core.backends.simulated import SimulatedBackend
from simtune.core.checks import mode_mismatch
from simtune.core.schedulers import create
from simtune.core.space import Space, choice
from simtune.core.stopping import StoppingCriterion
from simtune.core.tuner import Tuner

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("metric", "mode", "word"), [
    ("val_loss", "max", "'loss'"),
    ("valLoss", "max", "'loss'"),
    ("logloss", "max", "'logloss'"),
    ("test_error_rate", "max", "'error'"),
    ("rmse", "max", "'rmse'"),
    ("val_accuracy", "min", "'accuracy'"),
    ("val_acc", "min", "'acc'"),
    ("val_r2", "min", "'r2'"),
    ("val_f1", "min", "'f1'"),
    ("AUC", "min", "'auc'"),
])
def test_a_mode_the_metric_name_contradicts(metric, mode, word):
    warning = mode_mismatch(metric, mode)
    assert warning is not None and f"mode={mode} for the metric {metric!r}" in warning
    assert word in warning
    fix = "min" if mode == "max" else "max"
    assert f"set mode={fix}" in warning
    assert mode_mismatch(metric, fix) is None  # the other mode is what the name says


@pytest.mark.parametrize(("metric", "mode"), [
    ("terror", "max"),  # a word of its own, not "error"
    ("accumulated", "min"),
    ("f1", "min"),  # zdt1's objectives f1, f2: function values
    ("neg_mse", "max"),  # negated: higher is better
    ("time_to_accuracy", "max"),  # says both ways
    ("val_cross_entropy", "min"),
    ("model_size", "max"),  # says neither
])
def test_names_that_say_nothing_clear_get_no_warning(metric, mode):
    assert mode_mismatch(metric, mode) is None


def test_the_tuner_warns_at_run_start_of_a_maximized_loss(caplog):
    bb = BraninCurves(max_fidelity=3)

    def run(mode):
        sched = create("random", space=bb.space, metric="loss", mode=mode, seed=0)
        tuner = Tuner(scheduler=sched, backend=SimulatedBackend(bb, rng=np.random.default_rng(0)),
                      stop=StoppingCriterion(max_trials=2), progress=False)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="simtune"):
            summary = tuner.run()
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING], summary

    warned, summary = run("max")
    assert len(warned) == 1 and "mode=max for the metric 'loss'" in warned[0]
    assert summary.warnings == []  # the simulator's table ends at max_fidelity: nothing more
    assert run("min")[0] == []


def short_training(config, reporter, checkpoint_dir=None):
    """Two epochs, whatever max_fidelity says."""
    for epoch in (1, 2):
        reporter(epoch=epoch, loss=config["x"] / epoch)


def _python_run(tmp_path, max_fidelity, caplog):
    space = Space({"x": choice([1, 2, 3])})
    sched = create("random", space=space, metric="loss", mode="min", seed=0)
    backend = PythonBackend(short_training, root=tmp_path / "trials", max_fidelity=max_fidelity)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="simtune"):
        summary = Tuner(scheduler=sched, backend=backend, stop=StoppingCriterion(max_trials=2),
                        progress=False).run()
    return summary, [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.slow
def test_a_run_in_which_no_trial_reached_max_fidelity_says_so(tmp_path, caplog):
    summary, logged = _python_run(tmp_path / "short", 5, caplog)
    assert summary.complete and summary.n_finished == 2
    assert len(summary.warnings) == 1
    warning = summary.warnings[0]
    assert warning.startswith("no trial reached max_fidelity=5, though 2 ran to their end "
                              "(the furthest at epoch=2)")
    assert "set max_fidelity to its last epoch" in warning
    assert logged == [warning]  # in the log too, once
    summary, logged = _python_run(tmp_path / "enough", 2, caplog)  # they reach it: all fine
    assert summary.complete and summary.warnings == [] and logged == []


PAST = """
from simtune.core.report import run_script

def fit(config, reporter, checkpoint_dir=None):
    for epoch in (2, 4):  # no report at 3 = max_fidelity: the first past it is 4
        reporter(epoch=epoch, val_loss=config["x"] / epoch)

if __name__ == "__main__":
    run_script(fit)
"""


@pytest.mark.slow
def test_a_report_past_max_fidelity_is_said_once_through_run_py(tmp_path):
    (tmp_path / "fit.py").write_text(PAST)
    (tmp_path / "space.yaml").write_text("x: {type: choice, categories: [1, 2, 3]}\n")
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "run.py"), "benchmark=custom",
         "benchmark.training=fit.py:fit", "benchmark.space=space.yaml",
         "benchmark.metric=val_loss", "benchmark.mode=min", "benchmark.max_fidelity=3",
         "backend=local", "scheduler=random", "stop.max_trials=3", "n_workers=1",
         "progress=false", f"hydra.run.dir={out}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "SIMTUNE_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (out / "run.log").read_text()
    past = [ln for ln in log.splitlines() if "past max_fidelity" in ln]
    assert len(past) == 1, past  # three trials went past it: said once
    assert "trial 0 reported epoch=4, past max_fidelity=3" in past[0]
    assert "set max_fidelity to the last epoch it reports (benchmark.max_fidelity" in past[0]
    assert "no trial reached max_fidelity" not in log  # they went past it: they reached it
    assert "mode=" not in log  # val_loss, min: as its name says
