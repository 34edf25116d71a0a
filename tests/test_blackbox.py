"""TabularBlackbox lookups on tables with holes: interior NaNs and seeds of unequal length."""

from __future__ import annotations

import numpy as np
import pytest

from simtune.blackboxes.blackbox import TIME, TabularBlackbox
from simtune.core.space import Space, choice

NAN = np.nan


def table(acc: list[list[list[float]]]) -> TabularBlackbox:
    """Two configs x two seeds x fidelities 1..5; elapsed time = fidelity (NaN where acc is)."""
    acc_arr = np.array(acc, dtype=float)
    elapsed = np.where(np.isfinite(acc_arr), np.arange(1, 6, dtype=float), NAN)
    return TabularBlackbox.from_arrays(
        name="toy", task="holes", space=Space({"x": choice(["a", "b"])}),
        configs=[{"x": "a"}, {"x": "b"}], seeds=[0, 1], fidelities=[1, 2, 3, 4, 5],
        objectives={"acc": "max"}, values={"acc": acc_arr, TIME: elapsed},
    )


HOLES = table([
    [[1, 2, NAN, 4, 5], [10, 20, 30, 40, 50]],  # "a": seed 0 lacks epoch 3 only
    [[1, 2, 3, NAN, NAN], [10, 20, 30, 40, 50]],  # "b": seed 0 stopped after epoch 3
])


def test_an_interior_nan_does_not_cut_the_curve():
    curve = HOLES.curve({"x": "a"}, 0)
    assert curve.fidelities == [1, 2, 4, 5]  # the hole is skipped; epochs 4 and 5 remain
    assert curve.metrics["acc"] == [1, 2, 4, 5] and curve.elapsed == [1, 2, 4, 5]
    assert HOLES.evaluate({"x": "a"}, fidelity=5, seed=0)["acc"] == 5
    gap = r"fidelity 3 not available; epoch takes values 1, 2, 4, 5$"
    with pytest.raises(ValueError, match=gap):
        HOLES.evaluate({"x": "a"}, fidelity=3, seed=0)
    assert HOLES.curve({"x": "b"}, 0).fidelities == [1, 2, 3]


def test_seed_none_averages_seeds_whose_curves_differ_in_length():
    b = {"x": "b"}
    assert HOLES.evaluate(b, fidelity=2)["acc"] == pytest.approx((2 + 20) / 2)
    assert HOLES.evaluate(b, fidelity=5)["acc"] == 50  # only seed 1 reached epoch 5
    whole = HOLES.evaluate(b)
    assert whole["acc"].tolist() == [5.5, 11, 16.5, 40, 50]
    assert whole[TIME].tolist() == [1, 2, 3, 4, 5]
    a = HOLES.evaluate({"x": "a"})
    assert a["acc"].tolist() == [5.5, 11, 30, 22, 27.5]  # epoch 3: seed 1 alone


def test_full_curves_are_unchanged_and_equal_the_fast_path():
    full = table([[[1, 2, 3, 4, 5]] * 2, [[5, 4, 3, 2, 1]] * 2])
    curve = full.curve({"x": "b"}, 1)
    assert (curve.fidelities, curve.metrics["acc"]) == ([1, 2, 3, 4, 5], [5, 4, 3, 2, 1])
    for f in range(1, 6):
        assert full.evaluate({"x": "b"}, fidelity=f, seed=1)["acc"] == 6 - f
        assert full.evaluate({"x": "b"}, fidelity=f)["acc"] == 6 - f
