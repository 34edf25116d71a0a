"""Pure helpers of multi-objective optimization: Pareto fronts, crowding distance, and
which objectives a multi-objective scheduler optimizes (select_objectives, and the
MultiObjective mixin that keeps them).

Every function takes an array of shape (n, m) of objective vectors, all to be
minimized (see `to_min` to flip objectives whose mode is "max").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from simtune.core.schedulers.base import check_mode


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


def nondominated_sort(y: np.ndarray) -> list[np.ndarray]:
    """Fronts of `y` (n, m), best first: arrays of row indices in increasing order.

    Equal rows do not dominate each other, so they share a front. moocore's Pareto rank
    of the columns' dense ranks (dominance depends only on the order within each column;
    the ranks are finite where `y` holds the +inf of a missing value, which moocore
    mis-ranks).
    """
    import moocore  # ~0.1 s to import: only where a multi-objective scheduler ranks

    y = np.asarray(y, dtype=float)
    if not len(y):
        return []
    dense = np.column_stack([np.unique(col, return_inverse=True)[1] for col in y.T])
    if dense.shape[1] == 1:  # one objective: moocore wants two
        dense = np.column_stack([dense, dense])
    rank = moocore.pareto_rank(dense)
    return [np.flatnonzero(rank == k) for k in range(int(rank.max()) + 1)]


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
