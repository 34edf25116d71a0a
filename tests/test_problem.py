"""benchmark=custom: a user's own training and space through run.py; the stops and
callbacks a user expects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simtune.core.callbacks import Callback, StatusLine
from simtune.core.problem import problem_from_config

ROOT = Path(__file__).resolve().parents[1]
RUN = [sys.executable, str(ROOT / "experiments" / "run.py")]

TRAINING = """
import math, time
from simtune.core.report import run_script

def fit(config, reporter, checkpoint_dir=None):
    quality = 1.0 - abs(math.log10(config["step"]) + 2.5) / 4 - 0.05 * (config["depth"] - 3) ** 2
    if config["kernel"] == "rbf":
        quality += 0.05
    for round_ in range(1, 10):
        time.sleep(0.02)
        reporter(round=round_, f1=quality * (1 - 0.5 ** round_), seconds=0.1 * round_)

if __name__ == "__main__":
    run_script(fit)
"""

SPACE = """
step: {type: loguniform, low: 1.0e-5, high: 1.0}
depth: {type: randint, low: 1, high: 6}
kernel: {type: choice, categories: [linear, rbf, "007"]}
"""


def _run(args, cwd):
    env = {**os.environ, "SIMTUNE_CACHE": str(cwd / "cache")}
    return subprocess.run([*RUN, *args, "progress=false"], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=env)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["local", "python"])
def test_a_users_own_training_and_space_through_run_py(backend, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "fit.py").write_text(TRAINING)
    (tmp_path / "mine" / "space.yaml").write_text(SPACE)
    out = tmp_path / "run"
    proc = _run(["benchmark=custom", "benchmark.training=mine/fit.py:fit",
                 "benchmark.space=mine/space.yaml", "benchmark.metric=f1", "benchmark.mode=max",
                 "benchmark.fidelity=round", "benchmark.max_fidelity=9", f"backend={backend}",
                 "scheduler=asha", "stop.max_wallclock=25", f"hydra.run.dir={out}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = pd.read_csv(out / "results.csv")
    assert list(rows.columns[:4]) == ["trial_id", "time", "round", "f1"]
    assert {"config_step", "config_depth", "config_kernel"} <= set(rows.columns)
    per_trial = rows.groupby("trial_id")["round"].max()
    assert per_trial.nunique() > 1 and (per_trial == 9).any()  # several fidelities
    assert (rows["decision"] == "stop").any()  # ASHA stopped some trials early
    assert rows["time"].max() <= 25 + 5  # real seconds
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["complete"] is True and meta["benchmark"] == "custom"
    plot = subprocess.run([sys.executable, str(ROOT / "analysis" / "plot_results.py"),
                           str(out), "--out", str(tmp_path / "plots")],
                          capture_output=True, text=True, timeout=300)
    assert plot.returncode == 0, plot.stderr[-2000:]
    assert (tmp_path / "plots" / "run.png").exists()  # one run: its view, no comparison


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ({}, "benchmark.training must name your training"),
        ({"training": "t.py:f"}, "benchmark.space must be a YAML or JSON file"),
        ({"training": "t.py:f", "space": "nope.yaml"}, "benchmark.space='nope.yaml': no such"),
        ({"training": "t.py:f", "space": {"x": {"type": "uniformm", "low": 0, "high": 1}}},
         "benchmark.space: "),
        ({"training": "t.py:f", "space": {"x": {"type": "uniform", "low": 0, "high": 1}}},
         "benchmark.metric must name the metric"),
        ({"training": "t.py:f", "space": {"x": {"type": "uniform", "low": 0, "high": 1}},
          "metric": "acc", "mode": "maximize"}, "benchmark.mode must be min or max"),
        ({"training": "t.py:f", "space": {"x": {"type": "uniform", "low": 0, "high": 1}},
          "metric": "acc", "mode": "max", "fidelity": "epoch", "max_fidelity": 2.5},
         "benchmark.max_fidelity must be a positive integer"),
        ({"training": "t.py:f", "space": {"x": {"type": "uniform", "low": 0, "high": 1}},
          "metric": "acc", "mode": "max", "fidelity": "epoch", "max_fidelity": 5,
          "objectives": {"cost": "less"}}, "benchmark.objectives.cost must be min or max"),
        ({"trainin": "t.py:f"}, "benchmark.trainin is not an entry of benchmark=custom"),
    ],
)
def test_custom_entries_get_one_line_naming_the_key(entries, expected, tmp_path):
    with pytest.raises(ValueError, match=None) as info:
        problem_from_config({"name": "custom", **entries}, base=tmp_path)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_a_space_file_reads_as_the_space(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps({"lr": {"type": "loguniform", "low": 1e-4,
                                                        "high": 0.1}, "n": {"type": "constant",
                                                                            "value": 7}}))
    p = problem_from_config({"name": "custom", "training": "t.py:f", "space": "s.json",
                             "metric": "acc", "mode": "max", "fidelity": "step",
                             "max_fidelity": 4, "objectives": {"cost": "min"}}, base=tmp_path)
    assert list(p.space) == ["lr", "n"] and p.fidelities == [1, 2, 3, 4]
    assert p.objectives == {"acc": "max", "cost": "min"}
    config = p.space.sample(np.random.default_rng(0))
    assert 1e-4 <= config["lr"] <= 0.1 and config["n"] == 7


# -- stops and callbacks, on a real table in simulation -----------------------------------------
def _tuner(tmp_path, callbacks=(), **stop):
    from simtune.blackboxes import repository
    from simtune.core.backends.simulated import SimulatedBackend
    from simtune.core.rundir import open_run
    from simtune.core.schedulers import create
    from simtune.core.stopping import StoppingCriterion
    from simtune.core.tuner import Tuner

    bb = repository.load_shared("mlp_sklearn", "digits")
    sched = create("asha", space=bb.space, metric="val_accuracy", mode="max",
                   fidelities=bb.fidelities, seed=0)
    writer = open_run(tmp_path, fidelity="epoch", metrics=list(bb.objectives),
                      hyperparameters=list(bb.space)).writer
    return Tuner(scheduler=sched, backend=SimulatedBackend(bb, rng=np.random.default_rng(1)),
                 stop=StoppingCriterion(**stop), n_workers=4, results=writer,
                 progress=False, callbacks=list(callbacks))


def test_metric_target_ends_the_run_when_reached(tmp_path):
    summary = _tuner(tmp_path, max_trials=200, metric_target=0.97).run()
    assert summary.reason == "metric target reached" and summary.complete
    rows = pd.read_csv(tmp_path / "results.csv")
    reports = rows[rows["decision"] != ""].dropna(subset=["val_accuracy"])
    assert reports["val_accuracy"].iloc[-1] >= 0.97  # the last report is the one that hit it
    assert (reports["val_accuracy"].iloc[:-1] < 0.97).all()
    # the target is on any report; the summary's best is the incumbent (core.incumbent)
    assert summary.best_config is not None and summary.best_fidelity == reports["epoch"].max()


def test_max_cost_bounds_the_total_training_time(tmp_path):
    summary = _tuner(tmp_path, max_cost=20.0).run()
    assert summary.reason == "cost budget reached"
    assert 20.0 <= summary.cost < 20.0 + 4 * 0.5  # one report of each worker at most beyond
    rows = pd.read_csv(tmp_path / "results.csv")
    ends = rows.groupby("trial_id").tail(1)
    running = ends[ends["status"] == "running"]
    assert running.empty  # trials still running at the end got a final row
    final = ends[(ends["status"] == "stopped") & ends["decision"].isna()]
    assert len(final) >= 1 and final["time"].eq(summary.time).all()


def test_callbacks_see_every_step_in_order(tmp_path):
    seen = []

    class Record(Callback):
        def on_run_start(self, tuner):
            seen.append(("run_start",))

        def on_trial_start(self, trial):
            seen.append(("start", trial.trial_id))

        def on_report(self, trial, report, decision):
            seen.append(("report", trial.trial_id, decision.value))

        def on_trial_end(self, trial):
            seen.append(("end", trial.trial_id, trial.status.value))

        def on_run_end(self, summary):
            seen.append(("run_end", summary.reason))

    status = StatusLine(every=1e-9, top=2)
    summary = _tuner(tmp_path, [Record(), status], max_trials=12).run()
    assert seen[0] == ("run_start",) and seen[-1] == ("run_end", summary.reason)
    rows = pd.read_csv(tmp_path / "results.csv")
    assert sum(1 for s in seen if s[0] == "report") == len(rows)
    ended = {s[1] for s in seen if s[0] == "end"}
    assert ended == set(range(12))  # every trial ends once, also those the run's end stopped
    for tid in range(12):
        kinds = [s[0] for s in seen if len(s) > 1 and s[1] == tid]
        assert kinds[0] == "start" and kinds[-1] == "end"
    line = status.line()
    assert line.startswith("12 trials (0 running)") and f"#{summary.best_trial} " in line


BAD_REPORTS = """
from simtune.core.report import run_script

def fit(config, reporter, checkpoint_dir=None):
    if config["kind"] == "inf":
        reporter(round=1, f1=float("inf"))
    else:
        reporter(round=2, f1=0.5)
        reporter(round=1, f1=0.6)

if __name__ == "__main__":
    run_script(fit)
"""


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "why"), [
    ("inf", "reported f1=inf at 1: not a finite number"),
    ("down", "reported fidelity 1 after 2: the fidelity must increase"),
])
def test_a_report_that_cannot_be_used_fails_its_trial(kind, why, tmp_path):
    (tmp_path / "fit.py").write_text(BAD_REPORTS)
    (tmp_path / "space.yaml").write_text(f"kind: {{type: constant, value: {kind}}}\n")
    out = tmp_path / "run"
    proc = _run(["benchmark=custom", "benchmark.training=fit.py:fit",
                 "benchmark.space=space.yaml", "benchmark.metric=f1", "benchmark.mode=max",
                 "benchmark.fidelity=round", "benchmark.max_fidelity=3", "backend=local",
                 "scheduler=random", "stop.max_trials=2", "n_workers=1",
                 f"hydra.run.dir={out}"], tmp_path)
    if kind == "inf":  # no valid report: the run is not complete, its last line says why
        assert proc.returncode == 1 and why in proc.stderr.strip().splitlines()[-1]
    else:  # its first report (round 2) is valid: complete, the trial failed on the next
        assert proc.returncode == 0 and why in proc.stdout + proc.stderr
    rows = pd.read_csv(out / "results.csv")
    assert (rows.groupby("trial_id")["status"].last() == "failed").all()


@pytest.mark.slow
def test_a_run_without_a_valid_report_stops_early_and_runs_again_once_fixed(tmp_path):
    """A wrong metric name: every trial fails. The run stops after 3 failures instead of
    starting all of its trials, is not complete, exits 1 quoting the first failure; the
    same command with the right metric, in the same directory, then runs."""
    out = tmp_path / "run"
    training = ROOT / "experiments" / "training"
    args = ["benchmark=custom", "backend=local", "scheduler=asha",
            f"benchmark.training={training / 'sgd_diabetes.py'}:train",
            f"benchmark.space={training / 'sgd_diabetes_space.yaml'}", "benchmark.mode=max",
            "benchmark.max_fidelity=3", "stop.max_trials=12", "n_workers=2",
            f"hydra.run.dir={out}"]
    wrong = _run([*args, "benchmark.metric=val_acc"], tmp_path)
    assert wrong.returncode == 1, wrong.stderr[-2000:]
    last = wrong.stderr.strip().splitlines()[-1]
    assert last.startswith("error: run incomplete: no valid report: 3 trials failed"), last
    assert "; first failure: trial " in last
    assert "lacks the metric 'val_acc' (it has val_mse, val_r2)" in last
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["complete"] is False and meta["end_reason"].startswith("no valid report")
    assert meta["n_failed"] == 3 and meta["n_trials"] < 12 and meta["best"] is None

    fixed = _run([*args, "benchmark.metric=val_r2"], tmp_path)
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["complete"] is True and meta["n_reports"] > 0 and meta["n_trials"] == 12
    best = meta["best"]
    assert best["fidelity"] == 3 and best["config"]["epochs"] == 30
    last_log = (out / "run.log").read_text().strip().splitlines()[-1]
    assert f"best: trial {best['trial_id']}, value {best['value']:.6g} at fidelity 3" in last_log
    aside = json.loads((out / "superseded" / "0" / "metadata.json").read_text())
    assert aside["end_reason"].startswith("no valid report")


SILENT = """
import time
time.sleep(600)  # never reports
"""


@pytest.mark.slow
def test_a_silent_trial_is_named_and_a_budget_without_reports_is_not_complete(tmp_path,
                                                                               caplog):
    from simtune.core.backends.local import LocalBackend
    from simtune.core.rundir import open_run
    from simtune.core.schedulers import create
    from simtune.core.space import Space, uniform
    from simtune.core.stopping import StoppingCriterion
    from simtune.core.tuner import Tuner

    (tmp_path / "silent.py").write_text(SILENT)
    space = Space({"x": uniform(0, 1)})
    writer = open_run(tmp_path / "run", fidelity="epoch", metrics=["loss"],
                      hyperparameters=["x"]).writer
    tuner = Tuner(
        scheduler=create("random", space=space, metric="loss", mode="min", seed=0),
        backend=LocalBackend(str(tmp_path / "silent.py"), root=tmp_path / "trials",
                             hang_timeout=600, max_fidelity=3),
        stop=StoppingCriterion(max_wallclock=4), n_workers=1, results=writer,
        progress=False, callbacks=[StatusLine(every=1)],
    )
    with caplog.at_level("INFO", logger="simtune.status"):
        summary = tuner.run()
    said = [r.getMessage() for r in caplog.records if r.name == "simtune.status"]
    assert any("; trial 0: no report for " in m and m.endswith("; hang_timeout 600 s")
               for m in said), said
    assert not summary.complete and summary.reason == (
        "no valid report (budget reached; 0 of 1 trials failed)")
    meta = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert meta["complete"] is False and meta["best"] is None
