"""NSGA-II (core/schedulers/nsga2.py): its selection, variation operators and runs."""

from __future__ import annotations

import moocore
import numpy as np
import pytest

from simtune.blackboxes.synthetic import zdt1_curves
from simtune.core.schedulers import make_scheduler
from simtune.core.schedulers.nsga2 import NSGA2Searcher, polynomial_mutation, sbx, survivors
from simtune.core.space import Space, choice, uniform
from tests import test_conditional_schedulers as conditional
from tests.helpers import context

# front 1: A, B, C, D (crowding: A, D inf; B 2.5/4 + 3/4 = 1.375; C 3/4 + 2/4 = 1.25);
# E is dominated by B only (front 2), F by B, C and E (front 3)
MEMBERS = [("A", [0, 4]), ("F", [3, 3]), ("B", [1, 2]), ("E", [2, 3]), ("C", [2.5, 1]),
           ("D", [4, 0])]


def _members():
    return [(name, np.array(y, dtype=float)) for name, y in MEMBERS]


def test_survivors_by_front_then_crowding_by_hand():
    names = lambda ms: [n for n, _ in ms]  # noqa: E731
    assert names(survivors(_members(), 6)) == ["A", "F", "B", "E", "C", "D"]
    assert names(survivors(_members(), 5)) == ["A", "B", "E", "C", "D"]  # F: the last front
    assert names(survivors(_members(), 4)) == ["A", "B", "C", "D"]  # the first front
    assert names(survivors(_members(), 3)) == ["A", "B", "D"]  # C is the most crowded
    assert names(survivors(_members(), 2)) == ["A", "D"]  # the extremes (infinite distance)


def test_tournament_prefers_the_lower_front_then_the_less_crowded():
    s = NSGA2Searcher(Space({"x": uniform(0, 1)}), mode="min", rng=np.random.default_rng(0),
                      population_size=6)
    s.population = [({"x": i / 10}, y) for i, (_, y) in enumerate(_members())]
    wins = {}
    for _ in range(3000):
        x = s._parent()["x"]
        wins[x] = wins.get(x, 0) + 1
    # each pair is drawn with probability 1/15; a member wins against those ranked below:
    # A and D (first, infinite crowding) 5 or 4 of 5 pairs, B 3, C 2, E 1, F none
    order = sorted(wins, key=wins.get, reverse=True)
    assert {order[0], order[1]} == {0.0, 0.5} and order[2:] == [0.2, 0.4, 0.3]
    assert 0.1 not in wins
    assert wins[0.2] / 3000 == pytest.approx(3 / 15, abs=0.03)


def test_sbx_stays_in_bounds_spreads_around_the_parents_and_eta_tightens_it():
    rng = np.random.default_rng(1)
    assert sbx(0.3, 0.3, rng, 15.0) == 0.3
    wide = np.array([sbx(0.4, 0.6, rng, 2.0) for _ in range(4000)])
    tight = np.array([sbx(0.4, 0.6, rng, 30.0) for _ in range(4000)])
    for c in (wide, tight):
        assert c.min() >= 0.0 and c.max() <= 1.0
        assert abs(np.mean(c) - 0.5) < 0.02  # symmetric about the parents' middle
        assert np.mean((c < 0.45) | (c > 0.55)) > 0.35  # near either parent, not between
    to_parent = lambda c: np.minimum(abs(c - 0.4), abs(c - 0.6)).mean()  # noqa: E731
    assert to_parent(wide) > 3 * to_parent(tight)
    near_edge = np.array([sbx(0.0, 0.02, rng, 2.0) for _ in range(2000)])
    assert near_edge.min() >= 0.0


def test_polynomial_mutation_stays_in_bounds_and_eta_sets_the_step():
    rng = np.random.default_rng(2)
    for x in (0.0, 0.5, 1.0):
        steps = np.array([polynomial_mutation(x, rng, 20.0) for _ in range(2000)])
        assert steps.min() >= 0.0 and steps.max() <= 1.0
    small = np.array([polynomial_mutation(0.5, rng, 100.0) for _ in range(3000)]) - 0.5
    large = np.array([polynomial_mutation(0.5, rng, 5.0) for _ in range(3000)]) - 0.5
    assert abs(small.mean()) < 0.005 and abs(large.mean()) < 0.02
    assert np.abs(large).mean() > 3 * np.abs(small).mean()


def _drive(searcher, n, value):
    """Suggest, start, observe and end `n` trials one at a time; the configs suggested."""
    configs = []
    for t in range(n):
        config = searcher.suggest()
        configs.append(config)
        searcher.on_start(t, config)
        searcher.observe(t, 1, value(config))
        searcher.on_end(t)
    return configs


def zdt1_value(config):
    x = np.array([config[f"x{i}"] for i in range(6)])
    g = 1.0 + 9.0 * x[1:].mean()
    return np.array([x[0], g * (1.0 - np.sqrt(x[0] / g))])


def test_steady_state_keeps_the_pareto_front_and_children_improve():
    space = zdt1_curves(max_fidelity=9).space
    s = NSGA2Searcher(space, mode="min", rng=np.random.default_rng(0), population_size=10)
    configs = _drive(s, 60, zdt1_value)
    assert len(s.population) == 10
    seen = np.array([zdt1_value(c) for c in configs])
    kept = {tuple(y) for _, y in s.population}
    front = {tuple(y) for y in seen[moocore.is_nondominated(seen)]}
    assert len(front) <= 10 and front <= kept  # elitist: no non-dominated point is lost
    # children improve on random search: their mean g (f2 at f1 = 0) is lower
    g = lambda c: 1.0 + 9.0 * np.mean([c[f"x{i}"] for i in range(1, 6)])  # noqa: E731
    assert np.mean([g(c) for c in configs[40:]]) < np.mean([g(c) for c in configs[:10]]) - 1.0


def test_generational_selects_only_between_batches():
    space = zdt1_curves(max_fidelity=9).space
    s = NSGA2Searcher(space, mode="min", rng=np.random.default_rng(0), population_size=4,
                      steady_state=False)
    _drive(s, 4, zdt1_value)  # the random initial population
    first = [c for c, _ in s.population]
    _drive(s, 3, lambda c: np.zeros(2))  # three children that dominate everything
    assert [c for c, _ in s.population] == first  # the batch of 4 is not done
    _drive(s, 2, zdt1_value)  # the 4th child ends the batch; the 5th starts the next
    assert len(s.population) == 4
    assert sum(np.all(y == 0) for _, y in s.population) == 3


def test_same_seed_same_configs_and_a_finite_space_is_never_repeated():
    space = Space({"a": choice(list(range(5))), "b": choice(["x", "y", "z"])})
    runs = []
    for _ in range(2):
        s = NSGA2Searcher(space, mode="min", rng=np.random.default_rng(3), population_size=4)
        runs.append(_drive(s, 15, lambda c: np.array([c["a"], -c["a"] + (c["b"] == "x")])))
    assert runs[0] == runs[1]
    keys = [space.key(c) for c in runs[0]]
    assert len(set(keys)) == 15
    assert s.suggest() is None  # all 15 used: nothing repeats


def test_arguments_are_checked():
    ctx = context(zdt1_curves(max_fidelity=9), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"nsga2: crossover_prob must be a number in \[0, 1\]"):
        make_scheduler("nsga2", ctx, crossover_prob=1.5)
    with pytest.raises(ValueError, match="nsga2: population_size must be >= 2"):
        make_scheduler("nsga2", ctx, population_size=1)


def test_runs_the_conditional_space(tmp_path):
    conditional.PARAMS["nsga2"] = {"population_size": 6}
    try:
        conditional._run(tmp_path, "nsga2")
    finally:
        conditional.PARAMS.pop("nsga2")
    conditional.check_results(tmp_path / "results.csv", 24)
