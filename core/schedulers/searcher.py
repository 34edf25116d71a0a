"""The searcher protocol: which configuration to try next (plugs into any scheduler)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class Searcher:
    """Proposes configurations and learns from observations keyed by trial id.

    Schedulers decide *when* (stop, pause, promote); searchers decide *which config*.
    Every observation carries its trial id, so asynchronous workers never pair a
    config with another trial's result.
    """

    def suggest(self) -> dict[str, Any] | None:
        """A new configuration, or None when the searcher has nothing left."""
        raise NotImplementedError

    def set_fidelities(self, levels: Sequence[int], fidelities: Sequence[int]) -> None:
        """A multi-fidelity scheduler's rung levels (the last one is its maximum resource)
        and the fidelities it uses; called once, before the first `suggest`. Searchers
        that model the fidelity (MOBSTER's GP) take them; others ignore them."""

    def set_level(self, level: int) -> None:
        """The rung level at which the next suggested configuration starts; Hyperband-style
        schedulers with brackets (DEHB) call it before each `suggest`. Searchers that keep
        one model per level (DE) take it; others ignore it."""

    def on_start(self, trial_id: int, config: dict[str, Any]) -> None:
        """`config` is now being evaluated as trial `trial_id` (pending)."""

    def on_report(self, trial_id: int, fidelity: int, value: float) -> None:
        """Trial `trial_id` reached `value` of the metric at `fidelity`."""

    def on_cost(self, trial_id: int, seconds: float) -> None:
        """Trial `trial_id` took `seconds` to train (reported once, at its end, by FIFO
        scheduling); cost-aware searchers learn from it."""

    def on_end(self, trial_id: int) -> None:
        """Trial `trial_id` ended (completed, stopped or failed): no longer pending."""

    def metadata(self) -> dict[str, Any]:
        return {"name": type(self).__name__}
