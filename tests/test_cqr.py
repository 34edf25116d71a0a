"""CQR (core/schedulers/cqr.py): the quantile model steers, the conformal correction
covers, same seed same suggestions, and the degenerate data sets."""

from __future__ import annotations

import numpy as np
import pytest

from simtune.core.schedulers.cqr import CQRSearcher, conformal_corrections
from tests.helpers import bowl, bowl_space, drive

FAST = {"n_estimators": 5, "n_candidates": 100, "min_conformal": 12}  # fast tests


def _cqr(seed: int = 0, **args) -> CQRSearcher:
    return CQRSearcher(bowl_space(), mode="min", rng=np.random.default_rng(seed),
                       **{**FAST, **args})


def test_the_quantile_model_steers_to_the_good_region():
    """After 15 observations (conformalized past min_conformal=12), CQR's next 10
    suggestions are better than the table's median configuration and than its own
    random initial design."""
    configs = drive(_cqr(), 25)
    space = bowl_space()
    every = [bowl({"x": x, "y": y}) for x in space["x"].values() for y in space["y"].values()]
    later = np.mean([bowl(c) for c in configs[15:]])
    assert later < np.median(every) and later < 0.6 * np.mean([bowl(c) for c in configs[:5]])
    assert len({(c["x"], c["y"]) for c in configs}) == 25


def test_same_seed_same_suggestions_other_seed_other():
    a, b, c = drive(_cqr(0), 8), drive(_cqr(0), 8), drive(_cqr(1), 8)
    assert a == b and a != c


def test_all_values_equal_or_one_observation_still_suggest():
    configs = drive(_cqr(min_points=1), 6, value=lambda c: 0.5)
    assert len({(c["x"], c["y"]) for c in configs}) == 6
    one = _cqr(min_points=1)
    drive(one, 1)
    assert one.suggest() is not None


def test_conformal_correction_covers_the_held_out_values():
    """Bands that are too narrow are widened (too wide ones narrowed) until each covers
    its nominal share 1 - 2 * level of the held-out values; the median stays."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    levels = np.array([1, 2, 3, 4, 5]) / 6
    narrow = np.tile([-0.1, -0.05, 0.0, 0.05, 0.1], (200, 1))
    shift = conformal_corrections(narrow, y, levels)
    assert shift[2] == 0 and -shift[0] == shift[4] > 0 and -shift[1] == shift[3] > 0
    for lo, hi in ((0, 4), (1, 3)):
        inside = (narrow[:, lo] + shift[lo] <= y) & (y <= narrow[:, hi] + shift[hi])
        assert inside.mean() >= 1 - 2 * levels[lo]
    wide = np.tile([-9.0, -8.0, 0.0, 8.0, 9.0], (200, 1))
    assert conformal_corrections(wide, y, levels)[0] > 0  # lower bound moves up


@pytest.mark.parametrize("args, message", [
    ({"quantiles": 4}, r"cqr: quantiles must be odd \(e.g. 5\), got 4"),
    ({"valid_fraction": 1.0}, r"cqr: valid_fraction must be a number in \(0, 1\), got 1.0"),
])
def test_bad_arguments_are_named(args, message):
    with pytest.raises(ValueError, match=message):
        _cqr(**args)
