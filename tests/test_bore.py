"""BORE (core/schedulers/bore.py): the classifier steers, same seed same suggestions,
the degenerate data sets, and the multi-fidelity rule of ASHA-BORE."""

from __future__ import annotations

import numpy as np
import pytest

from simtune.core.schedulers import create
from simtune.core.schedulers.bore import BoreSearcher, good_labels
from tests.helpers import bowl, bowl_space, drive

FAST = {"n_estimators": 10, "n_candidates": 100}  # a small classifier: fast tests


def _bore(seed: int = 0, **args) -> BoreSearcher:
    return BoreSearcher(bowl_space(), mode="min", rng=np.random.default_rng(seed),
                        **{**FAST, **args})


def test_the_classifier_steers_to_the_good_region():
    """After 15 observations, BORE's next 10 suggestions are better than the table's
    median configuration and than its own random initial design."""
    configs = drive(_bore(), 25)
    space = bowl_space()
    every = [bowl({"x": x, "y": y}) for x in space["x"].values() for y in space["y"].values()]
    later = np.mean([bowl(c) for c in configs[15:]])
    assert later < np.median(every) and later < 0.6 * np.mean([bowl(c) for c in configs[:6]])
    assert len({(c["x"], c["y"]) for c in configs}) == 25  # never twice on a finite space


def test_mode_max_flips_the_labels():
    s = BoreSearcher(bowl_space(), mode="max", rng=np.random.default_rng(0), **FAST)
    configs = drive(s, 25, value=lambda c: -bowl(c))
    assert np.mean([bowl(c) for c in configs[15:]]) < np.mean([bowl(c) for c in configs[:6]])


def test_same_seed_same_suggestions_other_seed_other():
    a, b, c = drive(_bore(0), 10), drive(_bore(0), 10), drive(_bore(1), 10)
    assert a == b and a != c


def test_all_values_equal_or_one_observation_still_suggest():
    """No good class (every value equal) or a single observation: a random unused
    configuration instead of a classifier that cannot be fitted."""
    configs = drive(_bore(min_points=1), 8, value=lambda c: 0.5)
    assert len({(c["x"], c["y"]) for c in configs}) == 8
    one = _bore(min_points=1)
    drive(one, 1)
    assert one.suggest() in [{"x": x, "y": y} for x in bowl_space()["x"].values()
                             for y in bowl_space()["y"].values()]


def test_failed_trials_count_as_the_worst():
    s = _bore()
    drive(s, 10, value=lambda c: float("nan") if c["x"] < 0.5 else bowl(c))
    x, y = s.data(1)
    assert np.isfinite(y).all() and len(y) == 10


def test_good_labels():
    assert good_labels(np.array([3.0, 1.0, 2.0, 4.0]), 0.25).tolist() == [0, 1, 0, 0]
    assert good_labels(np.array([1.0, 1.0, 1.0, 2.0]), 0.25).tolist() == [1, 1, 1, 0]
    assert good_labels(np.array([1.0, 1.0]), 0.25) is None


def test_asha_bore_fits_the_highest_fidelity_with_enough_data():
    sched = create("asha_bore", space=bowl_space(), metric="loss", mode="min", max_fidelity=9,
                   seed=0, searcher_args=FAST)
    s = sched.searcher
    assert s.refit_every == 5  # asha_bore's setting; scheduler=bore refits every time
    for trial_id in range(8):
        config = s.suggest()
        s.on_start(trial_id, config)
        s.observe(trial_id, 1, bowl(config))
        if trial_id < 5:
            s.observe(trial_id, 3, bowl(config))
    assert s.model_fidelity() == 1  # 5 observations at 3 are fewer than min_points=6
    s.observe(5, 3, 0.1)
    assert s.model_fidelity() == 3


@pytest.mark.parametrize("args, message", [
    ({"gamma": 0.0}, r"bore: gamma must be a number in \(0, 1\), got 0.0"),
    ({"n_local": -1}, r"bore: n_local must be an integer >= 0, got -1"),
    ({"refit_every": 0}, r"bore: refit_every must be a positive integer, got 0"),
])
def test_bad_arguments_are_named(args, message):
    with pytest.raises(ValueError, match=message):
        _bore(**args)
