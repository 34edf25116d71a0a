"""The searcher protocol: which configuration to try next (plugs into any scheduler)."""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

from core.schedulers.base import Described, Scheduler
from core.trial import Report, Trial


class Searcher(Described):
    """Proposes configurations and learns from observations keyed by trial id.

    Schedulers decide *when* (stop, pause, promote); searchers decide *which config*.
    Every observation carries its trial id, so asynchronous workers never pair a
    config with another trial's result. Subclasses keep each constructor argument in an
    attribute of its name (metadata reads them there).
    """

    name = "searcher"

    def suggest(self) -> dict[str, Any] | None:
        """A new configuration, or None when the searcher has nothing left."""
        raise NotImplementedError

    def set_fidelities(self, levels: Sequence[int], fidelities: Sequence[int]) -> None:
        """A multi-fidelity scheduler's rung levels (the last one is its maximum resource)
        and the fidelities it uses; called once, before the first `suggest`. Searchers
        that model the fidelity (MOBSTER's GP) take them; others ignore them."""

    def set_level(self, level: int) -> None:
        """The rung level at which the next suggested configuration starts; multi-fidelity
        schedulers (ASHA and its family, sync_hyperband) call it before each `suggest`.
        Searchers that keep one model per level (DE) take it; others ignore it."""

    def on_start(self, trial_id: int, config: dict[str, Any]) -> None:
        """`config` is now being evaluated as trial `trial_id` (pending)."""

    def observe(self, trial_id: int, fidelity: int, value: float) -> None:
        """Trial `trial_id` reached `value` of the metric at `fidelity`."""

    def on_cost(self, trial_id: int, seconds: float) -> None:
        """Trial `trial_id` took `seconds` to train (reported once, at its end, by FIFO
        scheduling); cost-aware searchers learn from it."""

    def on_end(self, trial_id: int) -> None:
        """Trial `trial_id` ended (completed, stopped or failed): no longer pending."""

    def check_started(self, trial_id: int, started: Container[int]) -> None:
        """A ValueError unless `trial_id` is among the `started` trials (`observe`)."""
        if trial_id not in started:
            raise ValueError(
                f"{self.name}: report for trial {trial_id}, which was never started "
                "(call on_start(trial_id, config) first)"
            )


class SearcherScheduler(Scheduler):
    """A scheduler whose configurations come from `self.searcher`: it tells the searcher
    when a trial starts and when it ends (completed, stopped or failed)."""

    searcher: Searcher

    def on_start(self, trial: Trial) -> None:
        self.searcher.on_start(trial.trial_id, trial.config)

    def on_complete(self, trial: Trial, report: Report) -> None:
        self.searcher.on_end(trial.trial_id)

    def on_error(self, trial: Trial) -> None:
        self.searcher.on_end(trial.trial_id)
