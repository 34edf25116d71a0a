"""The GP searchers' data: targets standardized (or warped to normal scores) and the
subsample of observations a model is fit on."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np


def standardize(
    y: np.ndarray, loc: float, scale: float, warp: bool | None, on_table: bool
) -> np.ndarray:
    """Targets for the GP: (y - loc) / scale, or with `warp` the normal scores of their
    ranks (a Gaussian copula); `warp` None warps `on_table` only, when the values have one
    sign and span more than two decades (a loss from 1e-6 to 1 hides the good region; on
    Branin warping cost 2 of 10 seeds)."""
    if warp is None:
        a = np.abs(y)
        warp = (
            on_table
            and len(y) > 1
            and (np.all(y > 0) or np.all(y < 0))
            and a.max() > 100 * a.min()
        )
    if not warp or len(y) < 2:
        return (y - loc) / scale
    from scipy.stats import norm, rankdata

    return norm.ppf((rankdata(y) - 0.5) / len(y))


def subsample(
    rows: list[int],
    y: np.ndarray,
    k: int,
    rng: np.random.Generator,
    keep: Collection[int] = (),
) -> list[int]:
    """All `rows` if at most k, else the k/2 of least `y` (one value per row) and k/2 of
    the others drawn at random, in their order in `rows`. With `keep` (the last
    subsample's rows), all but one of the others come from `keep` where they can, one is
    drawn afresh: consecutive subsamples differ by a few rows (a warm-started fit has
    little to move), and the random half still renews over time."""
    if len(rows) <= k:
        return rows
    order = np.argsort(y, kind="stable")
    best = order[: k // 2]
    rest = order[k // 2 :]
    need = k - len(best)
    kept = np.flatnonzero(np.isin(np.asarray(rows)[rest], list(keep)))
    if len(kept) >= need:  # keep need - 1 of them
        kept = kept[np.sort(rng.choice(len(kept), size=need - 1, replace=False))]
    fresh = np.setdiff1d(np.arange(len(rest)), kept)
    extra = fresh[rng.choice(len(fresh), size=need - len(kept), replace=False)]
    return [rows[i] for i in np.sort(np.concatenate([best, rest[kept], rest[extra]]))]
