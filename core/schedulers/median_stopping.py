"""Median stopping rule (Golovin et al., 2017) around any scheduler."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from simtune.core.schedulers.base import Scheduler, check_mode, mode_sign
from simtune.core.schedulers.rungs import to_loss
from simtune.core.trial import Decision, Report, Suggestion, Trial


class MedianStopping(Scheduler):
    """Runs `scheduler` (built: core.schedulers.create builds the one its config names,
    with the same benchmark and `scheduler_args`) and also stops a trial at fidelity
    f >= `grace_period` (None: the smallest fidelity) when its best value so far is worse
    than the median of the running averages that at least `min_samples` other trials had
    at f.

    Example:
        >>> MedianStopping(scheduler=create("random", space=space, metric="loss"),
        ...                metric="loss", mode="min", fidelities=list(range(1, 82)))
    """

    name = "median_stopping"
    multi_fidelity = True  # stops trials part-way

    def __init__(
        self,
        *,
        scheduler: Scheduler,
        metric: str,
        mode: str,
        fidelities: Sequence[int],
        grace_period: int | None = None,
        min_samples: int = 3,
    ) -> None:
        if isinstance(min_samples, bool) or int(min_samples) != min_samples or min_samples < 1:
            raise ValueError(f"median_stopping: min_samples must be >= 1, got {min_samples!r}")
        self.metric = metric
        self.mode = check_mode(mode)
        self.scheduler = scheduler
        self.grace_period = grace_period
        self.min_samples = min_samples
        self._grace = min(fidelities) if grace_period is None else int(grace_period)
        self._sign = mode_sign(mode)
        self._averages: dict[int, list[float]] = {}  # fidelity -> sorted running averages
        self._sum: dict[int, float] = {}
        self._count: dict[int, int] = {}
        self._best: dict[int, float] = {}

    def suggest(self, trial_id: int) -> Suggestion | None:
        return self.scheduler.suggest(trial_id)

    def on_start(self, trial: Trial) -> None:
        self.scheduler.on_start(trial)

    def on_report(self, trial: Trial, report: Report) -> Decision:
        decision = self.scheduler.on_report(trial, report)
        value = report.metrics.get(self.metric)
        if value is None:
            return decision
        t, loss = trial.trial_id, to_loss(value, self._sign)
        self._sum[t] = self._sum.get(t, 0.0) + loss
        self._count[t] = self._count.get(t, 0) + 1
        self._best[t] = min(self._best.get(t, loss), loss)
        others = self._averages.setdefault(report.fidelity, [])
        stop = (
            decision == Decision.CONTINUE
            and not report.last
            and report.fidelity >= self._grace
            and below_median(self._best[t], others, self.min_samples)
        )
        bisect.insort(others, self._sum[t] / self._count[t])
        return Decision.STOP if stop else decision

    def on_complete(self, trial: Trial, report: Report) -> None:
        self.scheduler.on_complete(trial, report)

    def on_error(self, trial: Trial) -> None:
        self.scheduler.on_error(trial)

    def inherit(self, trial: Trial, reports: Sequence[Report]) -> None:
        self.scheduler.inherit(trial, reports)

    def on_constraints(self, trial: Trial, fidelity: int, value: float,
                       constraints: dict[str, float]) -> None:
        self.scheduler.on_constraints(trial, fidelity, value, constraints)

    def derived(self) -> dict[str, Any]:
        return {"grace_period": self._grace}


def below_median(best: float, others: list[float], min_samples: int) -> bool:
    """The median rule on losses: True if `best` is worse than the median of the sorted
    running averages `others`, given at least `min_samples` of them."""
    n = len(others)
    if n < min_samples:
        return False
    median = others[n // 2] if n % 2 else 0.5 * (others[n // 2 - 1] + others[n // 2])
    return best > median
