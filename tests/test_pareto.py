"""Pareto helpers against hand-computed values and a brute-force reference."""

import numpy as np

from simtune.core.schedulers.moasha import _Rung, continues_mo
from simtune.core.schedulers.pareto import (
    crowding_distance,
    dominates,
    nondominated_sort,
    normalize,
    rank_order,
    to_min,
)
from simtune.core.schedulers.rungs import continues


def _fronts(y):
    return [f.tolist() for f in nondominated_sort(np.asarray(y, dtype=float))]


def _brute_fronts(y):
    """Peel non-dominated rows one front at a time, straight from the definition."""
    left, fronts = set(range(len(y))), []
    while left:
        front = sorted(i for i in left if not any(dominates(y[j], y[i]) for j in left))
        fronts.append(front)
        left -= set(front)
    return fronts


def test_nondominated_sort_by_hand():
    y = [(1, 5), (2, 3), (4, 1), (3, 4), (5, 5), (2, 3)]
    # (3,4) is dominated by (2,3); (5,5) by (3,4); the duplicate (2,3)s share front 0
    assert _fronts(y) == [[0, 1, 2, 5], [3], [4]]
    assert _fronts([]) == []


def test_nondominated_sort_three_objectives_by_hand():
    y = [(1, 1, 1), (0, 2, 2), (2, 2, 2), (1, 1, 3), (3, 3, 3)]
    assert _fronts(y) == [[0, 1], [2, 3], [4]]


def test_nondominated_sort_one_objective_is_sorting_with_ties():
    assert _fronts([[3.0], [1.0], [2.0], [1.0]]) == [[1, 3], [2], [0]]


def test_nondominated_sort_matches_brute_force():
    rng = np.random.default_rng(0)
    for trial in range(150):
        m, n = int(rng.integers(1, 4)), int(rng.integers(1, 25))
        y = rng.integers(0, 5, size=(n, m)).astype(float)  # many ties
        if trial % 3 == 0:
            y[rng.random((n, m)) < 0.2] = np.inf  # missing values (moocore alone mis-ranks)
        assert _fronts(y) == _brute_fronts(y)


def test_crowding_distance_by_hand():
    y = np.array([(1.0, 5.0), (2.0, 3.0), (4.0, 1.0)])
    # middle point: (4 - 1) / 3 in f1 + (5 - 1) / 4 in f2 = 2; extremes are infinite
    assert crowding_distance(y).tolist() == [np.inf, 2.0, np.inf]
    y = np.array([(0.0, 4.0), (1.0, 3.0), (3.0, 1.0), (4.0, 0.0)])
    # (1,3): (3-0)/4 + (4-1)/4 = 1.5; (3,1): (4-1)/4 + (3-0)/4 = 1.5
    assert crowding_distance(y).tolist() == [np.inf, 1.5, 1.5, np.inf]
    assert crowding_distance(np.array([(1.0, 2.0), (2.0, 1.0)])).tolist() == [np.inf, np.inf]


def test_rank_order_front_then_crowding():
    y = np.array([(0.0, 4.0), (1.0, 3.5), (2.0, 2.0), (4.0, 0.0), (3.0, 4.0)])
    # front 0 = rows 0-3; crowding: row 1 = (2-0)/4 + (4-2)/4 = 1.0,
    # row 2 = (4-1)/4 + (3.5-0)/4 = 1.625; row 4 is in front 1
    assert rank_order(y).tolist() == [0, 3, 2, 1, 4]


def test_to_min_flips_max_and_marks_missing():
    rows = [{"err": 0.2, "acc": 90.0}, {"err": float("nan"), "acc": 80.0}, {"acc": 70.0}]
    y = to_min(rows, {"err": "min", "acc": "max"})
    assert y.tolist() == [[0.2, -90.0], [np.inf, -80.0], [np.inf, -70.0]]


def test_normalize_columns_to_unit_range():
    y = np.array([[1.0, 5.0], [3.0, 5.0], [2.0, np.inf]])
    assert normalize(y).tolist() == [[0.0, 0.0], [1.0, 0.0], [0.5, np.inf]]


def test_moasha_rule_equals_asha_with_one_objective():
    rng = np.random.default_rng(2)
    for eta in (2, 3, 4):
        rung, asha_rung = _Rung(), []
        for value in rng.integers(0, 20, size=80).astype(float):
            assert continues_mo(rung, np.array([value]), eta) == continues(asha_rung, value, eta)


def test_moasha_rule_by_hand():
    rung, eta = _Rung(), 2
    assert continues_mo(rung, np.array([1.0, 5.0]), eta)  # first always continues
    assert continues_mo(rung, np.array([5.0, 1.0]), eta)  # non-dominated, ties favour it
    assert not continues_mo(rung, np.array([6.0, 6.0]), eta)  # dominated by both, keep 1
    # 4 points keep 2: front 0 = (1,5), (5,1), (3,3); (3,3) has finite crowding, the
    # extremes infinite, so it ranks 3rd
    assert not continues_mo(rung, np.array([3.0, 3.0]), eta)
    assert continues_mo(rung, np.array([0.0, 0.0]), eta)  # dominates everything


def test_moasha_rule_matches_rank_order():
    rng = np.random.default_rng(3)
    for trial in range(40):
        m, eta = int(rng.integers(1, 4)), int(rng.integers(2, 5))
        rung, points = _Rung(), []
        for _ in range(int(rng.integers(1, 40))):
            p = rng.integers(0, 6, size=m).astype(float) if trial % 2 else rng.random(m)
            got = continues_mo(rung, p, eta)
            ys = np.vstack([p, *points])  # the new point first: ties in its favour
            points.append(p)
            position = int(np.flatnonzero(rank_order(ys) == 0)[0])
            assert got == (position < max(1, len(points) // eta))
