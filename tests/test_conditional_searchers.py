"""The model-based searchers on conditional spaces with forbidden clauses (issue 22): tpe
(Optuna's groups), bo (imputed encoding), bohb and mobster (the same searchers under
Hyperband and ASHA) suggest only valid configurations, explore both branches, and their
models steer them to the better branch."""

import numpy as np
import pytest

from simtune.blackboxes.blackbox import Blackbox, Curve
from simtune.core.encoding import Columns
from simtune.core.schedulers.bo import GPSearcher
from simtune.core.schedulers.tpe import _KDE, TPESearcher
from simtune.core.schedulers.tpe_groups import decompose
from simtune.core.space import Space, choice, loguniform, uniform
from simtune.core.trial import Status
from tests.helpers import simulate

# the space, with a nested condition (dampening: sgd without nesterov) and a
# forbidden clause
SPACE = Space(
    {
        "optimizer": choice(["sgd", "adam"]),
        "lr": loguniform(1e-3, 1e-1),
        "schedule": choice(["constant", "cosine", "cyclic"]),
        "momentum": uniform(0.0, 0.99),
        "nesterov": choice([True, False]),
        "dampening": uniform(0.0, 0.5),
        "beta1": uniform(0.8, 0.999),
    },
    conditions={
        "momentum": {"optimizer": "sgd"},
        "nesterov": {"optimizer": "sgd"},
        "dampening": {"nesterov": False},
        "beta1": {"optimizer": "adam"},
    },
    forbidden=[{"optimizer": "adam", "schedule": "cyclic"}],
)


def loss(config: dict) -> float:
    """Adam's branch is better by 1 than anything SGD reaches."""
    v = 0.1 * (np.log10(config["lr"]) + 2) ** 2
    if config["optimizer"] == "adam":
        return v + (config["beta1"] - 0.9) ** 2
    extra = 0.2 if config["nesterov"] else config["dampening"]
    return 1.0 + v + (config["momentum"] - 0.9) ** 2 + extra


class OptimizerCurves(Blackbox):
    """`loss` with learning curves over 9 epochs of 1 s; raises on an invalid config."""

    def __init__(self) -> None:
        self.name, self.task, self.space = "test", "optimizer", SPACE
        self.objectives, self.fidelity_name = {"loss": "min"}, "epoch"
        self.fidelities, self.seeds = list(range(1, 10)), [0]

    def curve(self, config: dict, seed: int = 0) -> Curve:
        SPACE.validate(config)
        r = np.arange(1.0, 10.0)
        return Curve(self.fidelities, r.tolist(), {"loss": (loss(config) + (9 - r) / 16).tolist()})


N_TRIALS = 60
MODEL_BASED = ["tpe", "bo", "bohb", "mobster"]
PREFERS = 0.65  # share of adam among the last 30 trials (random search: 0.4)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """scheduler -> the configurations of its N_TRIALS trials (trial id order), seed 0."""
    done = {}

    def run(name: str) -> list[dict]:
        if name not in done:
            tuner = simulate(OptimizerCurves(), name, 0, tmp_path_factory.mktemp(name),
                             max_trials=N_TRIALS)
            trials = sorted(tuner.trials.values(), key=lambda t: t.trial_id)
            assert len(trials) == N_TRIALS
            assert all(t.status != Status.FAILED for t in trials)
            done[name] = [t.config for t in trials]
        return done[name]

    return run


def adam_share(configs: list[dict]) -> float:
    late = configs[N_TRIALS // 2 :]
    return sum(c["optimizer"] == "adam" for c in late) / len(late)


@pytest.mark.parametrize("name", MODEL_BASED)
def test_valid_suggestions_on_both_branches(runs, name):
    configs = runs(name)
    for config in configs:
        SPACE.validate(config)  # active names exactly, in their domains, not forbidden
    assert {c["optimizer"] for c in configs} == {"sgd", "adam"}
    assert any("dampening" in c for c in configs)  # the nested branch too
    assert any(c.get("nesterov") is True for c in configs)


@pytest.mark.parametrize("name", MODEL_BASED)
def test_the_model_steers_to_the_better_branch(runs, name):
    """Random search gives adam 40% of the trials (half the draws, less the forbidden
    adam+cyclic); the models, 70-100% of the last 30 (5 seeds observed)."""
    assert adam_share(runs(name)) >= PREFERS


def test_random_search_does_not_pass_the_steering_test(runs):
    assert adam_share(runs("random")) < PREFERS


def test_groups_follow_the_activation_chains():
    groups = decompose(SPACE, Columns(SPACE))
    assert [g.names for g in groups] == [
        ["optimizer", "lr", "schedule"], ["momentum", "nesterov"], ["beta1"], ["dampening"],
    ]
    assert groups[3].active({"optimizer": "sgd", "nesterov": False})
    assert not groups[3].active({"optimizer": "adam"})
    # the same chain written twice is one group
    twice = Space(
        {"a": choice([0, 1]), "b": choice([0, 1]), "c": uniform(0, 1), "d": uniform(0, 1)},
        conditions={"b": {"a": 1}, "c": {"b": 0}, "d": {"b": 0, "a": 1}},
    )
    assert [g.names for g in decompose(twice, Columns(twice))] == [["a"], ["b"], ["c", "d"]]


def drive(searcher, space: Space, n: int, objective) -> list[dict]:
    """`n` suggestions, each validated, evaluated and observed before the next."""
    configs = []
    for trial in range(n):
        config = searcher.suggest()
        space.validate(config)
        searcher.on_start(trial, config)
        searcher.observe(trial, 1, objective(config))
        searcher.on_end(trial)
        configs.append(config)
    return configs


FINITE = Space(
    {
        "optimizer": choice(["sgd", "adam"]),
        "lr": choice([0.001, 0.01, 0.1]),
        "schedule": choice(["constant", "cosine", "cyclic"]),
        "momentum": choice([0.0, 0.9]),
        "nesterov": choice([True, False]),
        "dampening": choice([0.0, 0.25, 0.5]),
        "beta1": choice([0.8, 0.9, 0.99]),
    },
    conditions=SPACE.conditions,
    forbidden=[lambda c: c["optimizer"] == "adam" and c["schedule"] == "cyclic"],
)


@pytest.mark.parametrize("cls", [TPESearcher, GPSearcher])
def test_finite_conditional_space(cls):
    """On an enumerated conditional space (90 valid points, a callable forbidden clause)
    every suggestion is one of its valid points, and TPE never repeats one."""
    searcher = cls(FINITE, mode="min", rng=np.random.default_rng(0))
    configs = drive(searcher, FINITE, 40, loss)
    assert searcher.finite is not None and len(searcher.finite) == FINITE.size() == 90
    if cls is TPESearcher:
        assert len({FINITE.key(c) for c in configs}) == len(configs)
    assert {c["optimizer"] for c in configs} == {"sgd", "adam"}


FLAT_FORBIDDEN = Space(
    {"optimizer": choice(["sgd", "adam"]), "schedule": choice(["constant", "cyclic"]),
     "lr": loguniform(1e-3, 1e-1)},
    forbidden=[{"optimizer": "adam", "schedule": "cyclic"}],
)


@pytest.mark.parametrize("cls", [TPESearcher, GPSearcher])
def test_the_forbidden_optimum_is_never_suggested(cls):
    """The objective is best at the forbidden adam+cyclic: the models would go there."""

    def objective(c: dict) -> float:
        bonus = (c["optimizer"] == "adam") + (c["schedule"] == "cyclic")
        return (np.log10(c["lr"]) + 2) ** 2 - bonus

    configs = drive(cls(FLAT_FORBIDDEN, mode="min", rng=np.random.default_rng(1)),
                    FLAT_FORBIDDEN, 40, objective)
    combos = {(c["optimizer"], c["schedule"]) for c in configs}
    assert combos == {("sgd", "constant"), ("sgd", "cyclic"), ("adam", "constant")}


def test_uniform_stand_in_is_in_the_kdes_convention():
    """A group without good (bad) observations scores with the uniform density in place
    of l (g), in _KDE.logpdf's convention: exp(logpdf - uniform_log) integrates to 1
    for a numeric column, and is 1 / c for each category of a categorical one."""
    space = Space(
        {"a": choice([0, 1]), "x": uniform(0, 1), "y": uniform(0, 1), "c": choice([1, 2, 3])},
        conditions={"x": {"a": 1}, "y": {"a": 1}, "c": {"a": 1}},
    )
    groups = decompose(space, Columns(space))
    group = groups[1]  # x, y, c
    kde = _KDE(np.array([[0.3, 0.6, 2.0]]), group.columns, 1e-3)
    grid = np.linspace(-4, 5, 601)
    step = grid[1] - grid[0]
    xx, yy = np.meshgrid(grid, grid)
    total = sum(
        np.exp(kde.logpdf(np.column_stack([xx.ravel(), yy.ravel(), np.full(xx.size, k)]))
               - group.uniform_log).sum() * step**2
        for k in range(3)
    )
    assert total == pytest.approx(3.0, rel=1e-3)  # 3 categories of uniform mass 1 / 3
