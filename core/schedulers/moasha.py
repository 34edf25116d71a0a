"""MO-ASHA: asynchronous successive halving that ranks by Pareto fronts (Schmucker et al., 2021)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from simtune.core.schedulers.asha import ASHA
from simtune.core.schedulers.pareto import (
    MultiObjective,
    crowding_distance,
    nondominated_sort,
    to_min,
)
from simtune.core.schedulers.rungs import RungSystem, n_promotable
from simtune.core.trial import Report


class MOASHA(MultiObjective, ASHA):
    """ASHA (stopping variant) whose rung decision ranks objective vectors, not one metric.

    At a rung, the trial's vector joins those already recorded there; all are ordered
    by non-dominated front, then by crowding distance within a front (larger first), and
    the trial continues if it is among the top max(1, n // eta). With one objective this
    is exactly ASHA's rule: MOASHA is ASHA with this ranker (`_continues`). The searcher
    sees the first objective.

    Example:
        >>> MOASHA(searcher=RandomSearcher(space, rng=np.random.default_rng(0)),
        ...        objectives={"err": "min", "latency": "min"}, fidelities=list(range(1, 82)))
    """

    name = "moasha"

    def __init__(
        self,
        *,
        objectives: Mapping[str, str],
        metrics: Sequence[str] | None = None,
        metric: str | None = None,
        mode: str | None = None,
        type: str = "stopping",
        **asha: Any,
    ) -> None:
        if type != "stopping":
            raise ValueError(f"moasha: only the stopping variant exists, got type={type!r}")
        first, first_mode = self.choose_objectives(objectives, metrics)  # not metric/mode
        super().__init__(metric=first, mode=first_mode, type=type, **asha)
        self._points: dict[int, _Rung] = {r: _Rung() for r in self.rung_levels}

    def _continues(self, bracket: RungSystem, level: int, report: Report, loss: float) -> bool:
        point = to_min([report.metrics], self.objectives)[0]
        return continues_mo(self._points[level], point, self.eta)


class _Rung:
    """The objective vectors recorded at one rung, in a growing array (amortized O(m))."""

    __slots__ = ("_y", "n")

    def __init__(self) -> None:
        self._y = np.empty((0, 0))
        self.n = 0

    @property
    def points(self) -> np.ndarray:
        return self._y[: self.n]

    def add(self, point: np.ndarray) -> None:
        if self.n == len(self._y):
            grown = np.empty((max(16, 2 * self.n), len(point)))
            if self.n:
                grown[: self.n] = self._y[: self.n]
            self._y = grown
        self._y[self.n] = point
        self.n += 1


def continues_mo(rung: _Rung, point: np.ndarray, eta: float) -> bool:
    """Record `point` (objectives to minimize) at `rung`; True if it ranks in the top 1/eta.

    The ranking is that of `rank_order` (front, then crowding distance within the front)
    over the rung's points, the new one first so that exact ties count in its favour,
    as in ASHA. Stops early: a point dominated by k others, or whose front starts at
    rank k, is out.
    """
    if rung.n == 0:
        rung.add(point)
        return True  # the first trial at a rung always continues
    others = rung.points
    rung.add(point)
    keep = max(1, n_promotable(rung.n, eta))
    n_dominators = int(((others <= point).all(axis=1) & (others < point).any(axis=1)).sum())
    if n_dominators >= keep or len(point) == 1:
        return n_dominators < keep  # dominators rank before it; one objective: only they do
    ys = np.vstack([point, others])
    before = 0
    for front in nondominated_sort(ys):
        if front[0] == 0:  # fronts list rows in increasing order: row 0 is the new point
            crowd = crowding_distance(ys[front])
            ahead = int((crowd > crowd[0]).sum())
            return before + ahead < keep
        before += len(front)
        if before >= keep:
            return False
    return False
