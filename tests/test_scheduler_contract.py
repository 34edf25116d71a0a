"""The contract every registered scheduler passes (parametrized over the registry)."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simtune.blackboxes.blackbox import TabularBlackbox
from simtune.blackboxes.synthetic import BraninCurves
from simtune.core.schedulers import SCHEDULERS, make_scheduler, scheduler_class, scheduler_names
from simtune.core.space import Space, choice
from simtune.core.trial import Decision, Report, Resume, Start, Trial
from tests.helpers import context, simulate

NAMES = sorted(SCHEDULERS)


@pytest.mark.parametrize("name", NAMES)
def test_every_scheduler_declares_its_kind(name):
    """experiments/reproduce.sh and run.py choose by these declared facts."""
    cls = scheduler_class(name)
    assert isinstance(cls.multi_fidelity, bool), f"{name}: declare multi_fidelity"
    assert isinstance(cls.multi_objective, bool), f"{name}: declare multi_objective"


def test_scheduler_kinds():
    assert scheduler_names(multi_fidelity=True, multi_objective=False) == [
        "asha", "bohb", "dehb", "hyperband", "hypertune", "hypertune_hyperband",
        "median_stopping", "mobster", "asha_bore", "asha_cqr", "pasha", "pbt", "sync_hyperband",
        "sync_sh"]
    assert scheduler_names(multi_fidelity=False, multi_objective=False) == [
        "bo", "grid", "random", "rea", "tpe", "bore", "cqr", "zero_shot", "quantile_based",
        "bounding_box"]
    assert scheduler_names(multi_objective=True) == [
        "moasha", "morea", "nsga2", "ehvi", "random_scalarization"]
    assert scheduler_names(multi_fidelity=True, multi_objective=True) == ["moasha"]


def _trace(path):
    df = pd.read_csv(path / "results.csv")
    return df[["trial_id", "epoch", "decision", "config_x1", "config_x2"]]


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_trace_other_seed_other_trace(tmp_path, name):
    for run, seed in [("a", 0), ("b", 0), ("c", 1)]:
        # at most 40 trials: model-based searchers refit per suggestion (cqr, hypertune)
        simulate(BraninCurves(), name, seed, tmp_path / run, max_wallclock=1500, max_trials=40)
    a, b, c = (_trace(tmp_path / r) for r in "abc")
    assert len(a) > 20
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n_workers", [1, 8])
def test_configs_stay_in_the_space(tmp_path, name, n_workers):
    bb = BraninCurves()
    tuner = simulate(bb, name, 2, tmp_path, n_workers=n_workers, max_wallclock=2000,
                     max_trials=60)
    assert len(tuner.trials) >= n_workers
    for trial in tuner.trials.values():
        bb.space.validate(trial.config)


def _partial_table() -> TabularBlackbox:
    """12 of the 64 configurations of a 3-dimensional space, 2 seeds, 9 epochs."""
    space = Space({k: choice([0, 1, 2, 3]) for k in ("a", "b", "c")})
    rng = np.random.default_rng(0)
    keys = rng.choice(64, size=12, replace=False)
    configs = [{"a": int(k // 16), "b": int(k // 4 % 4), "c": int(k % 4)} for k in keys]
    epochs = np.arange(1, 10)
    base = rng.uniform(0.1, 1.0, size=(12, 2, 1))
    loss = base + 1.0 / epochs
    elapsed = np.broadcast_to(rng.uniform(1, 3, size=(12, 1, 1)) * epochs, loss.shape)
    return TabularBlackbox.from_arrays(
        name="partial", task="t", space=space, configs=configs, seeds=[0, 1],
        fidelities=epochs.tolist(), objectives={"loss": "min"},
        values={"loss": loss, "elapsed_time": np.array(elapsed)},
    )


@pytest.mark.parametrize("name", NAMES)
def test_never_leaves_the_table(tmp_path, name):
    table = _partial_table()
    keys = {table.space.key(c) for c in table.configs()}
    tuner = simulate(table, name, 0, tmp_path, n_workers=3, candidates=table.configs(),
                     max_wallclock=400)
    assert tuner.trials
    for trial in tuner.trials.values():
        assert table.space.key(trial.config) in keys


@pytest.mark.parametrize("name", NAMES)
def test_failed_trials_do_not_break_it(name):
    """Drive the scheduler by hand: every third trial fails after its first report."""
    bb = BraninCurves(max_fidelity=9)
    sched = make_scheduler(name, context(bb, np.random.default_rng(0)))
    trials: dict[int, Trial] = {}
    progress: dict[int, int] = {}
    running: list[int] = []
    now, n_failed = 0.0, 0
    for _step in range(300):
        while len(running) < 4:
            s = sched.suggest(len(trials))
            if s is None:
                break
            if isinstance(s, Start):
                trial = Trial(len(trials), s.config)
                trials[trial.trial_id] = trial
                progress[trial.trial_id] = 0
            else:
                assert isinstance(s, Resume) and s.trial_id in trials
                trial = trials[s.trial_id]
            running.append(trial.trial_id)
            sched.on_start(trial)
        if not running:
            break
        trial_id = running.pop(0)
        trial = trials[trial_id]
        if trial_id % 3 == 1 and progress[trial_id] == 1:
            sched.on_error(trial)
            n_failed += 1
            continue
        curve = bb.curve(trial.config)
        i = progress[trial_id]
        progress[trial_id] = i + 1
        now += 1.0
        last = i + 1 == len(curve.fidelities)
        loss = curve.metrics["loss"][i]
        report = Report(trial_id, now, curve.fidelities[i], {"loss": loss}, last)
        decision = sched.on_report(trial, report)
        if last:
            sched.on_complete(trial, report)
        elif decision == Decision.CONTINUE:
            running.append(trial_id)
    assert n_failed >= 3
    assert len(trials) > 10


@pytest.mark.parametrize("name", NAMES)
def test_paused_trials_are_resumed_never_lost(name):
    """Drive the scheduler by hand on a 12-config table until it has nothing left: every
    Resume names a paused trial, and no trial is left paused at the end."""
    table = _partial_table()
    sched = make_scheduler(name, context(table, np.random.default_rng(0), table.configs()))
    trials: dict[int, Trial] = {}
    progress: dict[int, int] = {}
    running: list[int] = []
    paused: set[int] = set()
    for _step in range(2000):
        while len(running) < 3:
            s = sched.suggest(len(trials))
            if s is None:
                break
            if isinstance(s, Start):
                trial = Trial(len(trials), s.config)
                trials[trial.trial_id] = trial
                progress[trial.trial_id] = 0
            else:
                assert s.trial_id in paused, f"resumed trial {s.trial_id}, which is not paused"
                paused.discard(s.trial_id)
                trial = trials[s.trial_id]
            running.append(trial.trial_id)
            sched.on_start(trial)
        if not running:
            break
        trial_id = running.pop(0)
        trial = trials[trial_id]
        curve = table.curve(trial.config, 0)
        i = progress[trial_id]
        progress[trial_id] = i + 1
        last = i + 1 == len(curve.fidelities)
        loss = curve.metrics["loss"][i]
        report = Report(trial_id, float(_step), curve.fidelities[i], {"loss": loss}, last)
        decision = sched.on_report(trial, report)
        if last:
            sched.on_complete(trial, report)
        elif decision == Decision.CONTINUE:
            running.append(trial_id)
        elif decision == Decision.PAUSE:
            paused.add(trial_id)
    assert not running, "the scheduler still had work after 2000 steps"
    assert not paused, f"trials {sorted(paused)} were paused and never resumed"


@pytest.mark.parametrize("name", NAMES)
def test_points_to_evaluate_come_first_in_order(name):
    """The first suggestions are the given points, in order; on a table, a point is not
    suggested a second time."""
    table = _partial_table()
    rows = table.configs()
    points = [rows[3], rows[7], rows[0]]
    sched = make_scheduler(
        name, context(table, np.random.default_rng(0), rows), points_to_evaluate=points
    )
    seen = []
    for trial_id in range(len(rows)):
        s = sched.suggest(trial_id)
        if s is None or not isinstance(s, Start):
            break
        seen.append(s.config)
        trial = Trial(trial_id, s.config)
        sched.on_start(trial)
        report = Report(trial_id, 1.0, 9, {"loss": 0.5 + trial_id / 100}, True)
        sched.on_report(trial, report)
        sched.on_complete(trial, report)
    assert seen[:3] == points
    if name != "pbt":  # PBT draws its random configurations with replacement, by design
        keys = [table.space.key(c) for c in seen]
        assert len(set(keys)) == len(keys), f"{name} suggested a point again"


@pytest.mark.parametrize("name", NAMES)
def test_points_to_evaluate_are_validated(name):
    bb = BraninCurves(max_fidelity=9)
    ctx = context(bb, np.random.default_rng(0))
    sched = make_scheduler(name, ctx, points_to_evaluate=[{"x1": 1.5}])
    first = sched.suggest(0)
    assert isinstance(first, Start) and first.config == {"x1": 1.5, "x2": 7.5}  # x2: midpoint
    with pytest.raises(ValueError, match=r"points_to_evaluate\[1\]: hyperparameter 'x2'"):
        make_scheduler(name, ctx, points_to_evaluate=[{"x1": 0.0}, {"x1": 0.0, "x2": 99.0}])
    with pytest.raises(ValueError, match=r"points_to_evaluate\[0\]: unknown hyperparameter 'x3'"):
        make_scheduler(name, ctx, points_to_evaluate=[{"x3": 1.0}])


def _yaml_args(name):
    import yaml

    conf = Path(__file__).resolve().parents[1] / "conf" / "scheduler"
    args = yaml.safe_load((conf / f"{name}.yaml").read_text())
    args.pop("name")
    return args


def _matches(given, recorded):
    """A value as the constructor got it (None: a default it resolves) vs as recorded."""
    return given is None or given == recorded or (
        isinstance(given, dict) and all(_matches(v, recorded[k]) for k, v in given.items()))


@pytest.mark.parametrize("name", NAMES)
def test_metadata_is_the_signature_with_the_values_given(name):
    """One shape for every scheduler: its class's name, args (each constructor argument
    but the benchmark's context, with the value given in its yaml), the searcher it uses
    and the scheduler it wraps."""
    import json

    from simtune.core.schedulers import CONTEXT, scheduler_class
    from simtune.core.schedulers.base import signature

    given = _yaml_args(name)
    sched = make_scheduler(name, context(BraninCurves(), np.random.default_rng(0)), **given)
    meta = json.loads(json.dumps(sched.metadata()))  # also: it is JSON
    assert meta["name"] == scheduler_class(name).name
    assert set(meta) <= {"name", "args", "searcher", "inner", "derived"}
    expected = set(signature(scheduler_class(name))) - CONTEXT - {"searcher", "scheduler"}
    assert set(meta["args"]) == expected
    if "searcher" in meta:
        assert set(meta["searcher"]) <= {"name", "args", "derived"}
    for key, value in given.items():
        if key == "searcher":
            assert meta["searcher"]["name"] == value
        elif key == "searcher_args":
            assert _matches(value, meta["searcher"]["args"]), (key, value, meta["searcher"])
        elif key == "scheduler":  # random: FIFO scheduling around the random searcher
            inner = meta["inner"]
            assert value in (inner["name"], inner.get("searcher", {}).get("name")), inner
        elif key == "scheduler_args":
            assert _matches(value, meta["inner"]["args"]), (key, value, meta["inner"])
        elif key in meta["args"]:
            assert _matches(value, meta["args"][key]), (key, value, meta["args"][key])
        else:  # a FIFO scheduler's yaml sets its searcher's arguments
            assert _matches(value, meta["searcher"]["args"][key]), (key, value)


@pytest.mark.parametrize("name, args, message", [
    ("pbt", {"quantile_fraction": 0.7}, r"pbt: quantile_fraction must be a number in \(0, 0.5\]"),
    ("pbt", {"resample_probability": "often"}, r"pbt: resample_probability .* \[0, 1\]"),
    ("tpe", {"gamma": 1.0}, r"tpe: gamma must be a number in \(0, 1\)"),
    ("tpe", {"random_fraction": float("nan")}, r"tpe: random_fraction .* \[0, 1\]"),
    ("dehb", {"searcher_args": {"mutation_factor": 0}}, r"de: mutation_factor .* \(0, 2\]"),
    ("dehb", {"searcher_args": {"crossover_prob": True}}, r"de: crossover_prob .* \[0, 1\]"),
])
def test_out_of_range_arguments_are_named(name, args, message):
    """The message names the argument, the valid interval and the value given."""
    value = next(iter(args.values()))
    value = next(iter(value.values())) if isinstance(value, dict) else value
    with pytest.raises(ValueError, match=f"^{message}, got {re.escape(repr(value))}$"):
        make_scheduler(name, context(BraninCurves(), np.random.default_rng(0)), **args)


@pytest.mark.parametrize("name", NAMES)
def test_one_set_of_defaults_per_name(name):
    """conf/scheduler/<name>.yaml lists the defaults: a scheduler built from its yaml and
    one built by name alone (create, from Python) are the same."""
    ctx = context(BraninCurves(), np.random.default_rng(0))
    by_yaml = make_scheduler(name, ctx, **_yaml_args(name)).metadata()
    assert make_scheduler(name, ctx).metadata() == by_yaml


@pytest.mark.parametrize("searcher", ["bo", "tpe", "rea", "random", "grid", "bore", "cqr"])
def test_a_searcher_has_its_schedulers_defaults_under_any_scheduler(searcher):
    """scheduler=bo and asha's searcher=bo are one GP searcher with one set of defaults
    (they were refit_every=1 and 20)."""
    ctx = context(BraninCurves(), np.random.default_rng(0))
    fifo = make_scheduler(searcher, ctx).metadata()["searcher"]
    asha = make_scheduler("asha", ctx, searcher=searcher).metadata()["searcher"]
    assert asha["args"] == fifo["args"]
