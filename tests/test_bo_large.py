"""bo's large-data mode (past `large_data_from` observations) and the exact shortcuts of its
acquisition: fantasies without the grown factor, candidates screened by an EI bound,
repeat rows skipped by theirs, hill climbs that stop where they stay."""

import numpy as np
import pytest

from simtune.core.schedulers.acquisition import (
    Acquisition,
    hill_climb,
    maximize_on_table,
    observed_ei_bound,
)
from simtune.core.schedulers.bo import GPSearcher
from simtune.core.schedulers.gp import GP, Fantasized, Hyperparameters
from simtune.core.schedulers.pool import FiniteConfigs
from simtune.core.space import Space, choice
from tests.test_bo import run

HP = Hyperparameters(lengthscales=np.array([0.3, 0.5, 0.8]), variance=1.4, noise=1e-3)


def _gp(n: int = 60, seed: int = 0) -> tuple[GP, np.random.Generator]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 3))
    return GP(x, np.sin(6 * x[:, 0]) + x[:, 1] ** 2 + 0.01 * rng.standard_normal(n), HP), rng


def test_fantasized_is_the_extended_posterior():
    gp, rng = _gp()
    x_p = rng.uniform(size=(3, 3))
    mean_p = gp.mean(x_p)
    grown, light = gp.extend(x_p, mean_p), Fantasized(gp, x_p, mean_p)
    xs = rng.uniform(size=(50, 3))
    for a, b in zip(grown.predict(xs), light.predict(xs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)
    assert light.predict(x_p)[1].max() < 2 * HP.noise  # the pending inputs are "observed"
    np.testing.assert_allclose(light.mean(xs), gp.mean(xs))  # kriging believer


@pytest.mark.parametrize("pending", [0, 3])
def test_top_scores_the_k_best_exactly_and_drops_only_rows_that_cannot_win(pending):
    gp, rng = _gp(seed=pending)
    if pending:
        x_p = rng.uniform(size=(pending, 3))
        gp = Fantasized(gp, x_p, gp.mean(x_p))
    score = Acquisition(gp, best=float(gp.y.min()), fidelity=None)
    x = rng.uniform(size=(400, 3))
    full, top = score(x), score.top(x, 3)
    best3 = np.argsort(-full)[:3]
    np.testing.assert_allclose(top[best3], full[best3], rtol=1e-9)
    kept = np.isfinite(top)
    np.testing.assert_allclose(top[kept], full[kept], rtol=1e-9)
    assert full[~kept].max() < np.sort(full)[-3]  # every dropped row is below the 3rd best
    assert kept.sum() < 200  # and most rows were dropped


def test_the_observed_ei_bound_holds_at_every_observation():
    gp, rng = _gp(n=80)
    x_p = rng.uniform(size=(3, 3))
    fantasized = Fantasized(gp, x_p, gp.mean(x_p))
    best = float(gp.fitted_mean().min())
    score = Acquisition(fantasized, best, None)
    bound = observed_ei_bound(fantasized, gp.fitted_mean(), best)
    assert np.all(score(gp.x) <= bound)
    assert bound.max() > 0


def test_repeat_rows_skipped_by_their_bound_change_no_choice():
    space = Space({"a": choice(list(range(8))), "b": choice(list(range(8)))})
    table = FiniteConfigs(space)
    x = table.encoded()
    rng = np.random.default_rng(1)
    used = rng.choice(table.n, size=30, replace=False)
    y = np.sin(3 * x[used].sum(1)) + 0.05 * rng.standard_normal(30)
    gp = GP(x[used], y, Hyperparameters(np.full(x.shape[1], 0.7), 1.0, 0.05))
    for row in used:
        table.mark_used(int(row))
    best = float(gp.fitted_mean().min())
    score = Acquisition(gp, best, None)
    bound = observed_ei_bound(gp, gp.fitted_mean(), best)
    picks = [
        maximize_on_table(score, table, np.random.default_rng(seed), 10, 2, used, b)
        for b in (None, bound)
        for seed in range(5)
    ]
    assert picks[:5] == picks[5:]


def test_a_hill_climb_that_skips_stuck_starts_ends_where_the_full_one_does():
    space = Space({"a": choice(list(range(10))), "b": choice(list(range(10)))})
    table = FiniteConfigs(space)
    x = table.encoded()
    value = -((x @ np.linspace(-1, 1, x.shape[1])) ** 2) + x[:, 3]  # a fixed score per row

    def climb(moving_only):
        starts = np.array([0, 37, 99, 50])
        return hill_climb(starts, value[starts].copy(),
                          lambda r, step: table.nearest_unused_rows(r, 8),
                          lambda r: value[r], 5, until_stuck=True, moving_only=moving_only)

    for a, b in zip(climb(False), climb(True), strict=True):
        np.testing.assert_array_equal(a, b)


def test_single_precision_neighbours_are_the_double_ones_on_one_hot_rows():
    space = Space({"a": choice(list("pqrst")), "b": choice(list("uvwxy")), "c": choice([1, 2])})
    table = FiniteConfigs(space)
    for row in (1, 7, 20):
        table.mark_used(row)
    rows = np.array([0, 12, 33])
    dist = ((table.encoded()[rows, None] - table.encoded()[None]) ** 2).sum(-1)
    for single in (False, True):
        near = table.nearest_unused_rows(rows, 6, single=single)
        for i, r in enumerate(near):
            assert not table.used[r].any()
            # no unused row outside the six is nearer than the farthest of them
            outside = np.setdiff1d(np.flatnonzero(~table.used), r)
            assert dist[i, outside].min() >= dist[i, r].max()


def _table_searcher(**kwargs) -> tuple[GPSearcher, Space, list[dict]]:
    space = Space({"a": choice(list(range(12))), "b": choice(list(range(12)))})
    table = FiniteConfigs(space)
    configs = [table.config(r) for r in range(table.n)]
    return GPSearcher(space, mode="min", rng=np.random.default_rng(0), candidates=configs,
                      **kwargs), space, configs


def _f(c):
    return (c["a"] - 7) ** 2 + 0.5 * (c["b"] - 3) ** 2


def test_past_large_data_from_the_hyperparameters_are_refit_every_third_observation():
    s, _, _ = _table_searcher(large_data_from=20, large_refit_every=3, n_candidates=50)
    fits = []
    for trial in range(40):
        config = s.suggest()
        if s._n_at_fit and (not fits or fits[-1] != s._n_at_fit):
            fits.append(s._n_at_fit)
        s.on_start(trial, config)
        s.observe(trial, 1, _f(config))
        s.on_end(trial)
    early, late = [n for n in fits if n < 20], [n for n in fits if n >= 20]
    assert np.all(np.diff(early) == 1)  # every observation before
    assert np.all(np.diff(late) == 3) and len(late) >= 5  # every third after


def test_large_mode_suggestions_are_rows_of_the_table_and_repeat_at_most_once():
    s, space, configs = _table_searcher(large_data_from=15, n_candidates=60)
    seen = []

    def f(c):
        seen.append(space.key(c))
        return _f(c)

    values = run(s, f, 70, n_workers=4)
    keys = {space.key(c) for c in configs}
    assert set(seen) <= keys and len(values) == 70
    assert max(seen.count(k) for k in set(seen)) <= 2  # max_repeats 1
    assert min(values) <= 0.5  # it finds the optimum's neighbourhood (0 at a=7, b=3)
