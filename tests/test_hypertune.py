"""Hyper-Tune: the rung weights learned from ranking losses, the bracket distribution,
the ensemble, and the schedulers built on them (core/schedulers/hypertune.py)."""

from __future__ import annotations

import numpy as np
import pytest

from simtune.blackboxes.synthetic import BraninCurves
from simtune.core.schedulers import make_scheduler
from simtune.core.schedulers.gp import GP, Hyperparameters
from simtune.core.schedulers.hypertune import (
    Ensemble,
    HyperTuneSearcher,
    bracket_distribution,
    cross_validated_losses,
    discordant_fraction,
    joint_samples,
    rung_weights,
)
from simtune.core.space import Space, uniform
from simtune.core.trial import Report, Start, Trial
from tests.helpers import context

SPACE = Space({"a": uniform(0, 1), "b": uniform(0, 1)})


def _fed(low: str, seed: int, n: int = 30, n_top: int = 16) -> HyperTuneSearcher:
    """A searcher told levels 1, 3, 9 and fed `n` trials whose value at level 9 (the first
    `n_top` only) is a smooth function of the config; at levels 1 and 3 the same values
    shifted ("perfect": the same order) or shuffled among the trials ("shuffled")."""
    rng = np.random.default_rng(seed)
    s = HyperTuneSearcher(SPACE, mode="min", rng=np.random.default_rng(seed))
    s.set_fidelities([1, 3, 9], list(range(1, 10)))
    xs = rng.uniform(size=(n, 2))
    f = (xs[:, 0] - 0.3) ** 2 + (xs[:, 1] - 0.6) ** 2
    low_values = f + 1.0 if low == "perfect" else rng.permutation(f) + 1.0
    for t, x in enumerate(xs):
        s.on_start(t, {"a": float(x[0]), "b": float(x[1])})
        s.observe(t, 1, low_values[t] + 0.5)
        s.observe(t, 3, low_values[t])
        if t < n_top:
            s.observe(t, 9, float(f[t]))
        s.on_end(t)
    s.n_suggested = s.n_init  # past the initial design: the next suggestion fits the model
    return s


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_low_levels_that_rank_the_top_level_perfectly_get_the_weight(seed):
    """Observed over seeds 0-7: levels 1 and 3 together 0.88-1.00."""
    s = _fed("perfect", seed)
    assert s.suggest() is not None
    assert set(s.weights) <= {1, 3, 9} and abs(sum(s.weights.values()) - 1) < 1e-12
    assert s.weights[1] + s.weights[3] > 0.65


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shuffled_low_levels_leave_the_weight_on_the_top_level(seed):
    """Observed over seeds 0-7: level 9 gets 0.88-1.00."""
    s = _fed("shuffled", seed)
    s.suggest()
    assert s.weights.get(9, 0.0) > 0.8


def test_the_weights_stay_on_the_lowest_level_until_a_second_has_min_points():
    s = _fed("perfect", 0, n_top=5)  # level 9 has 5 < min_points = 6 values
    s.observe(0, 3, 1.0)
    s.suggest()
    assert len(s._y[3]) >= 6  # level 3 qualifies: it is the highest with 6 values
    assert set(s.weights) <= {1, 3}
    empty = HyperTuneSearcher(SPACE, mode="min", rng=np.random.default_rng(0))
    empty.set_fidelities([1, 3], [1, 2, 3])
    for t in range(3):
        empty.on_start(t, {"a": t / 3, "b": 0.5})
        empty.observe(t, 1, float(t))
    empty.n_suggested = empty.n_init
    empty.suggest()
    assert empty.weights == {1: 1.0}
    assert empty.bracket_weights(2) is None


def test_same_seed_same_weights_and_suggestion():
    a, b = _fed("perfect", 4), _fed("perfect", 4)
    assert a.suggest() == b.suggest()
    assert a.weights == b.weights


def test_discordant_fraction():
    y = np.array([0.1, 0.5, 0.3, 0.9])
    swapped = np.array([0.1, 0.3, 0.5, 0.9])  # the closest pair (0.5, 0.3) the other way
    samples = np.stack([y, -y, y + 10, swapped], axis=1)
    assert discordant_fraction(samples, y).tolist() == [0.0, 1.0, 0.0, pytest.approx(1 / 6)]


def test_rung_weights_count_wins_and_ties():
    losses = np.array([[0.1, 0.2, 0.3, 0.0],
                       [0.2, 0.1, 0.3, 0.5],
                       [0.3, 0.3, 0.1, 0.0]])
    # wins: level 0 in samples 0 and 3, level 1 in 1, level 2 in 2 and 3 (a tie)
    assert rung_weights(losses).tolist() == [0.4, 0.2, 0.4]


def test_bracket_distribution_is_theta_over_the_starting_level():
    w = bracket_distribution([1, 3, 9, 27], {1: 0.25, 3: 0.75}, n_brackets=4)
    assert w.tolist() == [0.5, 0.5]  # 0.25 / 1 and 0.75 / 3; no bracket beyond level 3
    capped = bracket_distribution([1, 3, 9], {1: 0.5, 9: 0.5}, n_brackets=2)
    assert capped.tolist() == [1.0, 0.0]  # level 3 has no weight, 9 is beyond the cap
    assert bracket_distribution([1, 3, 9], {9: 1.0}, 2).tolist() == [1.0, 0.0]  # nothing: lowest


def test_the_ensemble_mixes_means_and_squared_weights_variances():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(8, 2))
    hp = Hyperparameters.default(2)
    g1, g2 = GP(x, np.sin(4 * x[:, 0]), hp), GP(x, x[:, 1], hp)
    x_new = rng.uniform(size=(5, 2))
    mean, var = Ensemble({1: g1, 3: g2}, {1: 0.3, 3: 0.7}).predict(x_new)
    (m1, v1), (m2, v2) = g1.predict(x_new), g2.predict(x_new)
    np.testing.assert_allclose(mean, 0.3 * m1 + 0.7 * m2)
    np.testing.assert_allclose(var, 0.09 * v1 + 0.49 * v2)


def test_joint_samples_have_the_posterior_mean_and_covariance():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(6, 2))
    gp = GP(x, np.cos(3 * x).sum(1), Hyperparameters(np.array([0.4, 0.4]), 1.0, 1e-4))
    at = rng.uniform(size=(3, 2))
    draws = joint_samples(gp, at, 20000, np.random.default_rng(2))
    mean, var = gp.predict(at)
    np.testing.assert_allclose(draws.mean(1), mean, atol=0.03)
    np.testing.assert_allclose(draws.var(1), var, rtol=0.1, atol=1e-3)
    # cross-validation of a GP on a smooth function orders its held-out points well
    xs = rng.uniform(size=(20, 2))
    losses = cross_validated_losses(xs, xs.sum(1), Hyperparameters.default(2), 30, rng)
    assert losses.shape == (30,) and losses.mean() < 0.2


def test_bad_arguments_are_named():
    ctx = context(BraninCurves(max_fidelity=27), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^hypertune: min_points must be an integer >= 4 .*"
                                         r"got 3$"):
        make_scheduler("hypertune", ctx, searcher_args={"min_points": 3})
    with pytest.raises(ValueError, match=r"^hypertune: n_samples must be a positive integer"):
        make_scheduler("hypertune", ctx, searcher_args={"n_samples": 0})
    with pytest.raises(ValueError, match=r"^hypertune_hyperband: searcher must be hypertune"):
        make_scheduler("hypertune_hyperband", ctx, searcher="random")


def test_hyperband_draws_brackets_from_the_rung_weights():
    """Once the searcher has weights, bracket k is drawn ~ theta_k / r_k: all weight on
    level 1 makes every new trial start in bracket 0 (grace period 1)."""
    ctx = context(BraninCurves(max_fidelity=27), np.random.default_rng(0))
    hb = make_scheduler("hypertune_hyperband", ctx)
    assert hb.metadata()["searcher"]["name"] == "hypertune"
    assert hb.searcher.levels == [1, 3, 9, 27] and len(hb.rung_systems) == 4
    default = [hb._choose_bracket() for _ in range(200)]
    assert len(set(default)) > 1  # Hyperband's distribution before any weight
    hb.searcher.weights = {1: 0.9, 9: 0.1}  # as ranking losses at level 9 would set them
    assert hb.searcher.bracket_weights(4) is None  # not learned yet: Hyperband's
    hb.searcher._signature = (3, 6)
    assert hb.searcher.bracket_weights(4) == pytest.approx([0.9 / (0.9 + 0.1 / 9), 0.0,
                                                            0.1 / 9 / (0.9 + 0.1 / 9)])
    tail = hb.bracket_probs[3] / hb.bracket_probs.sum()
    draws = np.bincount([hb._choose_bracket() for _ in range(2000)], minlength=4) / 2000
    assert draws[1] == 0 and draws[0] > 0.9 * (1 - tail) - 0.05
    assert abs(draws[3] - tail) < 0.05  # the tail keeps Hyperband's probability


def test_asha_decides_the_rungs_and_the_searcher_learns_the_levels():
    ctx = context(BraninCurves(max_fidelity=27), np.random.default_rng(0))
    ht = make_scheduler("hypertune", ctx)
    assert ht.rung_levels == [1, 3, 9] and ht.searcher.levels == [1, 3, 9, 27]
    rng = np.random.default_rng(3)
    for t in range(30):
        s = ht.suggest(t)
        assert isinstance(s, Start)
        trial = Trial(t, s.config)
        ht.on_start(trial)
        for f in range(1, 28):
            if ht.on_report(trial, Report(t, 0.0, f, {"loss": float(rng.uniform())})).value \
                    != "continue":
                break
        ht.on_complete(trial, Report(t, 0.0, f, {}))
    assert set(ht.searcher._y) <= {1, 3, 9, 27} and len(ht.searcher._y[1]) == 30
    assert not ht.searcher._pending


def test_a_crashed_conditional_run_resumes_byte_identically(tmp_path):
    """A conditional space (the optimizer's branches), 3 workers: every trial valid, and a
    run that crashed after 40 reports resumes to the same results.csv bytes."""
    from tests.test_conditional_schedulers import TRIALS, _Crash, _run, check_results

    TRIALS["hypertune"] = 14
    try:
        _run(tmp_path / "ref", "hypertune")
        check_results(tmp_path / "ref" / "results.csv", 14)
        expected = (tmp_path / "ref" / "results.csv").read_bytes()
        with pytest.raises(_Crash):
            _run(tmp_path / "run", "hypertune", crash_after=40)
        partial = (tmp_path / "run" / "results.csv").read_bytes()
        assert len(partial) < len(expected) and expected.startswith(partial)
        _run(tmp_path / "run", "hypertune")
    finally:
        TRIALS.pop("hypertune")
    assert (tmp_path / "run" / "results.csv").read_bytes() == expected
