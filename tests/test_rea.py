"""Regularized evolution: mutation, ageing, tournament, no repeats on finite spaces."""

import numpy as np
import pytest

from simtune.core.schedulers.random import RandomSearcher
from simtune.core.schedulers.rea import REASearcher, mutate
from simtune.core.space import Space, choice, loguniform, randint
from tests.test_bo import run

SPACE = Space(
    {"lr": loguniform(1e-4, 1e-1), "n": randint(1, 8), "op": choice(["a", "b", "c"]), "k": 5}
)


def test_mutate_changes_exactly_one_hyperparameter_within_its_domain():
    rng = np.random.default_rng(0)
    parent = {"lr": 1e-3, "n": 4, "op": "b", "k": 5}
    changed = set()
    for _ in range(300):
        child = mutate(parent, SPACE, ["lr", "n", "op"], rng)
        SPACE.validate(child)
        diff = [k for k in parent if child[k] != parent[k]]
        assert len(diff) == 1
        changed.add(diff[0])
    assert changed == {"lr", "n", "op"}


def _finish(s, trial, config, value):
    s.on_start(trial, config)
    s.observe(trial, 1, value)
    s.on_end(trial)


def test_population_keeps_the_most_recent_not_the_best():
    s = REASearcher(
        SPACE, mode="min", rng=np.random.default_rng(1), population_size=3, sample_size=2
    )
    configs = SPACE.sample(np.random.default_rng(2), 5)
    for i, (c, v) in enumerate(zip(configs, [0.1, 5.0, 6.0, 7.0, 8.0], strict=True)):
        _finish(s, i, c, v)
    assert [v for _, v in s.population] == [6.0, 7.0, 8.0]  # the best (0.1) aged out


def test_tournament_over_the_whole_population_mutates_the_best():
    s = REASearcher(
        SPACE, mode="max", rng=np.random.default_rng(3), population_size=4, sample_size=4
    )
    configs = SPACE.sample(np.random.default_rng(4), 4)
    for i, (c, v) in enumerate(zip(configs, [1.0, 9.0, np.nan, 3.0], strict=True)):
        _finish(s, i, c, v)
    best = configs[1]  # mode max: 9.0; NaN counts as the worst
    for _ in range(20):
        child = s.suggest()
        assert sum(child[k] != best[k] for k in best) == 1


def test_evolution_solves_a_separable_cell_space_random_search_does_not():
    """A NAS-like space (6 operations x 5 choices, 15,625 cells) with an additive
    objective: one-hyperparameter mutations of tournament winners climb to the optimum.
    In 200 evaluations random search sees 1.3% of the cells (regret measured 0.56-1.06 on
    these seeds); REA (population 20) reached regret 0 on all 5 seeds."""
    space = Space({f"op{j}": choice(list(range(5))) for j in range(6)})
    w = np.random.default_rng(42).uniform(0, 1, size=(6, 5))

    def f(c):
        return float(sum(w[j, c[f"op{j}"]] for j in range(6)))

    optimum = w.min(1).sum()
    rea, rs = [], []
    for seed in range(5):
        e = REASearcher(
            space, mode="min", rng=np.random.default_rng(seed), population_size=20, sample_size=5
        )
        r = RandomSearcher(space, rng=np.random.default_rng(seed))
        rea.append(min(run(e, f, 200, n_workers=2)) - optimum)
        rs.append(min(run(r, f, 200, n_workers=2)) - optimum)
    assert np.median(rea) < 0.05
    assert min(rs) > 0.3  # random search does not get close on any seed


def test_finite_table_no_repeats_and_stays_in_the_table():
    space = Space(
        {"a": choice(list(range(4))), "b": choice(list(range(4))), "c": choice(list(range(4)))}
    )
    rng = np.random.default_rng(5)
    table = [
        {"a": int(k // 16), "b": int(k // 4 % 4), "c": int(k % 4)}
        for k in sorted(rng.choice(64, 25, replace=False))
    ]
    s = REASearcher(
        space,
        mode="min",
        rng=np.random.default_rng(6),
        candidates=table,
        population_size=5,
        sample_size=2,
    )
    seen = []
    run(s, lambda c: seen.append(space.key(c)) or c["a"] + c["b"] - c["c"], 100, n_workers=3)
    assert len(seen) == 25 == len(set(seen))
    assert set(seen) == {space.key(c) for c in table}
    assert s.suggest() is None


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="sample_size"):
        REASearcher(
            SPACE, mode="min", rng=np.random.default_rng(0), population_size=5, sample_size=6
        )


def test_numeric_mutation_with_a_scale_is_a_local_step():
    rng = np.random.default_rng(7)
    parent = {"lr": 1e-3, "n": 4, "op": "b", "k": 5}
    steps = []
    for _ in range(200):
        child = mutate(parent, SPACE, ["lr"], rng, scale=0.05)
        SPACE.validate(child)
        steps.append(SPACE["lr"].encode(child["lr"])[0] - SPACE["lr"].encode(1e-3)[0])
    # a N(0, 0.05) step on the log scale: sd within 20% of 0.05, none beyond 5 sd
    assert 0.04 < np.std(steps) < 0.06 and np.abs(steps).max() < 0.25
