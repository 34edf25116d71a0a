"""Outcome constraints (core/constraints.py): which reports are feasible, what the schedulers
see, BO's feasibility model, TPE's constraint-aware split, and that `best`, RunResults and the
analysis count only feasible reports; the constrained synthetic benchmark (gramacy)."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simtune.analysis.load import read_run
from simtune.blackboxes.synthetic import (
    GRAMACY_ARGMIN,
    GRAMACY_MIN,
    CurveFunction,
    gramacy_c1,
    gramacy_c2,
    load_synthetic,
)
from simtune.core.constraints import check_constraints, feasible, violation
from simtune.core.problem import problem_from_config
from simtune.core.results import run_metadata
from simtune.core.run_results import load_run
from simtune.core.rundir import open_run
from simtune.core.schedulers.feasibility import ConstrainedAcquisition, FeasibilityModel
from simtune.core.schedulers.fifo import FIFOScheduler
from simtune.core.schedulers.gp import GP, fit_hyperparameters
from simtune.core.schedulers.random import RandomSearcher
from simtune.core.schedulers.tpe import split_constrained
from simtune.core.stopping import StoppingCriterion
from simtune.core.tuner import Tuner
from simtune.experiments.assemble import assemble

ROOT = Path(__file__).resolve().parents[1]
RUN = [sys.executable, str(ROOT / "experiments" / "run.py")]


@pytest.fixture(scope="module")
def gramacy():
    return load_synthetic("gramacy")


class _Rows:
    """A results sink that keeps every row (the ResultsWriter's interface)."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def write(self, trial_id, time, fidelity, metrics, decision, status, config) -> None:
        self.rows.append((trial_id, fidelity, dict(metrics)))

    def close(self, **facts) -> None:
        self.facts = facts


def test_feasible_means_every_constraint_a_number_at_most_zero():
    names = ("a", "b")
    assert feasible({"a": 0.0, "b": -3}, names)
    assert not feasible({"a": 1e-12, "b": -3}, names)
    assert not feasible({"a": -1.0}, names)  # b missing
    assert not feasible({"a": -1.0, "b": math.nan}, names)
    assert not feasible({"a": -1.0, "b": "oom"}, names)
    assert feasible({"loss": 3.0}, ())
    assert violation({"a": 0.5, "b": -1.0, "c": 2.0}, ("a", "b", "c")) == 2.5
    assert violation({"a": 0.5}, names) == math.inf


def test_bad_constraints_get_one_line():
    def error(names, reported=("loss", "c1")):
        with pytest.raises(ValueError) as e:
            check_constraints(names, metric="loss", reported=reported, fidelity="epoch")
        assert "\n" not in str(e.value)
        return str(e.value)

    assert "'mem' is not a metric of this benchmark; its metrics: loss, c1" in error(["mem"])
    assert "is the metric to optimize" in error(["loss"])
    assert "is the fidelity" in error(["epoch"])
    assert "lists a metric twice" in error(["c1", "c1"])
    assert "must be a list of metric names" in error("c1")
    # your own training: any name it may report
    assert check_constraints(["mem"], metric="loss", reported=None) == ("mem",)
    space = {"x": {"type": "uniform", "low": 0, "high": 1}}
    problem = problem_from_config({"training": "t.py:train", "space": space, "metric": "acc",
                                   "mode": "max", "fidelity": "epoch", "max_fidelity": 3,
                                   "constraints": ["mem_over_budget"]})
    assert problem.constraints == ("mem_over_budget",)
    assert problem.metrics == ["acc", "mem_over_budget"]


def test_gramacy_has_its_constrained_optimum_and_an_infeasible_unconstrained_one(gramacy):
    x = np.array(GRAMACY_ARGMIN)
    assert abs(x.sum() - GRAMACY_MIN) < 1e-9 and x.sum() >= GRAMACY_MIN
    assert abs(gramacy_c1(x)) < 1e-9 and gramacy_c2(x) < 0
    assert gramacy_c1(np.zeros(2)) == 1.5  # the unconstrained optimum (0, 0) is infeasible
    g = np.linspace(0.0, 1.0, 801)
    x0, x1 = np.meshgrid(g, g)
    c1 = 1.5 - x0 - 2 * x1 - 0.5 * np.sin(2 * np.pi * (x0**2 - 2 * x1))
    ok = (c1 <= 0) & (x0**2 + x1**2 <= 1.5)
    assert (x0 + x1)[ok].min() >= GRAMACY_MIN  # regret never negative
    curve = gramacy.curve({"x0": 0.3, "x1": 0.2}, 0)
    assert curve.metrics["loss"][-1] == pytest.approx(0.5) and curve.metrics["loss"][0] > 0.5
    assert set(curve.metrics["c1"]) == {gramacy_c1(np.array([0.3, 0.2]))}
    assert gramacy.constraints == ("c1", "c2") and gramacy.metrics == ["loss", "c1", "c2"]


def test_tpe_splits_as_optuna_feasible_by_value_then_infeasible_by_violation():
    y = np.array([0.1, 0.5, 0.3, 0.2, 0.9])
    violations = np.array([1.0, 0.0, 0.0, 0.5, 0.0])
    good, bad = split_constrained(y, violations, 0.4)
    assert good.tolist() == [2, 1] and bad.tolist() == [4, 3, 0]
    good, _ = split_constrained(y, violations, 0.8)
    assert good.tolist() == [2, 1, 4, 3]


class _Recording(FIFOScheduler):
    """FIFO around random search that records what the Tuner tells it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seen: list[tuple[int, int, float]] = []
        self.told: list[tuple[int, int, float, dict]] = []

    def on_constraints(self, trial, fidelity, value, constraints) -> None:
        self.told.append((trial.trial_id, fidelity, value, dict(constraints)))
        super().on_constraints(trial, fidelity, value, constraints)

    def on_report(self, trial, report):
        self.seen.append((trial.trial_id, report.fidelity, report.metrics["loss"]))
        return super().on_report(trial, report)


def test_the_scheduler_sees_an_infeasible_report_as_nan_and_best_is_feasible(gramacy):
    from simtune.core.backends.simulated import SimulatedBackend

    rng = np.random.default_rng(3)
    scheduler = _Recording(searcher=RandomSearcher(gramacy.space, rng=rng), metric="loss",
                           mode="min")
    sink = _Rows()
    summary = Tuner(scheduler=scheduler, backend=SimulatedBackend(gramacy, rng=rng),
                    stop=StoppingCriterion(max_trials=10), results=sink, progress=False,
                    constraints=gramacy.constraints).run()
    assert len(scheduler.seen) == len(sink.rows) == len(scheduler.told) == 10 * 81
    kinds = set()
    for (trial, fidelity, metrics), seen, told in zip(sink.rows, scheduler.seen, scheduler.told,
                                                      strict=True):
        ok = metrics["c1"] <= 0 and metrics["c2"] <= 0
        kinds.add(ok)
        assert seen[:2] == told[:2] == (trial, fidelity)
        assert told[2] == metrics["loss"] and told[3] == {"c1": metrics["c1"], "c2": metrics["c2"]}
        assert seen[2] == metrics["loss"] if ok else math.isnan(seen[2])
    assert kinds == {True, False}
    finals = {t: m for t, f, m in sink.rows if f == 81}
    feasible_best = min(m["loss"] for m in finals.values() if m["c1"] <= 0 and m["c2"] <= 0)
    assert summary.best == feasible_best
    assert min(m["loss"] for m in finals.values()) < feasible_best  # an infeasible one beat it
    assert "best_reason" not in sink.facts


def test_bo_acquisition_maximises_feasibility_then_constrained_improvement():
    rng = np.random.default_rng(0)
    x = np.linspace(0.0, 1.0, 9)[:, None]
    y = -x[:, 0]  # the lower the better: x = 1 is best
    c = np.column_stack([x[:, 0] - 0.5])  # feasible where x <= 0.5
    ys = (y - y.mean()) / y.std()
    gp = GP(x, ys, fit_hyperparameters(x, ys, rng, n_restarts=0))
    model = FeasibilityModel().fit(x, c, rng, None, n_restarts=0)
    grid = np.linspace(0.0, 1.0, 101)[:, None]
    before = ConstrainedAcquisition(gp, None, None, model)(grid)
    assert grid[np.argmax(before), 0] < 0.3  # most surely feasible
    best = float(ys[x[:, 0] <= 0.5].min())
    after = ConstrainedAcquisition(gp, best, None, model)(grid)
    assert 0.4 <= grid[np.argmax(after), 0] <= 0.6  # improves on 0.5 while likely feasible


@pytest.mark.parametrize("name", ["bo", "tpe", "asha", "rea", "dehb", "pbt", "median_stopping",
                                  "mobster"])
def test_every_scheduler_runs_constrained_with_a_feasible_best(gramacy, name):
    run = assemble(gramacy, name, seed=0, stop=StoppingCriterion(max_trials=15))
    assert run.constraints == ("c1", "c2")
    summary = run.tuner().run()
    assert summary.best_trial is not None
    x = np.array([summary.best_config["x0"], summary.best_config["x1"]])
    assert gramacy_c1(x) <= 0 and gramacy_c2(x) <= 0
    if name == "bo":  # expected constrained improvement: close to the constrained optimum
        assert summary.best - GRAMACY_MIN < 0.05


def test_a_run_with_no_feasible_report_says_so(tmp_path):
    bb = CurveFunction(task="never", dims=1, objectives={"loss": "min"}, f=lambda x: (x[0],),
                       offset=lambda x: (0.0,), cost=lambda x: 1.0, optimum={"loss": 0.0},
                       max_fidelity=3, constraints={"mem_over_budget": lambda x: 1.0})
    run = assemble(bb, "tpe", seed=0, stop=StoppingCriterion(max_trials=6))
    assert run.metrics == ["loss", "mem_over_budget"]
    session = open_run(tmp_path, fidelity="epoch", metrics=run.metrics, hyperparameters=["x0"],
                       metadata=run_metadata(scheduler=run.scheduler, scheduler_name="tpe",
                                             scheduler_args={}, benchmark=bb, metric="loss",
                                             mode="min", seed=0, n_workers=1,
                                             backend=run.backend, stop=run.stop))
    summary = run.tuner(session=session).run()
    assert summary.best is None and summary.n_reports == 18
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["best"] is None and meta["constraints"] == ["mem_over_budget"]
    assert meta["best_reason"] == ("no feasible report: none of the 18 reports has every "
                                   "constraint (mem_over_budget) <= 0")
    assert load_run(tmp_path).best() is None
    assert read_run(tmp_path)["best_so_far"].isna().all()


def test_without_constraints_nothing_is_added(gramacy, tmp_path):
    run = assemble(gramacy, "random", seed=0, stop=StoppingCriterion(max_trials=4),
                   constraints=[])
    assert run.constraints == () and run.metrics == ["loss"]
    hartmann = load_synthetic("hartmann3")
    run = assemble(hartmann, "random", seed=0, stop=StoppingCriterion(max_trials=4))
    assert run.constraints == () and run.metrics == ["loss"]
    meta = run_metadata(scheduler=run.scheduler, scheduler_name="random", scheduler_args={},
                        benchmark=hartmann, metric="loss", mode="min", seed=0, n_workers=1,
                        backend=run.backend, stop=run.stop)
    assert "constraints" not in meta


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SIMTUNE_CACHE": str(cwd / "cache")}
    return subprocess.run([*RUN, *args, "progress=false"], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)


def test_cli_constrained_run_has_a_feasible_best_everywhere(tmp_path):
    out = tmp_path / "run"
    proc = _cli(["benchmark=synthetic", "benchmark.task=gramacy", "scheduler=random",
                 "stop.max_trials=12", f"hydra.run.dir={out}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((out / "metadata.json").read_text())
    rows = pd.read_csv(out / "results.csv")
    assert list(rows.columns[:6]) == ["trial_id", "time", "epoch", "loss", "c1", "c2"]
    assert meta["constraints"] == ["c1", "c2"]
    finals = rows[rows["epoch"] == 81]
    ok = (finals["c1"] <= 0) & (finals["c2"] <= 0)
    assert meta["best"]["value"] == finals.loc[ok, "loss"].min()
    assert finals.loc[~ok, "loss"].min() < meta["best"]["value"]  # the infeasible did better
    assert load_run(out).best().trial_id == meta["best"]["trial_id"]
    analysed = read_run(out)
    assert analysed["best_so_far"].iloc[-1] == meta["best"]["value"]
    assert analysed["regret"].min() >= 0

    bad = tmp_path / "bad"
    proc = _cli(["benchmark=synthetic", "benchmark.task=gramacy", "scheduler=random",
                 "benchmark.constraints=[mem_over_budget]", f"hydra.run.dir={bad}"], tmp_path)
    assert proc.returncode == 2
    assert re.fullmatch(r"error: benchmark\.constraints: 'mem_over_budget' is not a metric of "
                        r"this benchmark; its metrics: loss, c1, c2\n", proc.stderr), proc.stderr
    assert not bad.exists() or not any(bad.iterdir())


@pytest.mark.slow
def test_the_python_api_example_runs_as_documented(tmp_path):
    text = (ROOT / "docs" / "python_api.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S)
                 if "constraints=" in b)
    (tmp_path / "constrained.py").write_text(block)
    proc = subprocess.run([sys.executable, "constrained.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    width = int(re.match(r"best loss \d\.\d{4}, width (\d+)", proc.stdout).group(1))
    assert width <= 128  # the widest feasible model, not the widest
    rows = pd.read_csv(tmp_path / "constrained" / "results.csv")
    assert "mem_over_budget" in rows.columns and (rows["mem_over_budget"] > 0).any()
