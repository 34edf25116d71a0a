"""GP-based BO: expected improvement, pending trials, finite tables, NaN, a sanity check."""

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

from simtune.blackboxes.synthetic import branin
from simtune.core.encoding import encode
from simtune.core.schedulers.acquisition import expected_improvement, hill_climb
from simtune.core.schedulers.bo import GPSearcher, subsample
from simtune.core.schedulers.pool import FiniteConfigs
from simtune.core.schedulers.random import RandomSearcher
from simtune.core.schedulers.searcher import nan_as_worst
from simtune.core.space import Space, choice, loguniform, randint, uniform

BRANIN = Space({"x1": uniform(-5.0, 10.0), "x2": uniform(0.0, 15.0)})
BRANIN_MIN = 0.397887


def run(searcher, f, n: int, n_workers: int = 1) -> list[float]:
    """Evaluate `n` suggestions of `searcher` on `f`, `n_workers` pending at a time
    (the oldest finishes first). Returns the values in evaluation order."""
    pending, values, trial = [], [], 0
    while len(values) < n:
        while len(pending) < n_workers and trial < n:
            config = searcher.suggest()
            if config is None:
                break
            searcher.on_start(trial, config)
            pending.append((trial, config))
            trial += 1
        if not pending:
            break
        tid, config = pending.pop(0)
        values.append(f(config))
        searcher.observe(tid, 1, values[-1])
        searcher.on_end(tid)
    return values


def f_branin(c):
    return branin(c["x1"], c["x2"])


def test_expected_improvement_closed_form_matches_integration():
    for mean, sd, best in [(0.0, 1.0, 0.5), (1.0, 0.3, 0.2), (-2.0, 2.0, -1.0)]:
        numeric, _ = quad(
            lambda f, m=mean, s=sd, b=best: max(b - f, 0.0) * norm.pdf(f, m, s),
            mean - 12 * sd,
            mean + 12 * sd,
            points=[best],
        )
        ei = expected_improvement(np.array([mean]), np.array([sd**2]), best)[0]
        assert ei == pytest.approx(numeric, rel=1e-6, abs=1e-12)


def test_expected_improvement_properties():
    means = np.linspace(-2, 2, 9)
    ei = expected_improvement(means, np.full(9, 0.5), best=0.0)
    assert (ei >= 0).all()
    assert (np.diff(ei) < 0).all()  # a lower mean is better
    by_var = expected_improvement(np.zeros(5), np.array([0.01, 0.1, 1, 10, 100]), best=0.0)
    assert (np.diff(by_var) > 0).all()  # at the incumbent, more uncertainty is better
    # no uncertainty: the plain improvement
    np.testing.assert_allclose(
        expected_improvement(means, np.full(9, 1e-20), 0.0), np.maximum(-means, 0.0), atol=1e-9
    )


def test_pending_points_are_not_suggested_again_with_4_workers():
    s = GPSearcher(BRANIN, mode="min", rng=np.random.default_rng(0), n_init=8)
    run(s, f_branin, 12)
    batch = []
    for trial in range(12, 16):  # four workers start one after the other, nothing reported
        config = s.suggest()
        s.on_start(trial, config)
        batch.append(encode(BRANIN, config))
    batch = np.array(batch)
    gaps = [np.linalg.norm(a - b) for i, a in enumerate(batch) for b in batch[i + 1 :]]
    assert min(gaps) > 0.02, gaps


def test_without_pending_registration_suggestions_pile_up():
    """The control for the test above: the same searcher not told about pending
    trials proposes nearly the same point four times (so the spread above is the
    fantasies' doing)."""
    s = GPSearcher(BRANIN, mode="min", rng=np.random.default_rng(0), n_init=8)
    run(s, f_branin, 12)
    batch = np.array([encode(BRANIN, s.suggest()) for _ in range(4)])
    gaps = [np.linalg.norm(a - b) for i, a in enumerate(batch) for b in batch[i + 1 :]]
    assert min(gaps) < 0.02, gaps


def test_finite_table_never_repeats_evaluated_or_pending_configs():
    space = Space({"a": choice(list(range(6))), "b": choice(["x", "y", "z"]), "c": randint(1, 4)})
    rng = np.random.default_rng(0)
    table = [
        dict(zip("abc", v, strict=True))
        for v in {
            (int(a), str(b), int(c))
            for a, b, c in zip(
                rng.integers(0, 6, 60),
                rng.choice(["x", "y", "z"], 60),
                rng.integers(1, 5, 60),
                strict=True,
            )
        }
    ]
    table.sort(key=lambda c: (c["a"], c["b"], c["c"]))
    s = GPSearcher(space, mode="max", rng=np.random.default_rng(1), candidates=table, n_init=3,
                   max_repeats=0)
    seen = []

    def f(c):
        seen.append(space.key(c))
        return c["a"] * 1.0 + (c["b"] == "y") - 0.3 * c["c"]

    run(s, f, 1000, n_workers=4)
    keys = {space.key(c) for c in table}
    assert len(seen) == len(table)
    assert len(set(seen)) == len(seen)
    assert set(seen) == keys
    assert s.suggest() is None


def test_finite_space_without_table_is_enumerated():
    space = Space({"a": choice([1, 2, 3]), "b": choice([1, 2, 3, 4])})
    s = GPSearcher(space, mode="min", rng=np.random.default_rng(0), n_init=2, max_repeats=0)
    values = run(s, lambda c: (c["a"] - 2) ** 2 + (c["b"] - 3) ** 2, 50, n_workers=4)
    assert len(values) == 12 and s.suggest() is None


def test_nan_values_count_as_the_worst_and_do_not_break_it():
    s = GPSearcher(BRANIN, mode="min", rng=np.random.default_rng(2), n_init=4)

    def f(c):
        return np.nan if c["x1"] > 5 else f_branin(c)

    values = run(s, f, 25, n_workers=2)
    assert len(values) == 25 and np.isnan(values).any()
    config = s.suggest()
    BRANIN.validate(config)


def test_mode_max_of_minus_f_is_mode_min_of_f():
    a = GPSearcher(BRANIN, mode="min", rng=np.random.default_rng(3), n_init=5)
    b = GPSearcher(BRANIN, mode="max", rng=np.random.default_rng(3), n_init=5)
    va = run(a, f_branin, 15)
    vb = run(b, lambda c: -f_branin(c), 15)
    np.testing.assert_allclose(va, [-v for v in vb])


def test_mixed_space_suggestions_are_valid():
    space = Space(
        {"lr": loguniform(1e-4, 1e-1), "n": randint(1, 8), "opt": choice(["a", "b"]), "const": 3}
    )
    s = GPSearcher(space, mode="min", rng=np.random.default_rng(4), n_init=3)
    run(
        s,
        lambda c: (np.log10(c["lr"]) + 2.5) ** 2 + (c["n"] - 5) ** 2 + (c["opt"] == "a"),
        20,
        n_workers=3,
    )
    for _ in range(3):
        space.validate(s.suggest())


def test_fidelity_aware_uses_every_fidelity_and_suggests():
    s = GPSearcher(
        BRANIN,
        mode="min",
        rng=np.random.default_rng(5),
        n_init=4,
        fidelity_aware=True,
        fidelities=[1, 3, 9, 27],
    )
    s.set_fidelities([1, 3, 9], [1, 3, 9, 27])  # as ASHA tells it its rung levels
    for trial in range(10):
        config = s.suggest()
        BRANIN.validate(config)
        s.on_start(trial, config)
        for f in (1, 3, 9, 27):
            s.observe(trial, f, f_branin(config) + 10.0 / f)
        s.on_end(trial)
    assert len(s._rows_y) == 30  # the three rung levels of ten trials; 27 is not a level
    BRANIN.validate(s.suggest())


def test_unknown_trial_report_is_a_readable_error():
    s = GPSearcher(BRANIN, mode="min", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="never started"):
        s.observe(7, 1, 0.5)


def test_bo_beats_random_search_on_branin():
    """Sanity check (the rigorous comparison is the quality suite): median simple regret
    after 30 evaluations over 5 seeds. 30 uniform points leave Branin's regret in the
    units (these seeds: median 2.7); a GP fits Branin's smooth surface well enough to get
    within 0.1 of the optimum (measured: median 0.001), so a factor 10 is a safe margin."""
    regrets = {"bo": [], "random": []}
    for seed in range(5):
        bo = GPSearcher(BRANIN, mode="min", rng=np.random.default_rng(seed), n_init=5)
        rs = RandomSearcher(BRANIN, rng=np.random.default_rng(seed))
        regrets["bo"].append(min(run(bo, f_branin, 30, n_workers=2)) - BRANIN_MIN)
        regrets["random"].append(min(run(rs, f_branin, 30, n_workers=2)) - BRANIN_MIN)
    med_bo, med_rs = np.median(regrets["bo"]), np.median(regrets["random"])
    assert med_bo < 0.1, regrets
    assert med_bo < med_rs / 10, regrets


def test_max_repeats_lets_evaluated_rows_come_back_a_bounded_number_of_times():
    space = Space({"a": choice(list(range(6))), "b": choice(["x", "y", "z"])})
    table = [{"a": a, "b": b} for a in range(6) for b in "xyz"]
    s = GPSearcher(space, mode="min", rng=np.random.default_rng(1), candidates=table,
                   n_init=3, max_repeats=1, tie_lengthscales=True, refit_every=1)
    seen = []
    rng = np.random.default_rng(2)

    def f(c):  # noisy: re-evaluating the best rows is worth something
        seen.append(space.key(c))
        return (c["a"] - 2) ** 2 + (c["b"] == "y") + rng.normal(0, 0.5)

    run(s, f, 100, n_workers=1)
    counts = {k: seen.count(k) for k in set(seen)}
    assert max(counts.values()) == 2 and len(counts) == len(table)
    assert s.suggest() is None


def test_bo_scheduler_takes_and_records_the_searcher_parameters():
    """bo takes GPSearcher's parameters (no list of its own); metadata lists each one,
    its own defaults (tied lengthscales, ...) where they differ from the searcher's."""
    from simtune.core.schedulers import make_scheduler

    ctx = {"space": BRANIN, "metric": "loss", "mode": "min", "objectives": {"loss": "min"},
           "fidelities": [1], "rng": np.random.default_rng(0), "candidates": None}
    args = make_scheduler("bo", ctx, n_init=7).metadata()["searcher"]["args"]
    assert args["n_init"] == 7 and args["tie_lengthscales"] is True and args["refit_every"] == 1
    assert args["n_candidates"] == 500 and "space" not in args and "rng" not in args
    with pytest.raises(ValueError, match="scheduler 'bo' has no parameter 'n_inits'"):
        make_scheduler("bo", ctx, n_inits=7)


def test_cost_aware_ei_prefers_cheap_configurations():
    """Values are noise; training time grows as e^a. EI per second (cost_aware) then
    suggests small a; plain EI does not care."""
    space = Space({"a": choice(list(range(10))), "b": choice(list(range(10)))})
    table = [{"a": a, "b": b} for a in range(10) for b in range(10)]

    def mean_a(cost_aware):
        s = GPSearcher(space, mode="min", rng=np.random.default_rng(0), candidates=table,
                       n_init=10, cost_aware=cost_aware, tie_lengthscales=True)
        noise = np.random.default_rng(1)
        chosen = []
        for t in range(40):
            c = s.suggest()
            s.on_start(t, c)
            s.observe(t, 1, float(noise.normal()))
            s.on_cost(t, float(np.exp(c["a"])))
            s.on_end(t)
            if t >= 10:
                chosen.append(c["a"])
        return np.mean(chosen)

    assert mean_a(True) < mean_a(False) - 1.5


def test_outputs_spanning_decades_are_warped_to_normal_scores():
    """warp_outputs=None warps a table's values of one sign spanning more than 100x (a
    loss from 1e-6 to 1) to the normal scores of their ranks; accuracies stay as they are."""
    from scipy.stats import norm

    table = [{"a": a} for a in range(4)]
    space = Space({"a": choice(list(range(4)))})
    s = GPSearcher(space, mode="min", rng=np.random.default_rng(0), warp_outputs=None,
                   candidates=table)
    loss = np.array([1e-6, 1e-3, 0.5, 1.0])
    np.testing.assert_allclose(s._standardize(loss), norm.ppf([0.125, 0.375, 0.625, 0.875]))
    continuous = GPSearcher(BRANIN, mode="min", rng=np.random.default_rng(0), warp_outputs=None)
    np.testing.assert_allclose(continuous._standardize(loss), loss)  # tables only
    accuracy = -np.array([91.0, 85.0, 10.0, 60.0])  # mode max: signs flipped, 9x span
    s._y_loc, s._y_scale = float(np.median(accuracy)), float(accuracy.std())
    np.testing.assert_allclose(s._standardize(accuracy), (accuracy - s._y_loc) / s._y_scale)
    never = GPSearcher(BRANIN, mode="min", rng=np.random.default_rng(0), warp_outputs=False)
    np.testing.assert_allclose(never._standardize(loss), loss)  # loc 0, scale 1 before a fit


def test_hill_climb_moves_each_start_to_its_best_neighbour_until_stuck():
    calls = []

    def neighbours(xs, step):  # one step left and right on the integers
        calls.append(step)
        return np.stack([xs - 1, xs + 1], axis=1)

    def score(xs):
        return -((xs - 7.0) ** 2)

    xs, vs = hill_climb(np.array([0, 20]), score(np.array([0, 20])), neighbours, score, 30,
                        until_stuck=True)
    assert xs.tolist() == [7, 7] and vs.tolist() == [0.0, 0.0]
    assert len(calls) == 14  # 13 moves of the start at 20, then one step where none moves
    xs, _ = hill_climb(np.array([0]), score(np.array([0])), neighbours, score, 3)
    assert xs.tolist() == [3]  # three steps, no more


def test_nearest_unused_rows_skips_used_rows():
    table = FiniteConfigs(Space({"x": randint(0, 9)}))
    for row in (4, 6):
        table.mark_used(row)
    near = table.nearest_unused_rows(np.array([5]), 3)
    assert sorted(near[0].tolist()) == [3, 5, 7]  # 4 and 6 are nearer but used


def test_nan_as_worst_is_the_worst_finite_value_seen():
    y = np.array([1.0, np.nan, 3.0, np.inf])
    assert nan_as_worst(y).tolist() == [1.0, 3.0, 3.0, 3.0]
    assert np.isnan(y[1])  # a copy
    assert nan_as_worst([np.nan], among=[2.0, np.nan, 5.0]).tolist() == [5.0]
    assert nan_as_worst([np.nan, np.nan]).tolist() == [0.0, 0.0]  # nothing finite yet


def test_subsample_keeps_the_best_half_and_draws_the_rest_in_order():
    rows = list(range(10, 20))
    y = np.array([5.0, 0.0, 9.0, 1.0, 7.0, 8.0, 6.0, 2.0, 3.0, 4.0])
    assert subsample(rows, y, 10, np.random.default_rng(0)) == rows  # all fit
    kept = subsample(rows, y, 4, np.random.default_rng(0))
    assert len(kept) == 4 and kept == sorted(kept)
    assert {11, 13} <= set(kept)  # the two least values
    assert len(set(kept) - {11, 13}) == 2


def test_nearest_unused_rows_skips_rows_used_after_the_first_call():
    table = FiniteConfigs(Space({"x": randint(0, 9)}))
    assert sorted(table.nearest_unused_rows(np.array([5]), 3)[0].tolist()) == [4, 5, 6]
    table.mark_used(4)
    table.mark_used(6)
    assert sorted(table.nearest_unused_rows(np.array([5]), 3)[0].tolist()) == [3, 5, 7]


def test_subsample_with_keep_changes_few_rows_between_calls():
    """The random half comes from `keep` but for one row drawn afresh: one more row
    changes the subsample by at most three rows (one out of the best half, one drawn
    afresh), where a fresh draw changes ~half; without `keep` it is the plain draw."""
    rng = np.random.default_rng(0)
    y = rng.standard_normal(300)
    first = subsample(list(range(299)), y[:299], 100, np.random.default_rng(1))
    assert first == subsample(list(range(299)), y[:299], 100, np.random.default_rng(1),
                              keep=())
    sticky = subsample(list(range(300)), y, 100, np.random.default_rng(2), keep=set(first))
    fresh = subsample(list(range(300)), y, 100, np.random.default_rng(2))
    best = set(np.argsort(y, kind="stable")[:50].tolist())
    for rows in (sticky, fresh):
        assert len(rows) == 100 == len(set(rows)) and rows == sorted(rows) and best <= set(rows)
    assert 1 <= len(set(sticky) - set(first)) <= 2
    assert len(set(fresh) - set(first)) > 10
