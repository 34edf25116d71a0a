"""Every non-model scheduler on conditional spaces with forbidden clauses: suggestions are
valid configurations (exactly their active hyperparameters, never forbidden), both
branches are explored, a mutated parent activates and deactivates children, grid
enumerates exactly the valid combinations; results.csv leaves inactive cells empty and a
conditional run loads and resumes byte-identically. The ten schedulers of issue 22's
Done-when run end to end here on the simulated backend (the same check through run.py
and the python backend: experiments/examples/conditional/check.py)."""

from __future__ import annotations

import csv
import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest

from simtune.blackboxes.blackbox import Curve
from simtune.core.encoding import INACTIVE_CODE
from simtune.core.run_results import load_run
from simtune.core.rundir import open_run
from simtune.core.schedulers import make_scheduler
from simtune.core.schedulers.dehb import DESearcher
from simtune.core.schedulers.grid import GridSearcher
from simtune.core.schedulers.initial_design import InitialDesign
from simtune.core.schedulers.pbt import explore
from simtune.core.schedulers.points_first import complete_points
from simtune.core.schedulers.pool import CandidatePool
from simtune.core.schedulers.random import RandomSearcher
from simtune.core.schedulers.rea import REASearcher, mutate
from simtune.core.seeds import run_rngs
from simtune.core.space import Space, choice, loguniform, uniform
from simtune.core.stopping import StoppingCriterion
from simtune.core.tuner import Tuner
from tests.helpers import context

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "experiments" / "examples" / "conditional"

DOMAINS = {
    "optimizer": choice(["sgd", "adam"]),
    "lr": loguniform(1e-3, 1e-1),
    "momentum": uniform(0.0, 0.99),
    "beta1": uniform(0.8, 0.999),
    "schedule": choice(["constant", "cyclic"]),
    "epochs": 9,
}
CONDITIONS = {"momentum": {"optimizer": "sgd"}, "beta1": {"optimizer": "adam"}}
FORBIDDEN = [{"optimizer": "adam", "schedule": "cyclic"}]
SPACE = Space(DOMAINS, CONDITIONS, FORBIDDEN)
FINITE = Space(
    {"optimizer": choice(["sgd", "adam"]), "lr": choice([0.001, 0.003, 0.01, 0.03, 0.1]),
     "momentum": choice([0.0, 0.9]), "beta1": choice([0.8, 0.9, 0.99]),
     "schedule": choice(["constant", "cyclic"]), "epochs": 9},
    CONDITIONS, FORBIDDEN)


def _train_module():
    spec = importlib.util.spec_from_file_location("conditional_train", EXAMPLE / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TRAIN = _train_module()


def check_valid(space: Space, config: dict) -> None:
    """`config` is valid (exactly its active hyperparameters, in their domains) and not
    forbidden (Space.validate checks both), and the example's training accepts it."""
    space.validate(config)
    assert not space.is_forbidden(config)
    TRAIN.check({k: v for k, v in config.items() if k != "schedule"})


def branches(configs) -> set[str]:
    return {c["optimizer"] for c in configs}


def test_random_suggestions_are_valid_and_explore_both_branches():
    s = RandomSearcher(SPACE, rng=np.random.default_rng(0))
    configs = [s.suggest() for _ in range(300)]  # more than the sampling buffer holds
    for c in configs:
        check_valid(SPACE, c)
    assert branches(configs) == {"sgd", "adam"}
    assert {c["schedule"] for c in configs if c["optimizer"] == "sgd"} == {"constant", "cyclic"}


def _valid_by_brute_force(space: Space) -> set[tuple]:
    """The valid configurations of a finite conditional space, found without Space.grid:
    every assignment of every subset of the hyperparameters, kept if validate accepts it."""
    names = list(space.tunable)
    valid = set()
    for subset in itertools.product([False, True], repeat=len(names)):
        chosen = [n for n, on in zip(names, subset, strict=True) if on]
        for values in itertools.product(*(space[n].values() for n in chosen)):
            config = {**space.constants, **dict(zip(chosen, values, strict=True))}
            try:
                space.validate(config)
            except ValueError:
                continue
            valid.add(space.key(config))
    return valid


def test_grid_enumerates_exactly_the_valid_combinations():
    g = GridSearcher(FINITE, rng=np.random.default_rng(0))
    configs = []
    while (c := g.suggest()) is not None:
        configs.append(c)
    for c in configs:
        check_valid(FINITE, c)
    keys = [FINITE.key(c) for c in configs]
    assert len(keys) == len(set(keys))  # each once
    # sgd: 5 lr x 2 momentum x 2 schedules; adam: 5 lr x 3 beta1, constant schedule only
    assert len(keys) == 20 + 15 == len(g)
    assert set(keys) == _valid_by_brute_force(FINITE)


def test_grid_on_a_continuous_conditional_space_uses_the_resolution_grid():
    g = GridSearcher(SPACE, rng=np.random.default_rng(0), resolution=3)
    configs = [g.suggest() for _ in range(len(g))]
    assert g.suggest() is None
    for c in configs:
        check_valid(SPACE, c)
    # sgd: 3 lr x 3 momentum x 2 schedules; adam: 3 lr x 3 beta1 x constant
    assert len(configs) == 18 + 9


@pytest.mark.parametrize("kind", ["sobol", "lhs", "random"])
@pytest.mark.parametrize("space", [SPACE, FINITE], ids=["continuous", "finite"])
def test_initial_designs_are_pruned_and_never_forbidden(kind, space):
    pool = CandidatePool(space)
    design = InitialDesign(kind, space, pool, n=16, owner="test")
    rng = np.random.default_rng(0)
    configs = []
    for _ in range(16):
        c = design.draw(rng)
        pool.mark(c)
        configs.append(c)
    for c in configs:
        check_valid(space, c)
    assert branches(configs) == {"sgd", "adam"}


def test_mutating_the_parent_toggles_the_children():
    rng = np.random.default_rng(0)
    sgd = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "schedule": "cyclic", "epochs": 9}
    toggled = 0
    for _ in range(200):
        child = mutate(sgd, SPACE, ["optimizer", "lr", "momentum", "beta1", "schedule"], rng,
                       0.1)
        SPACE.validate({**child, "schedule": "constant"} if child["optimizer"] == "adam"
                       else child)  # the shape is right; the forbidden check is REA's
        if child["optimizer"] == "adam":
            toggled += 1
            assert "beta1" in child and "momentum" not in child
            assert (child["lr"], child["schedule"]) == (0.01, "cyclic")  # one change only
        else:
            assert "beta1" not in child
            assert sum(child[k] != sgd[k] for k in sgd) == 1
    assert toggled > 0


def _evolve(searcher, n: int, levels=(None,)) -> list[dict]:
    """Suggest, start and observe `n` configs (loss: the example's floor), ending each."""
    configs = []
    for t in range(n):
        level = levels[t % len(levels)]
        if level is not None:
            searcher.set_level(level)
        c = searcher.suggest()
        searcher.on_start(t, c)
        searcher.observe(t, level or 1, TRAIN.floor(c) + (c.get("schedule") == "cyclic"))
        searcher.on_end(t)
        configs.append(c)
    return configs


@pytest.mark.parametrize("space", [SPACE, FINITE], ids=["continuous", "finite"])
def test_rea_suggests_valid_configs_on_both_branches(space):
    s = REASearcher(space, mode="min", rng=np.random.default_rng(1), population_size=8,
                    sample_size=3)
    configs = _evolve(s, 35 if space is FINITE else 60)
    for c in configs:
        check_valid(space, c)
    assert branches(configs[8:]) == {"sgd", "adam"}  # the mutations too


@pytest.mark.parametrize("space", [SPACE, FINITE], ids=["continuous", "finite"])
def test_de_keeps_full_vectors_and_suggests_valid_configs(space):
    s = DESearcher(space, mode="min", rng=np.random.default_rng(2), population_size=6)
    configs = _evolve(s, 35 if space is FINITE else 60, levels=(1, 3))
    for c in configs:
        check_valid(space, c)
    assert branches(configs[12:]) == {"sgd", "adam"}  # the offspring too
    vectors = np.array(list(s._encoded.values()))
    assert ((vectors >= 0) & (vectors <= 1)).all()  # no imputed code: full vectors
    assert INACTIVE_CODE < 0


def test_pbt_explore_toggles_children_and_make_scheduler_never_forbids():
    rng = np.random.default_rng(3)
    sgd = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "schedule": "constant", "epochs": 9}
    explored = [explore(sgd, SPACE, rng, resample_probability=0.5) for _ in range(200)]
    for c in explored:  # the shape is always right (forbidden ones are PBT's to redo)
        SPACE.validate({**c, "schedule": "constant"} if c["optimizer"] == "adam" else c)
    assert any(c["optimizer"] == "adam" and "beta1" in c for c in explored)
    pbt = make_scheduler("pbt", {**context(_Curves(SPACE), rng), "fidelities": list(range(1, 10))},
                         perturbation_interval=1)
    for _ in range(200):
        c = pbt._explore(sgd)
        check_valid(SPACE, c)


def test_points_to_evaluate_complete_active_names_only():
    [point] = complete_points(SPACE, [{"optimizer": "adam", "lr": 0.01}])
    assert point == {"optimizer": "adam", "lr": 0.01, "beta1": pytest.approx(0.8995),
                     "schedule": "constant", "epochs": 9}
    [point] = complete_points(SPACE, [{"optimizer": "sgd"}])
    assert set(point) == {"optimizer", "lr", "momentum", "schedule", "epochs"}
    with pytest.raises(ValueError, match=r"points_to_evaluate\[0\]: hyperparameter 'beta1' "
                                         "is inactive here"):
        complete_points(SPACE, [{"optimizer": "sgd", "beta1": 0.9}])
    with pytest.raises(ValueError, match=r"points_to_evaluate\[0\]: .* is forbidden"):
        complete_points(SPACE, [{"optimizer": "adam", "schedule": "cyclic"}])


# -- end to end: the ten schedulers of the Done-when, simulated ----------------------------


class _Curves:
    """The example's training (experiments/examples/conditional/train.py) as a curve
    source of the simulated backend: it raises on an inactive or missing hyperparameter
    (the run then crashes) and on a forbidden configuration."""

    fidelity_name = "epoch"
    fidelities = list(range(1, 10))
    objectives = {"val_loss": "min"}

    def __init__(self, space: Space) -> None:
        self.space = space

    def seeds_of(self, config: dict) -> list[int]:
        return [0]

    def curve(self, config: dict, seed: int) -> Curve:
        check_valid(self.space, config)
        loss = [TRAIN.floor(config) + (config["schedule"] == "cyclic") * 0.1 + np.exp(-e / 3)
                for e in self.fidelities]
        return Curve(self.fidelities, [0.1 * e for e in self.fidelities], {"val_loss": loss})


TEN = ["random", "grid", "tpe", "bo", "rea", "dehb", "asha", "bohb", "mobster", "pbt",
       "bore", "cqr", "asha_bore", "asha_cqr"]
TRIALS = {"bo": 12, "mobster": 12}  # the GP's decisions are the slow part; 24 in check.py
_SMALL_TREES = {"n_estimators": 5, "n_candidates": 100}  # BORE's and CQR's fits, cheap
PARAMS = {"rea": {"population_size": 8, "sample_size": 3},
          "pbt": {"population_size": 4, "perturbation_interval": 3},
          "bore": _SMALL_TREES, "cqr": _SMALL_TREES,
          "asha_bore": {"searcher_args": _SMALL_TREES}, "asha_cqr": {"searcher_args": _SMALL_TREES}}


class _Crash(Exception):
    pass


def _run(out: Path, name: str, crash_after: int | None = None) -> None:
    space = FINITE if name == "grid" else SPACE
    curves = _Curves(space)
    rng_s, rng_b = run_rngs(5)
    from simtune.core.backends.simulated import SimulatedBackend

    sched = make_scheduler(name, context(curves, rng_s), **PARAMS.get(name, {}))
    if crash_after is not None:
        on_report, seen = sched.on_report, []

        def crashing(trial, report):
            seen.append(1)
            if len(seen) > crash_after:
                raise _Crash
            return on_report(trial, report)

        sched.on_report = crashing
    writer = open_run(out, fidelity="epoch", metrics=["val_loss"], hyperparameters=list(space),
                      metadata={"space": space.to_dict(), "metric": "val_loss", "mode": "min",
                                "fidelity_name": "epoch"},
                      config={"scheduler": name}).writer
    Tuner(scheduler=sched, backend=SimulatedBackend(curves, rng=rng_b),
          stop=StoppingCriterion(max_trials=TRIALS.get(name, 24)), n_workers=3, results=writer,
          progress=False).run()


def check_results(path: Path, n_trials: int) -> None:
    """results.csv: `n_trials`, none failed, both branches, inactive cells empty."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    trials = {r["trial_id"]: r for r in rows}
    assert len(trials) >= n_trials
    assert not [r for r in rows if r["status"] == "failed"]
    assert {r["config_optimizer"] for r in trials.values()} == {"sgd", "adam"}
    for r in rows:
        sgd = r["config_optimizer"] == "sgd"
        assert (r["config_momentum"] != "") == sgd and (r["config_beta1"] != "") == (not sgd)


@pytest.mark.parametrize("name", TEN)
def test_the_ten_schedulers_run_the_conditional_space(name, tmp_path):
    _run(tmp_path, name)
    check_results(tmp_path / "results.csv", TRIALS.get(name, 24))
    run = load_run(tmp_path)
    space = FINITE if name == "grid" else SPACE
    for config in run.configs().values():  # read back: empty cells are no hyperparameters
        check_valid(space, config)
    assert Space.from_dict(run.metadata["space"]) == space


@pytest.mark.parametrize(("name", "params"), [
    ("hyperband", {}), ("median_stopping", {}), ("pasha", {}), ("sync_sh", {}),
    ("sync_hyperband", {"searcher": "de"}),
    ("asha", {"searcher": "rea", "searcher_args": {"population_size": 6, "sample_size": 2}}),
], ids=["hyperband", "median_stopping", "pasha", "sync_sh", "sync_hyperband-de", "asha-rea"])
def test_the_other_schedulers_and_searchers_run_the_conditional_space(name, params, tmp_path):
    PARAMS[name] = params
    try:
        _run(tmp_path, name)
    finally:
        PARAMS.pop(name)
    check_results(tmp_path / "results.csv", 24)


@pytest.mark.parametrize("name", ["rea", "dehb", "pbt"])
def test_a_crashed_conditional_run_resumes_byte_identically(name, tmp_path):
    _run(tmp_path / "ref", name)
    expected = (tmp_path / "ref" / "results.csv").read_bytes()
    with pytest.raises(_Crash):
        _run(tmp_path / "run", name, crash_after=40)
    partial = (tmp_path / "run" / "results.csv").read_bytes()
    assert len(partial) < len(expected) and expected.startswith(partial)
    _run(tmp_path / "run", name)
    assert (tmp_path / "run" / "results.csv").read_bytes() == expected
