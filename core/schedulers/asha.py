"""ASHA: asynchronous successive halving, stopping variant (Li et al., 2020)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.schedulers.base import Scheduler, check_mode
from core.schedulers.random import RandomSearcher
from core.schedulers.searcher import Searcher
from core.space import Space
from core.trial import Decision, Report, Start, Suggestion, Trial


class ASHA(Scheduler):
    """Stops a trial at a rung unless its metric is in the top 1/eta of that rung so far.

    Rung levels are grace_period * eta^k below max_resource, snapped to the benchmark's
    fidelities. A trial that reaches max_resource is stopped there if the benchmark
    has more fidelities. Configurations come from `searcher` (random by default).

    Example:
        >>> ASHA(space=space, metric="loss", mode="min", fidelities=list(range(1, 82)),
        ...      eta=3, rng=np.random.default_rng(0))
    """

    def __init__(
        self,
        *,
        space: Space,
        metric: str,
        mode: str,
        fidelities: Sequence[int],
        rng: np.random.Generator,
        eta: float = 3,
        grace_period: int | None = None,
        max_resource: int | None = None,
        searcher: Searcher | None = None,
        candidates: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        if not eta > 1:
            raise ValueError(f"asha: eta must be > 1, got {eta!r}")
        fidelities = sorted(int(f) for f in fidelities)
        if not fidelities:
            raise ValueError("asha: the benchmark has no fidelities")
        self.metric = metric
        self.mode = check_mode(mode)
        self.eta = eta
        self.grace_period = fidelities[0] if grace_period is None else int(grace_period)
        self.max_resource = fidelities[-1] if max_resource is None else int(max_resource)
        if not fidelities[0] <= self.grace_period <= self.max_resource:
            raise ValueError(
                f"asha: need min fidelity {fidelities[0]} <= grace_period {self.grace_period} "
                f"<= max_resource {self.max_resource}"
            )
        self.rung_levels = rung_levels(fidelities, self.grace_period, eta, self.max_resource)
        self._rungs: dict[int, list[float]] = {r: [] for r in self.rung_levels}
        self.searcher = searcher or RandomSearcher(space, rng=rng, candidates=candidates)
        self._sign = 1.0 if mode == "min" else -1.0

    def suggest(self, trial_id: int) -> Suggestion | None:
        config = self.searcher.suggest()
        return None if config is None else Start(config)

    def on_start(self, trial: Trial) -> None:
        self.searcher.on_start(trial.trial_id, trial.config)

    def on_report(self, trial: Trial, report: Report) -> Decision:
        value = report.metrics.get(self.metric)
        if value is None:
            raise ValueError(
                f"asha: report of trial {trial.trial_id} lacks metric {self.metric!r} "
                f"(has {sorted(report.metrics)})"
            )
        self.searcher.on_report(trial.trial_id, report.fidelity, value)
        if report.last:
            return Decision.CONTINUE  # nothing left to decide
        rung = self._rungs.get(report.fidelity)
        if rung is not None:
            loss = self._sign * value if value == value else math.inf  # NaN ranks last
            if not continues(rung, loss, self.eta):
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
            "name": "asha",
            "args": {
                "type": "stopping",
                "eta": self.eta,
                "grace_period": self.grace_period,
                "max_resource": self.max_resource,
                "rung_levels": self.rung_levels,
            },
            "searcher": self.searcher.metadata(),
        }


def rung_levels(
    fidelities: Sequence[int], grace_period: int, eta: float, max_resource: int
) -> list[int]:
    """grace_period * eta^k for k = 0, 1, ... below max_resource, each snapped up to the
    nearest available fidelity (duplicates removed)."""
    fids = sorted(fidelities)
    levels: list[int] = []
    k = 0
    while True:
        target = grace_period * eta**k
        if target >= max_resource:
            return levels
        i = bisect.bisect_left(fids, target)
        if i < len(fids) and fids[i] < max_resource and (not levels or fids[i] > levels[-1]):
            levels.append(fids[i])
        k += 1


def continues(rung: list[float], loss: float, eta: float) -> bool:
    """Record `loss` (lower is better) in the sorted `rung`; True if it is in the top 1/eta.

    Top 1/eta of n recorded values (this one included) means rank < max(1, n // eta) with
    ties counted in the trial's favour, so the first trial at a rung always continues.
    """
    rank = bisect.bisect_left(rung, loss)
    rung.insert(rank, loss)
    return rank < max(1, int(len(rung) // eta))
