"""Tuner callbacks: code of yours that the Tuner calls as the run goes.

Subclass `Callback` and override what you need; every hook defaults to doing nothing.
A callback only watches: what it returns is ignored, and it must not change the trials.

Example:
    >>> class PrintBest(Callback):
    ...     def on_run_end(self, summary):
    ...         print(summary.best_config, summary.best)
    >>> Tuner(..., callbacks=[PrintBest(), StatusLine(every=30)])  # doctest: +SKIP
"""

from __future__ import annotations

import heapq
import logging
import time
from typing import TYPE_CHECKING, Any

from core.trial import Decision, Report, Trial

if TYPE_CHECKING:
    from core.tuner import Tuner, TuningSummary

log = logging.getLogger("simtune.status")


class Callback:
    """Hooks of the Tuner loop, in the order they happen."""

    def on_run_start(self, tuner: Tuner) -> None:
        """Before the first trial starts."""

    def on_trial_start(self, trial: Trial) -> None:
        """`trial` has started, or resumed, on a worker."""

    def on_report(self, trial: Trial, report: Report, decision: Decision) -> None:
        """`trial` reported `report`, and the scheduler decided `decision`."""

    def on_trial_end(self, trial: Trial) -> None:
        """`trial` has ended: `trial.status` says completed, stopped or failed."""

    def on_run_end(self, summary: TuningSummary) -> None:
        """The run has ended (also when interrupted: see `summary.reason`)."""


class StatusLine(Callback):
    """Logs one line every `every` real seconds: trials, reports and the `top` best trials.

    Example:
        >>> StatusLine(every=60, top=3)
    """

    def __init__(self, *, every: float = 60.0, top: int = 3) -> None:
        if not every > 0:
            raise ValueError(f"StatusLine: every must be a positive number, not {every!r}")
        self.every = every
        self.top = top
        self._tuner: Tuner | None = None
        self._best: dict[int, float] = {}  # trial id -> its best value of the metric
        self._next = 0.0

    def on_run_start(self, tuner: Tuner) -> None:
        self._tuner = tuner
        self._next = time.monotonic() + self.every

    def on_report(self, trial: Trial, report: Report, decision: Decision) -> None:
        tuner = self._tuner
        if tuner is None:
            return
        value = report.metrics.get(tuner.scheduler.metric)
        if isinstance(value, (int, float)) and value == value:
            old = self._best.get(trial.trial_id)
            better = old is None or (value < old if tuner.scheduler.mode == "min" else value > old)
            if better:
                self._best[trial.trial_id] = value
        if time.monotonic() >= self._next:
            self._next = time.monotonic() + self.every
            log.info("%s", self.line())

    def line(self) -> str:
        """The status now, e.g. '40 trials (4 running), 310 reports; best: #12 0.93 ...'."""
        tuner = self._tuner
        if tuner is None:
            return "not started"
        sign = 1 if tuner.scheduler.mode == "min" else -1
        best = heapq.nsmallest(self.top, self._best.items(), key=lambda kv: sign * kv[1])
        ranked = "; ".join(
            f"#{tid} {tuner.scheduler.metric}={v:.6g} {_short(tuner.trials[tid].config)}"
            for tid, v in best
        )
        return (
            f"{len(tuner.trials)} trials ({tuner.n_running} running), {tuner.n_reports} "
            f"reports, {tuner.backend.time():.0f} s; best: {ranked or 'none yet'}"
        )


def _short(config: dict[str, Any]) -> str:
    return "{" + ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in config.items()
    ) + "}"
