"""Pure helpers of multi-objective optimization: Pareto fronts, crowding, hypervolume,
and which objectives a multi-objective scheduler optimizes (select_objectives, and the
MultiObjective mixin that keeps them).

Every function takes an array of shape (n, m) of objective vectors, all to be
minimized (see `to_min` to flip objectives whose mode is "max").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.schedulers.base import check_mode


def to_min(values: Sequence[Mapping[str, float]], objectives: Mapping[str, str]) -> np.ndarray:
    """Rows of `values` (name -> value dicts) as an (n, m) array to minimize.

    Objectives with mode "max" are negated; a missing or NaN value becomes +inf (worst).
    """
    signs = np.array([1.0 if objectives[k] == "min" else -1.0 for k in objectives])
    y = np.array([[v.get(k, np.nan) for k in objectives] for v in values], dtype=float).reshape(
        len(values), len(objectives)
    )
    y = y * signs
    y[np.isnan(y)] = np.inf
    return y


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """True if `a` is no worse than `b` in every objective and better in one."""
    return bool(np.all(a <= b) and np.any(a < b))


def nondominated_sort(
    y: np.ndarray, enough: int | None = None, until: int | None = None
) -> list[np.ndarray]:
    """Fronts of `y` (n, m), best first: arrays of row indices in increasing order.

    Equal rows do not dominate each other, so they share a front. With `enough`, stop
    once the fronts found hold at least `enough` rows, or (with `until`) once row `until`
    is placed. Two objectives: each front is
    one vectorized scan of the rows sorted by (f1, f2); more: the O(m n^2) dominance
    matrix of the fast sort (Deb et al. 2002).
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    if n == 0:
        return []
    limit = n if enough is None else min(n, enough)
    if y.shape[1] <= 2:
        return _sort_2d(y if y.shape[1] == 2 else np.column_stack([y, y]), limit, until)
    le = (y[:, None, :] <= y[None, :, :]).all(axis=2)
    lt = (y[:, None, :] < y[None, :, :]).any(axis=2)
    dom = le & lt  # dom[i, j]: i dominates j
    n_dominators = dom.sum(axis=0)
    fronts: list[np.ndarray] = []
    placed = 0
    current = np.flatnonzero(n_dominators == 0)
    while current.size and placed < limit:
        fronts.append(current)
        if until is not None and until in current:
            break
        placed += current.size
        n_dominators = n_dominators - dom[current].sum(axis=0)
        n_dominators[current] = -1  # placed
        current = np.flatnonzero(n_dominators == 0)
    return fronts


def _sort_2d(y: np.ndarray, limit: int, until: int | None) -> list[np.ndarray]:
    """Fronts of two objectives: on the distinct rows sorted by (f1, f2), a row is
    non-dominated among those left iff its f2 is below the f2 of every row before it."""
    order = np.lexsort((y[:, 1], y[:, 0]))
    ys = y[order]
    new = np.concatenate([[True], (ys[1:] != ys[:-1]).any(axis=1)])
    uniq = ys[new]
    inverse = np.empty(len(y), dtype=int)
    inverse[order] = np.cumsum(new) - 1
    counts = np.bincount(inverse, minlength=len(uniq))
    left = np.arange(len(uniq))
    front_of = np.full(len(uniq), -1)
    placed, k = 0, 0
    target = -1 if until is None else int(inverse[until])
    while left.size and placed < limit and (target < 0 or front_of[target] < 0):
        f2 = uniq[left, 1]
        before = np.concatenate([[np.inf], np.minimum.accumulate(f2)[:-1]])
        first = f2 < before
        first[0] = True  # least f1, then least f2: never dominated (also when f2 is inf)
        front_of[left[first]] = k
        placed += int(counts[left[first]].sum())
        left = left[~first]
        k += 1
    rows = front_of[inverse]
    by_front = np.argsort(rows, kind="stable")
    sizes = np.bincount(rows[rows >= 0], minlength=k)
    start = int((rows < 0).sum())  # rows left unsorted (`enough` reached) come first
    return np.split(by_front[start:], np.cumsum(sizes)[:-1])


def pareto_ranks(y: np.ndarray) -> np.ndarray:
    """Front index of each row of `y` (0 = non-dominated)."""
    ranks = np.empty(len(y), dtype=int)
    for k, front in enumerate(nondominated_sort(y)):
        ranks[front] = k
    return ranks


def crowding_distance(y: np.ndarray) -> np.ndarray:
    """Crowding distance of each row of `y` within its set (Deb et al. 2002).

    The sum over objectives of the gap between a point's two neighbours, divided by the
    objective's range; the extreme points of each objective get +inf.
    """
    y = np.asarray(y, dtype=float)
    n, m = y.shape
    dist = np.zeros(n)
    if n <= 2:
        dist[:] = np.inf
        return dist
    for j in range(m):
        order = np.argsort(y[:, j], kind="stable")
        col = y[order, j]
        dist[order[0]] = dist[order[-1]] = np.inf
        span = col[-1] - col[0]
        if not np.isfinite(span) or span <= 0:
            continue
        dist[order[1:-1]] += (col[2:] - col[:-2]) / span
    return dist


def rank_order(y: np.ndarray) -> np.ndarray:
    """Row indices of `y` from best to worst: by front, then by crowding distance
    (larger first) within a front, then by index (stable)."""
    order: list[int] = []
    for front in nondominated_sort(y):
        crowd = crowding_distance(y[front])
        order.extend(front[np.argsort(-crowd, kind="stable")].tolist())
    return np.asarray(order, dtype=int)


def hypervolume_2d(y: np.ndarray, ref: Sequence[float]) -> float:
    """Area dominated by the points of `y` (n, 2) and bounded by the reference point `ref`.

    Points that do not strictly dominate `ref` add nothing. O(n log n).
    """
    y = np.asarray(y, dtype=float).reshape(-1, 2)
    r1, r2 = float(ref[0]), float(ref[1])
    y = y[(y[:, 0] < r1) & (y[:, 1] < r2)]
    if not len(y):
        return 0.0
    y = y[np.lexsort((y[:, 1], y[:, 0]))]  # by f1, then f2
    f1, f2 = y[:, 0], y[:, 1]
    best_before = np.concatenate([[r2], np.minimum.accumulate(f2)[:-1]])
    step = f2 < best_before  # the points that lower the staircase
    return float(((r1 - f1[step]) * (best_before[step] - f2[step])).sum())


def hypervolume_contributions_2d(y: np.ndarray, ref: Sequence[float]) -> np.ndarray:
    """Hypervolume each row of `y` (n, 2) adds alone: HV(all) - HV(all but this row)."""
    y = np.asarray(y, dtype=float).reshape(-1, 2)
    total = hypervolume_2d(y, ref)
    keep = np.ones(len(y), dtype=bool)
    out = np.empty(len(y))
    for i in range(len(y)):
        keep[i] = False
        out[i] = total - hypervolume_2d(y[keep], ref)
        keep[i] = True
    return out


def normalize(y: np.ndarray) -> np.ndarray:
    """Columns of `y` scaled to [0, 1] by their finite min and max (constant columns -> 0)."""
    y = np.asarray(y, dtype=float)
    if not len(y):
        return y.copy()
    finite = np.isfinite(y)
    lo = np.where(finite, y, np.inf).min(axis=0)
    hi = np.where(finite, y, -np.inf).max(axis=0)
    lo = np.where(np.isfinite(lo), lo, 0.0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (y - lo) / span  # +inf (a missing value) stays +inf


def select_objectives(
    who: str, objectives: Mapping[str, str], metrics: Sequence[str] | None
) -> dict[str, str]:
    """The objectives (name -> mode) a multi-objective scheduler optimizes: `metrics`
    among the benchmark's `objectives`; when `metrics` is None, the validation objectives:
    every one whose name does not start with "test" (a test objective, such as
    mlp_sklearn's test_accuracy, is optimized only when named), or all of them if every
    name does."""
    if not objectives:
        raise ValueError(f"{who}: the benchmark has no objectives")
    if metrics is None:
        chosen = {k: v for k, v in objectives.items() if not k.startswith("test")}
        chosen = chosen or dict(objectives)
    else:
        if isinstance(metrics, str) or not metrics:
            raise ValueError(
                f"{who}: metrics must be a non-empty list of objective names or null, "
                f"got {metrics!r}"
            )
        unknown = [m for m in metrics if m not in objectives]
        if unknown:
            raise ValueError(
                f"{who}: metric {unknown[0]!r} is not an objective of the benchmark; "
                f"objectives: {', '.join(objectives)}"
            )
        chosen = {m: objectives[m] for m in metrics}
    for mode in chosen.values():
        check_mode(mode)
    return chosen


class MultiObjective:
    """Mixin ahead of a scheduler class: `choose_objectives` keeps the objectives it
    optimizes (`metrics` among the benchmark's `objectives`), and metadata lists them
    under "derived"."""

    multi_objective = True
    name: str
    objectives: dict[str, str]
    metrics: Sequence[str] | None

    def choose_objectives(
        self, objectives: Mapping[str, str], metrics: Sequence[str] | None
    ) -> tuple[str, str]:
        """Keep `select_objectives`' choice; the first objective's (metric, mode)."""
        self.objectives = select_objectives(self.name, objectives, metrics)
        self.metrics = metrics
        return next(iter(self.objectives.items()))

    def derived(self) -> dict[str, Any]:
        return {**super().derived(), "objectives": self.objectives}  # type: ignore[misc]
