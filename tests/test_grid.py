"""Grid search and FiniteConfigs: every point once, seeded order, resolution grids."""

import numpy as np
import pytest

from simtune.core.encoding import encode
from simtune.core.schedulers.grid import GridSearcher, _affine_bijection
from simtune.core.schedulers.pool import FiniteConfigs, grid_values
from simtune.core.space import Space, choice, loguniform, ordinal, randint, uniform


def _all(searcher):
    out = []
    while (c := searcher.suggest()) is not None:
        out.append(c)
    return out


def test_finite_space_every_point_once_in_a_seeded_order():
    space = Space(
        {"a": choice(["x", "y", "z"]), "b": randint(1, 4), "c": ordinal([8, 16]), "k": "const"}
    )
    a, b, c = (_all(GridSearcher(space, rng=np.random.default_rng(s))) for s in (0, 0, 1))
    assert len(a) == 24 == len({space.key(p) for p in a})
    for p in a:
        space.validate(p)
    assert a == b
    assert a != c and sorted(map(space.key, a)) == sorted(map(space.key, c))


def test_resolution_per_numeric_domain():
    assert grid_values(uniform(0, 1), 5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    np.testing.assert_allclose(grid_values(loguniform(1e-4, 1), 5), [1e-4, 1e-3, 1e-2, 0.1, 1])
    assert grid_values(randint(1, 3), 5) == [1, 2, 3]  # fewer values than the resolution
    assert grid_values(randint(0, 100), 3) == [0, 50, 100]
    space = Space({"x": uniform(-5, 10), "y": randint(0, 100), "c": choice(["a", "b"])})
    points = _all(GridSearcher(space, rng=np.random.default_rng(0), resolution=3))
    assert len(points) == 3 * 3 * 2
    assert {p["x"] for p in points} == {-5.0, 2.5, 10.0}


def test_candidates_are_the_grid():
    space = Space({"a": choice(list(range(10)))})
    table = [{"a": 3}, {"a": 7}, {"a": 1}]
    points = _all(GridSearcher(space, rng=np.random.default_rng(0), candidates=table))
    assert sorted(p["a"] for p in points) == [1, 3, 7]


def test_started_configs_are_skipped():
    space = Space({"a": choice([1, 2, 3])})
    g = GridSearcher(space, rng=np.random.default_rng(0))
    g.on_start(0, {"a": 2})  # started by someone else (e.g. a scheduler's own choice)
    assert sorted(p["a"] for p in _all(g)) == [1, 3]


def test_finite_configs_rows_configs_and_encoding_agree():
    space = Space(
        {"a": choice([1, 2]), "b": ordinal(["s", "m", "l"]), "c": randint(0, 2), "k": 0.5}
    )
    fc = FiniteConfigs(space)
    assert len(fc) == 18
    enc = fc.encoded()
    for row in range(len(fc)):
        config = fc.config(row)
        assert fc.row(config) == row
        np.testing.assert_array_equal(enc[row], encode(space, config))
    assert fc.row({"a": 3, "b": "s", "c": 0, "k": 0.5}) is None
    rng = np.random.default_rng(0)
    fc.mark_used(4)
    fc.mark_used(4)
    drawn = fc.draw(rng, 100)
    assert len(drawn) == 17 and 4 not in drawn.tolist() and fc.n_available == 17


def test_affine_order_is_a_permutation():
    n = 10_007 * 6
    a, b = _affine_bijection(n, np.random.default_rng(0))
    assert len(set(((a * np.arange(n) + b) % n).tolist())) == n


def test_bad_resolution_is_named():
    with pytest.raises(ValueError, match="resolution"):
        GridSearcher(Space({"x": uniform(0, 1)}), rng=np.random.default_rng(0), resolution=0)
