"""FIFO scheduling: start what the searcher suggests and let every trial run to the end."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from core.schedulers.base import check_mode
from core.schedulers.searcher import Searcher, SearcherScheduler
from core.trial import Decision, Report, Start, Suggestion, Trial


class FIFOScheduler(SearcherScheduler):
    """Single-fidelity scheduling around any searcher (random, BO, ...).

    Either give `searcher`, or subclass with `searcher_class` (and `defaults`, the
    scheduler's own defaults where they differ from the searcher's): the constructor
    then takes the searcher's parameters (space, rng, candidates, mode and its own) and
    builds it with them; `metadata()` describes it under "searcher".

    Example:
        >>> FIFOScheduler(searcher=RandomSearcher(space, rng=rng), metric="loss", mode="min")
    """

    name = "fifo"
    multi_fidelity = False  # every trial runs to the end
    searcher_class: ClassVar[type[Searcher] | None] = None
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(
        self, *, metric: str, mode: str, searcher: Searcher | None = None, **searcher_args: Any
    ) -> None:
        self.metric = metric
        self.mode = check_mode(mode)
        if searcher is None:
            if self.searcher_class is None:
                raise ValueError(f"{self.name}: give a searcher")
            args = {**self.defaults, **searcher_args}
            if "mode" in inspect.signature(self.searcher_class.__init__).parameters:
                args["mode"] = mode
            searcher = self.searcher_class(**args)
        elif searcher_args:
            raise ValueError(
                f"{self.name}: {sorted(searcher_args)} are searcher arguments; with a "
                "searcher given, set them on it"
            )
        self.searcher = searcher

    def suggest(self, trial_id: int) -> Suggestion | None:
        config = self.searcher.suggest()
        return None if config is None else Start(config)

    def on_report(self, trial: Trial, report: Report) -> Decision:
        value = self._observation(report)
        if value is not None:
            self.searcher.observe(trial.trial_id, report.fidelity, value)
        if report.last:
            self.searcher.on_cost(trial.trial_id, report.time - trial.start_time)
        return Decision.CONTINUE

    def _observation(self, report: Report) -> Any:
        """What the searcher learns from `report`: the metric's value (None if absent)."""
        return report.metrics.get(self.metric)
