"""FIFO scheduling: start what the searcher suggests and let every trial run to the end."""

from __future__ import annotations

from typing import Any

from core.schedulers.base import Scheduler, check_mode
from core.schedulers.searcher import Searcher
from core.trial import Decision, Report, Start, Suggestion, Trial


class FIFOScheduler(Scheduler):
    """Single-fidelity scheduling around any searcher (random, BO, ...).

    Example:
        >>> FIFOScheduler(searcher=RandomSearcher(space, rng=rng), metric="loss", mode="min")
    """

    def __init__(self, *, searcher: Searcher, metric: str, mode: str) -> None:
        self.searcher = searcher
        self.metric = metric
        self.mode = check_mode(mode)

    def suggest(self, trial_id: int) -> Suggestion | None:
        config = self.searcher.suggest()
        return None if config is None else Start(config)

    def on_start(self, trial: Trial) -> None:
        self.searcher.on_start(trial.trial_id, trial.config)

    def on_report(self, trial: Trial, report: Report) -> Decision:
        value = report.metrics.get(self.metric)
        if value is not None:
            self.searcher.on_report(trial.trial_id, report.fidelity, value)
        return Decision.CONTINUE

    def on_complete(self, trial: Trial, report: Report) -> None:
        self.searcher.on_end(trial.trial_id)

    def on_error(self, trial: Trial) -> None:
        self.searcher.on_end(trial.trial_id)

    def metadata(self) -> dict[str, Any]:
        return {"name": "fifo", "searcher": self.searcher.metadata()}
