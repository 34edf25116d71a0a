"""MO-ASHA: asynchronous successive halving that ranks by Pareto fronts (Schmucker et al., 2021)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.schedulers.base import Scheduler, check_mode
from core.schedulers.pareto import crowding_distance, nondominated_sort, to_min
from core.schedulers.random import RandomSearcher
from core.schedulers.rungs import check_rung_args, n_promotable, rung_levels
from core.schedulers.searcher import Searcher
from core.space import Space
from core.trial import Decision, Report, Start, Suggestion, Trial


class MOASHA(Scheduler):
    """ASHA (stopping variant) whose rung decision ranks objective vectors, not one metric.

    At a rung, the trial's vector joins those already recorded there; all are ordered
    by non-dominated front, then by crowding distance within a front (larger first), and
    the trial continues if it is among the top max(1, n // eta). With one objective this
    is exactly ASHA's rule. Rung levels come from `core.schedulers.rungs`.

    Example:
        >>> MOASHA(space=space, objectives={"err": "min", "latency": "min"},
        ...        fidelities=list(range(1, 82)), rng=np.random.default_rng(0))
    """

    def __init__(
        self,
        *,
        space: Space,
        objectives: Mapping[str, str],
        fidelities: Sequence[int],
        rng: np.random.Generator,
        metrics: Sequence[str] | None = None,
        eta: float = 3,
        grace_period: int | None = None,
        max_resource: int | None = None,
        searcher: Searcher | None = None,
        candidates: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        self.objectives = select_objectives("moasha", objectives, metrics)
        self.metrics = metrics
        self.metric, self.mode = next(iter(self.objectives.items()))
        fids, self.grace_period, self.max_resource = check_rung_args(
            "moasha", fidelities, eta, grace_period, max_resource
        )
        self.eta = eta
        self.rung_levels = rung_levels(fids, self.grace_period, eta, self.max_resource)
        self._rungs: dict[int, _Rung] = {r: _Rung() for r in self.rung_levels}
        self.searcher = searcher or RandomSearcher(space, rng=rng, candidates=candidates)

    def suggest(self, trial_id: int) -> Suggestion | None:
        config = self.searcher.suggest()
        return None if config is None else Start(config)

    def on_start(self, trial: Trial) -> None:
        self.searcher.on_start(trial.trial_id, trial.config)

    def on_report(self, trial: Trial, report: Report) -> Decision:
        value = report.metrics.get(self.metric)
        if value is not None:
            self.searcher.on_report(trial.trial_id, report.fidelity, value)
        if report.last:
            return Decision.CONTINUE
        rung = self._rungs.get(report.fidelity)
        if rung is not None:
            point = to_min([report.metrics], self.objectives)[0]
            if not continues_mo(rung, point, self.eta):
                return Decision.STOP
        if report.fidelity >= self.max_resource:
            return Decision.STOP
        return Decision.CONTINUE

    def on_complete(self, trial: Trial, report: Report) -> None:
        self.searcher.on_end(trial.trial_id)

    def on_error(self, trial: Trial) -> None:
        self.searcher.on_end(trial.trial_id)

    def metadata(self) -> dict[str, Any]:
        return {
            "name": "moasha",
            "args": {
                "objectives": self.objectives,
                "eta": self.eta,
                "grace_period": self.grace_period,
                "max_resource": self.max_resource,
                "rung_levels": self.rung_levels,
            },
            "searcher": self.searcher.metadata(),
        }


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
    for front in nondominated_sort(ys, enough=keep, until=0):
        if front[0] == 0:  # fronts list rows in increasing order: row 0 is the new point
            crowd = crowding_distance(ys[front])
            ahead = int((crowd > crowd[0]).sum())
            return before + ahead < keep
        before += len(front)
        if before >= keep:
            return False
    return False


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
