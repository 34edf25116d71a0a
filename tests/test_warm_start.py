"""Warm start: an earlier run's results feed the scheduler's model before its first
suggestion, without running them again; bad sources are refused in one line."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from simtune.blackboxes.synthetic import BraninCurves
from simtune.core.callbacks import Callback
from simtune.core.results import run_metadata
from simtune.core.rundir import open_run
from simtune.core.schedulers import create
from simtune.core.stopping import StoppingCriterion
from simtune.core.warm_start import WarmStart
from simtune.experiments.assemble import assemble

ROOT = Path(__file__).resolve().parents[1]
BB = BraninCurves(max_fidelity=3)  # 3 epochs a trial: a cheap table with learning curves


class _Interrupt(Callback):
    """Ctrl-C after `n` reports."""

    def __init__(self, n: int) -> None:
        self.n = n

    def on_report(self, trial, report, decision) -> None:
        self.n -= 1
        if self.n == 0:
            raise KeyboardInterrupt


def _run(out: Path, scheduler: str, warm_start: Path | None = None, interrupt: int = 0,
         max_trials: int = 8, **args) -> None:
    """A run of `scheduler` on BB in `out` as experiments/run.py makes it (resumed if `out`
    holds an interrupted one); Ctrl-C after `interrupt` reports, if given."""
    run = assemble(BB, scheduler, seed=0, stop=StoppingCriterion(max_trials=max_trials),
                   n_workers=2, scheduler_args=args, warm_start=warm_start)
    session = open_run(
        out, fidelity="epoch", metrics=["loss"], hyperparameters=list(BB.space),
        config={"scheduler": scheduler, "warm_start": str(warm_start), "args": args},
        metadata=run_metadata(scheduler=run.scheduler, scheduler_name=scheduler,
                              scheduler_args=args, benchmark=BB, metric="loss", mode="min",
                              seed=0, n_workers=2, backend=run.backend, stop=run.stop),
    )
    callbacks = [_Interrupt(interrupt)] if interrupt else []
    run.tuner(session=session, callbacks=callbacks).run()


@pytest.fixture(scope="module")
def cold(tmp_path_factory) -> Path:
    """A finished run of bo: 8 trials."""
    out = tmp_path_factory.mktemp("warm") / "cold"
    _run(out, "bo")
    return out


@pytest.mark.parametrize("name, args", [("bo", {}), ("tpe", {"random_fraction": 0.0})])
def test_the_first_suggestion_after_a_warm_start_comes_from_the_model(cold, tmp_path, name,
                                                                      args):
    warm = WarmStart.read(cold, metric="loss", space=BB.space)
    assert warm.record()["n_trials"] == 8 and warm.record()["n_reports"] == 8 * 3
    fresh = create(name, space=BB.space, metric="loss", max_fidelity=3, seed=0, **args)
    assert fresh.searcher.in_startup()  # cold: the initial design
    cold_first = fresh.suggest(0).config
    fed = create(name, space=BB.space, metric="loss", max_fidelity=3, seed=0, **args)
    warm.feed(fed)
    assert not fed.searcher.in_startup()  # the inherited trials ended the start-up phase
    twin = copy.deepcopy(fed)
    proposed = twin.searcher.propose()  # what the model proposes (same random stream)
    assert fed.suggest(0).config == proposed != cold_first

    _run(tmp_path / "warm", name, warm_start=cold, **args)  # the same through a whole run
    rows = pd.read_csv(tmp_path / "warm" / "results.csv")
    first = rows[rows["trial_id"] == 0].iloc[0]  # trial 0: the first suggestion
    assert {"x1": first["config_x1"], "x2": first["config_x2"]} == proposed
    assert sorted(rows["trial_id"].unique()) == list(range(8))  # only its own trials
    meta = json.loads((tmp_path / "warm" / "metadata.json").read_text())
    assert meta["warm_start"] == {**warm.record(), "source": str(cold.resolve())}
    assert meta["complete"] is True


def test_inherited_configurations_are_not_run_again_on_a_table(tmp_path):
    """Grid search on a finite space: the inherited points are used, the rest remains."""
    from simtune.core.space import Space, choice

    space = Space({"x1": choice([-5.0, 0.0, 5.0]), "x2": choice([0.0, 5.0, 10.0])})
    grid = create("grid", space=space, metric="loss", seed=0)
    first = [grid.suggest(t).config for t in range(4)]
    again = create("grid", space=space, metric="loss", seed=1)
    from simtune.core.trial import Report, Trial

    for i, config in enumerate(first):
        again.inherit(Trial(-(i + 1), config), [Report(-(i + 1), 1.0, 1, {"loss": 1.0}, True)])
    rest = [again.suggest(t).config for t in range(5)]
    assert again.suggest(5) is None and not any(c in first for c in rest)


def test_an_interrupted_warm_started_run_resumes_byte_identical(cold, tmp_path):
    _run(tmp_path / "whole", "tpe", warm_start=cold)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", "tpe", warm_start=cold, interrupt=10)
    assert json.loads((tmp_path / "cut" / "metadata.json").read_text())["complete"] is False
    _run(tmp_path / "cut", "tpe", warm_start=cold)
    whole, cut = ((tmp_path / d / "results.csv").read_bytes() for d in ("whole", "cut"))
    assert whole == cut and whole.count(b"\n") > 10


def test_points_to_evaluate_still_come_first(cold, tmp_path):
    point = {"x1": 1.0, "x2": 2.0}
    _run(tmp_path / "points", "bo", warm_start=cold, points_to_evaluate=[point], max_trials=2)
    rows = pd.read_csv(tmp_path / "points" / "results.csv")
    assert (rows.loc[0, "config_x1"], rows.loc[0, "config_x2"]) == (1.0, 2.0)
    with pytest.raises(ValueError, match=r"points_to_evaluate\[0\]: hyperparameter 'x1': value "
                                         r"50.0 is outside"):
        create("bo", space=BB.space, metric="loss", seed=0, points_to_evaluate=[{"x1": 50.0}])


def test_bad_sources_are_refused_in_one_line(cold, tmp_path):
    from simtune.core.space import Space, uniform

    (tmp_path / "empty").mkdir()
    cases = {
        tmp_path / "nope": "does not exist",
        tmp_path / "empty": "holds no run (metadata.json missing)",
    }
    for source, why in cases.items():
        with pytest.raises(ValueError, match=f"warm_start: .* {re.escape(why)}"):
            WarmStart.read(source, metric="loss", space=BB.space)
    other = Space({"x1": uniform(-5.0, 10.0), "x3": uniform(0.0, 1.0)})
    with pytest.raises(ValueError, match="a run of another space .*x2, x3"):
        WarmStart.read(cold, metric="loss", space=other)
    with pytest.raises(ValueError, match="has no column 'acc'"):
        WarmStart.read(cold, metric="acc", space=BB.space)
    with pytest.raises(ValueError, match="this run's own directory"):
        from simtune.experiments.assemble import read_warm_start

        read_warm_start(cold, BB.space, "loss", out_dir=cold)


def test_run_py_refuses_a_bad_warm_start_before_writing(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "run.py"), "benchmark=synthetic",
         "scheduler=bo", "stop.max_trials=2", "progress=false", f"hydra.run.dir={out}",
         f"warm_start={tmp_path / 'missing'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [
        f"error: warm_start: {tmp_path / 'missing'} does not exist; name the directory of an "
        "earlier run"]
    assert not out.exists()


def test_configs_read_back_exactly_from_an_ask_tell_run(tmp_path):
    """Every kind of domain round-trips through results.csv: an ask/tell session's run
    directory is a warm-start source like any run."""
    from simtune import AskTellScheduler, Problem
    from simtune.core.space import Space, choice, finrange, loguniform, ordinal, randint

    space = Space({"act": choice(["relu", "tanh"]), "bias": choice([True, False]),
                   "layers": randint(1, 4), "lr": loguniform(1e-4, 1e-1),
                   "width": ordinal([16, 32, 64]), "drop": finrange(0.0, 0.5, 6), "epochs": 9})
    problem = Problem(space=space, metric="loss", mode="min")
    with AskTellScheduler(create("random", space=space, metric="loss", seed=2),
                          problem=problem, run_dir=tmp_path / "at") as at:
        told = [at.ask() for _ in range(6)]
        for trial in told:
            at.tell(trial, {"loss": trial.config["lr"] * trial.config["layers"]})
    warm = WarmStart.read(tmp_path / "at", metric="loss", space=space)
    assert [t.config for t, _ in warm.trials] == [t.config for t in told]
    assert [t.trial_id for t, _ in warm.trials] == [-1, -2, -3, -4, -5, -6]
    assert [r[0].metrics["loss"] for _, r in warm.trials] == [
        t.config["lr"] * t.config["layers"] for t in told]
