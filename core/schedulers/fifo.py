"""FIFO scheduling: start what the searcher suggests and let every trial run to the end."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from core.schedulers.base import Scheduler, check_mode
from core.schedulers.searcher import Searcher
from core.trial import Decision, Report, Start, Suggestion, Trial

_CONTEXT = ("space", "rng", "candidates", "fidelities")  # searcher arguments from the benchmark


class FIFOScheduler(Scheduler):
    """Single-fidelity scheduling around any searcher (random, BO, ...).

    Either give `searcher`, or subclass with `searcher_class` (and `defaults`, the
    scheduler's own defaults where they differ from the searcher's): the constructor
    then takes the searcher's parameters (space, rng, candidates, mode and its own) and
    stores them; `metadata()` lists every one of them with its value.

    Example:
        >>> FIFOScheduler(searcher=RandomSearcher(space, rng=rng), metric="loss", mode="min")
    """

    name = "fifo"
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
            accepted = inspect.signature(self.searcher_class.__init__).parameters
            args = {**self.defaults, **searcher_args}
            if "mode" in accepted:
                args["mode"] = mode
            searcher = self.searcher_class(**args)
            self.args = {
                k: args.get(k, p.default)
                for k, p in accepted.items()
                if k not in ("self", "mode", *_CONTEXT) and p.kind == p.KEYWORD_ONLY
            }
        elif searcher_args:
            raise ValueError(
                f"{self.name}: {sorted(searcher_args)} are searcher arguments; with a "
                "searcher given, set them on it"
            )
        else:
            self.args = {}
        self.searcher = searcher

    def suggest(self, trial_id: int) -> Suggestion | None:
        config = self.searcher.suggest()
        return None if config is None else Start(config)

    def on_start(self, trial: Trial) -> None:
        self.searcher.on_start(trial.trial_id, trial.config)

    def on_report(self, trial: Trial, report: Report) -> Decision:
        value = self._observation(report)
        if value is not None:
            self.searcher.on_report(trial.trial_id, report.fidelity, value)
        if report.last:
            self.searcher.on_cost(trial.trial_id, report.time - trial.start_time)
        return Decision.CONTINUE

    def _observation(self, report: Report) -> Any:
        """What the searcher learns from `report`: the metric's value (None if absent)."""
        return report.metrics.get(self.metric)

    def on_complete(self, trial: Trial, report: Report) -> None:
        self.searcher.on_end(trial.trial_id)

    def on_error(self, trial: Trial) -> None:
        self.searcher.on_end(trial.trial_id)

    def metadata(self) -> dict[str, Any]:
        if self.searcher_class is None:
            return {"name": self.name, "searcher": self.searcher.metadata()}
        return {"name": self.name, "args": self.args}
