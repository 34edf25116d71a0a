"""EHVI (core/schedulers/ehvi.py): the box decomposition and the expectation against
moocore's hypervolume, the reference point, pending trials, runs."""

from __future__ import annotations

import moocore
import numpy as np
import pytest

from simtune.blackboxes.synthetic import zdt1_curves
from simtune.core.schedulers import make_scheduler
from simtune.core.schedulers.acquisition import expected_improvement
from simtune.core.schedulers.ehvi import (
    EHVISearcher,
    expected_hvi,
    nondominated_cells,
    reference_point,
)
from simtune.core.space import Space, uniform
from tests import test_conditional_schedulers as conditional
from tests.helpers import context

EXACT = 1e-12  # a standard deviation that makes the expectation the value itself


def _front(rng, n, m):
    y = rng.uniform(size=(n, m))
    return y[moocore.is_nondominated(y)]


def _hvi(front, ref, y):
    """The hypervolume improvement of each row of `y` over `front`, by moocore."""
    base = moocore.hypervolume(front, ref=ref)
    return np.array([moocore.hypervolume(np.vstack([front, p]), ref=ref) - base for p in y])


@pytest.mark.parametrize("m", [2, 3])
def test_the_boxes_give_moocores_hypervolume_improvement(m):
    rng = np.random.default_rng(m)
    front, ref = _front(rng, 30, m), np.full(m, 1.1)
    lower, upper = nondominated_cells(front, ref)
    if m == 2:
        assert len(lower) == len(front) + 1
    y = rng.uniform(-0.2, 1.2, size=(200, m))
    ours = expected_hvi(y, np.full_like(y, EXACT), lower, upper)
    np.testing.assert_allclose(ours, _hvi(front, ref, y), atol=1e-9)


def test_zero_for_dominated_points_positive_beyond_the_front():
    front, ref = np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]), np.array([1.1, 1.1])
    lower, upper = nondominated_cells(front, ref)
    dominated = np.array([[0.6, 0.6], [0.5, 0.5], [1.05, 1.05], [2.0, -1.0]])
    beyond = np.array([[0.4, 0.4], [-0.1, 0.05], [0.2, 0.7]])
    tiny = np.full((4, 2), EXACT)
    assert np.all(expected_hvi(dominated, tiny, lower, upper) < 1e-11)  # (0.5, 0.5): sd * pdf(0)
    # (0.4, 0.4) adds [0.4, 0.5] x [0.4, 1.0] and [0.5, 1.0] x [0.4, 0.5]: 0.06 + 0.05
    got = expected_hvi(beyond, np.full((3, 2), EXACT), lower, upper)
    assert got[0] == pytest.approx(0.11) and np.all(got > 0)
    # uncertainty about a dominated mean gives it a chance, so a positive expectation
    assert expected_hvi(dominated[:1], np.full((1, 2), 0.2), lower, upper)[0] > 0


def test_the_expectation_matches_monte_carlo_over_moocore_with_three_objectives():
    rng = np.random.default_rng(7)
    front, ref = _front(rng, 25, 3), np.full(3, 1.1)
    lower, upper = nondominated_cells(front, ref)
    mean, sd = np.array([[0.3, 0.4, 0.5], [0.8, 0.8, 0.8]]), np.array([[0.2, 0.1, 0.3]] * 2)
    exact = expected_hvi(mean, sd, lower, upper)
    for i in range(2):
        draws = mean[i] + sd[i] * rng.standard_normal((3000, 3))
        hvi = _hvi(front, ref, draws)
        assert exact[i] == pytest.approx(hvi.mean(), abs=4 * hvi.std() / np.sqrt(len(hvi)))


def test_one_objective_is_expected_improvement():
    best, mean, sd = 0.3, np.array([[0.1], [0.3], [0.9]]), np.array([[0.2], [0.1], [0.4]])
    lower, upper = nondominated_cells(np.array([[best], [0.7]]), reference_point([[best]]))
    got = expected_hvi(mean, sd, lower, upper)
    np.testing.assert_allclose(got, expected_improvement(mean[:, 0], sd[:, 0] ** 2, best))


def test_reference_point_is_the_fronts_worst_plus_a_tenth_of_its_range():
    front = np.array([[0.0, 4.0], [2.0, 1.0], [3.0, 0.0]])
    np.testing.assert_allclose(reference_point(front), [3.3, 4.4])
    np.testing.assert_allclose(reference_point(front[:1]), [0.1, 4.1])  # at least 0.1 sd
    np.testing.assert_allclose(reference_point(front, 0.5), [4.5, 6.0])


def _searcher(seed=0, **args):
    space = Space({"x0": uniform(0, 1), "x1": uniform(0, 1)})
    return EHVISearcher(space, mode="min", rng=np.random.default_rng(seed), n_candidates=200,
                        **args)


def _value(config):
    x0, x1 = config["x0"], config["x1"]
    return np.array([x0, (1 + 4 * x1) * (1 - np.sqrt(x0 / (1 + 4 * x1)))])


def _observe(s, t, config):
    s.on_start(t, config)
    s.observe(t, 1, _value(config))
    s.on_end(t)


def test_same_seed_same_suggestions_and_pending_trials_spread_them():
    traces = []
    for _ in range(2):
        s = _searcher(n_init=4)
        configs = []
        for t in range(10):
            configs.append(s.suggest())
            _observe(s, t, configs[-1])
        traces.append(configs)
    assert traces[0] == traces[1]
    # two suggestions while the first is pending: the fantasy sends the second elsewhere
    first = s.suggest()
    s.on_start(10, first)
    second = s.suggest()
    s2 = _searcher(n_init=4)
    for t, c in enumerate(traces[0]):
        _observe(s2, t, c)
    s2.rng = np.random.default_rng(99)  # any stream: the maximizer is the same point
    alone = s2.suggest()
    gap = lambda a, b: np.hypot(a["x0"] - b["x0"], a["x1"] - b["x1"])  # noqa: E731
    assert gap(first, second) > 0.05 and gap(first, alone) < gap(second, alone)


def test_it_finds_the_front_of_a_two_objective_function():
    """With the reference point from the worst of the front (BoTorch's rule) it stays at
    f1 < 0.6 here, the hypervolume 0.68-0.75 on seeds 1-3."""
    s = _searcher(seed=1, n_init=5)
    for t in range(25):
        _observe(s, t, s.suggest())
    ys = np.vstack([y for _, y in s._y.values()])
    hv = moocore.hypervolume(ys, ref=[1.1, 1.1])
    # the front f2 = 1 - sqrt(f1) at x1 = 0 has 2/3 + 0.1 + 0.11 = 0.8767 below (1.1, 1.1)
    assert hv > 0.8


def test_arguments_are_checked():
    ctx = context(zdt1_curves(max_fidelity=9), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"ehvi: ref_margin must be a number in \(0, 10\]"):
        make_scheduler("ehvi", ctx, ref_margin=0)
    with pytest.raises(ValueError, match="ehvi: n_init must be a positive integer"):
        make_scheduler("ehvi", ctx, n_init=0)


def test_runs_the_conditional_space(tmp_path):
    conditional._run(tmp_path, "ehvi")
    conditional.check_results(tmp_path / "results.csv", 24)
