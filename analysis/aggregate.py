"""Pure functions that turn runs x grid arrays into curves: IQM, bootstrap CI, ranks, regret.

Every function takes arrays with runs on axis 0 (and grid points on axis 1) and
returns plain arrays; randomness (the bootstrap) comes from the Generator passed in.

Example:
    >>> x = np.array([[1.0], [2.0], [3.0], [4.0]])
    >>> float(iqm(x)[0])
    2.5
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

AGGREGATIONS = ("iqm", "mean", "median")
AGG_LABELS = {
    "iqm": "IQM, 95% bootstrap CI",  # stratified by task where pooled
    "mean": "mean ± standard error",
    "median": "median, 25-75% quantiles",
}


def resample(times: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Step interpolation: at each grid point the last value reported at or before it.

    NaN before the first report; held constant after the last one. ``times`` sorted.
    >>> resample(np.array([1.0, 3.0]), np.array([5.0, 7.0]), np.array([0.0, 1.0, 2.0, 9.0]))
    array([nan,  5.,  5.,  7.])
    """
    times = np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    idx = np.searchsorted(times, np.asarray(grid, dtype=float), side="right") - 1
    if values.size == 0:
        return np.full(idx.shape, np.nan)
    return np.where(idx >= 0, values[np.clip(idx, 0, None)], np.nan)


def iqm(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% (floor(n/4) cut at each end).

    >>> float(iqm(np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 100.0])))
    3.5
    """
    x = np.sort(np.asarray(x, dtype=float), axis=axis)  # as scipy.stats.trim_mean(x, 0.25)
    n = x.shape[axis]
    cut = int(0.25 * n)
    return np.take(x, np.arange(cut, n - cut), axis=axis).mean(axis=axis)


def bootstrap_ci(
    x: np.ndarray,
    stat: Callable[..., np.ndarray],
    rng: np.random.Generator,
    n_boot: int = 1000,
    level: float = 0.95,
    strata: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of ``stat`` over runs (axis 0 of ``x``).

    Without ``strata``, draws ``n_boot`` resamples of all runs with replacement (one
    ``rng.integers(0, n, (n_boot, n))`` call). With ``strata`` (one label per run, e.g.
    its task), each resample draws within every stratum as many runs as it holds, so
    each task keeps its weight and only the seeds vary (strata in sorted order, one
    ``rng.integers`` call each). Returns the (1-level)/2 and (1+level)/2 quantiles of
    ``stat(resample, axis=0)``.
    """
    x = np.asarray(x, dtype=float)
    if x.shape[0] == 0:
        raise ValueError("bootstrap_ci needs at least one run")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if strata is None:
        idx = rng.integers(0, x.shape[0], size=(n_boot, x.shape[0]))
    elif np.shape(strata) != (x.shape[0],):
        raise ValueError(f"strata must hold one label per run ({x.shape[0]}), "
                         f"got shape {np.shape(strata)}")
    else:
        idx = stratified_indices(np.asarray(strata), n_boot, rng)
    chunk = max(1, 2_000_000 // max(1, x.size))  # resamples per vectorized call
    boot = np.concatenate([stat(x[idx[i:i + chunk]], axis=1) for i in range(0, n_boot, chunk)])
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha], axis=0)
    return lo, hi


def stratified_indices(strata: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) row indices: each row resamples, within every stratum, its members
    with replacement (as many as it has).

    >>> idx = stratified_indices(np.array(["a", "b", "a"]), 4, np.random.default_rng(0))
    >>> bool(np.isin(idx[:, :2], [0, 2]).all() and (idx[:, 2] == 1).all())
    True
    """
    labels, codes = np.unique(strata, return_inverse=True)
    parts = []
    for s in range(len(labels)):
        members = np.flatnonzero(codes == s)
        parts.append(members[rng.integers(0, members.size, size=(n_boot, members.size))])
    return np.concatenate(parts, axis=1)


def centre(x: np.ndarray, how: str) -> np.ndarray:
    """The central value over runs (axis 0) of aggregation ``how``, without an interval."""
    x = np.asarray(x, dtype=float)
    funcs = {"iqm": iqm, "mean": np.mean, "median": np.median}
    if how not in funcs:
        raise ValueError(f"unknown aggregation {how!r}; choose one of {', '.join(AGGREGATIONS)}")
    return np.asarray(funcs[how](x, axis=0))


def aggregate(
    x: np.ndarray, how: str, rng: np.random.Generator, n_boot: int = 1000,
    strata: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centre, lower, upper) over runs (axis 0) for ``how`` in AGGREGATIONS.

    iqm: interquartile mean, 95% percentile-bootstrap CI (stratified by ``strata``, one
    label per run, if given); mean: mean +/- standard error (0 for one run); median:
    median with the 25% and 75% quantiles.
    """
    x = np.asarray(x, dtype=float)
    if how == "iqm":
        lo, hi = bootstrap_ci(x, iqm, rng, n_boot, strata=strata)
        return iqm(x), lo, hi
    if how == "mean":
        centre = x.mean(axis=0)
        from scipy import stats  # here, not at import: scipy.stats alone takes ~1 s to import
        sem = stats.sem(x, axis=0) if x.shape[0] > 1 else np.zeros_like(centre)
        return centre, centre - sem, centre + sem
    if how == "median":
        q25, q50, q75 = np.quantile(x, [0.25, 0.5, 0.75], axis=0)
        return q50, q25, q75
    raise ValueError(f"unknown aggregation {how!r}; choose one of {', '.join(AGGREGATIONS)}")


def normalized_regret(
    best: np.ndarray, optimum: float, reference: float, mode: str
) -> np.ndarray:
    """Regret scaled to [0, 1]: 0 at ``optimum``, 1 at ``reference`` (a bad value).

    NaN (no report yet) counts as 1; values beyond either end are clipped. If
    reference equals the optimum every reported value scores 0.
    >>> normalized_regret(np.array([np.nan, 80.0, 95.0]), 95.0, 75.0, "max").tolist()
    [1.0, 0.75, 0.0]
    """
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    sign = 1.0 if mode == "min" else -1.0
    best = sign * np.asarray(best, dtype=float)
    lo, hi = sign * optimum, sign * reference
    span = hi - lo
    out = (best - lo) / span if span > 0 else np.where(np.isnan(best), 1.0, 0.0)
    return np.clip(np.where(np.isnan(best), 1.0, out), 0.0, 1.0)


def ranks(scores: np.ndarray) -> np.ndarray:
    """Rank of each row (scheduler) per column, 1 = lowest score; ties get the average rank.

    NaN rows (a scheduler absent from a task) get NaN and do not take a rank.
    >>> ranks(np.array([[0.1], [0.3], [0.1]])).ravel().tolist()
    [1.5, 3.0, 1.5]
    """
    scores = np.asarray(scores, dtype=float)
    from scipy import stats
    return stats.rankdata(scores, axis=0, method="average", nan_policy="omit")


def average_rank(scores: np.ndarray) -> np.ndarray:
    """Average over tasks of each scheduler's rank: scores (schedulers, tasks, grid) -> (s, grid).

    Ranks are taken per task and grid point among the schedulers with a score there.
    """
    scores = np.asarray(scores, dtype=float)
    per_task = np.stack([ranks(scores[:, t, :]) for t in range(scores.shape[1])], axis=1)
    return np.nanmean(per_task, axis=1)
