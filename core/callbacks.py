"""Tuner callbacks: code of yours that the Tuner calls as the run goes.

Subclass `Callback` and override what you need; every hook defaults to doing nothing.
A callback watches: it must not change the trials, and what its hooks return is ignored,
but for the one signal a callback may give: `on_report` ends the run by returning or
raising `StopRun("why")` (the running trials are stopped, the run is complete, and
metadata.json's end_reason says "ended by a callback: why"; EndReason.CALLBACK).

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

from tqdm.auto import tqdm

from simtune.core.constraints import feasible
from simtune.core.incumbent import counts, rank
from simtune.core.trial import Decision, Report, Trial

if TYPE_CHECKING:
    from simtune.core.tuner import Tuner, TuningSummary

log = logging.getLogger("simtune.status")


class StopRun(Exception):
    """The stop signal of a callback: `on_report` returns or raises it to end the run.

    Example:
        >>> class StopAt(Callback):
        ...     def on_report(self, trial, report, decision):
        ...         if report.metrics["acc"] >= 0.99:
        ...             return StopRun(f"trial {trial.trial_id} reached acc 0.99")
    """


def report_to(callbacks: list[Callback], trial: Trial, report: Report,
              decision: Decision) -> str | None:
    """Call every callback's on_report; the reason of the first StopRun one returned or
    raised (None if none did)."""
    why = None
    for callback in callbacks:
        try:
            signal = callback.on_report(trial, report, decision)
        except StopRun as e:
            signal = e
        if isinstance(signal, StopRun) and why is None:
            why = str(signal)
    return why


class Callback:
    """Hooks of the Tuner loop, in the order they happen."""

    def on_run_start(self, tuner: Tuner) -> None:
        """Before the first trial starts."""

    def on_trial_start(self, trial: Trial) -> None:
        """`trial` has started, or resumed, on a worker."""

    def on_report(self, trial: Trial, report: Report, decision: Decision) -> StopRun | None:
        """`trial` reported `report`, and the scheduler decided `decision`; return or
        raise StopRun to end the run."""

    def on_trial_end(self, trial: Trial) -> None:
        """`trial` has ended: `trial.status` says completed, stopped or failed."""

    def on_wait(self) -> None:
        """No event came for a few real seconds (real backends: the Tuner is waiting)."""

    def on_run_end(self, summary: TuningSummary) -> None:
        """The run has ended (also when interrupted: see `summary.reason`)."""


class StatusLine(Callback):
    """Logs one line every `every` real seconds: trials, reports, the `top` trials ranked
    as the incumbent is (core.incumbent: highest fidelity, then best value; the first is
    the incumbent), and, on a real backend, the running trials silent for `every` s.

    Example:
        >>> StatusLine(every=60, top=3)
    """

    def __init__(self, *, every: float = 60.0, top: int = 3) -> None:
        if not every > 0:
            raise ValueError(f"StatusLine: every must be a positive number, not {every!r}")
        self.every = every
        self.top = top
        self._tuner: Tuner | None = None
        self._best: dict[int, tuple[tuple, Any, float]] = {}  # trial -> (rank, fidelity, value)
        self._seen: dict[int, float] = {}  # trial id -> its last report or start (backend clock)
        self._next = 0.0

    def on_run_start(self, tuner: Tuner) -> None:
        self._tuner = tuner
        self._next = time.monotonic() + self.every

    def on_trial_start(self, trial: Trial) -> None:
        if self._tuner is not None:
            self._seen[trial.trial_id] = self._tuner.backend.time()

    def on_report(self, trial: Trial, report: Report, decision: Decision) -> None:
        tuner = self._tuner
        if tuner is None:
            return
        self._seen[trial.trial_id] = report.time
        value = report.metrics.get(tuner.scheduler.metric)
        if counts(value) and feasible(report.metrics, tuner.constraints):
            key = rank(report.fidelity, value, tuner.scheduler.mode)
            old = self._best.get(trial.trial_id)
            if old is None or key > old[0]:
                self._best[trial.trial_id] = (key, report.fidelity, value)
        self.on_wait()

    def on_wait(self) -> None:
        if self._tuner is not None and time.monotonic() >= self._next:
            self._next = time.monotonic() + self.every
            log.info("%s", self.line())

    def line(self) -> str:
        """The status now, e.g. '40 trials (4 running), 310 reports, 95 s; best: #12
        acc=0.93 (fidelity 50) {...}; ...; trial 3: no report for 60 s; hang_timeout 600 s'."""
        tuner = self._tuner
        if tuner is None:
            return "not started"
        best = heapq.nlargest(self.top, self._best.items(), key=lambda kv: kv[1][0])
        ranked = "; ".join(
            f"#{tid} {tuner.scheduler.metric}={v:.6g} (fidelity {f}) "
            f"{_short(tuner.trials[tid].config)}" for tid, (_, f, v) in best
        )
        return (
            f"{len(tuner.trials)} trials ({tuner.n_running} running), {tuner.n_reports} "
            f"reports, {tuner.backend.time():.0f} s; best: {ranked or 'none yet'}"
            + self._silent(tuner) + getattr(tuner.backend, "status", str)()
        )

    def _silent(self, tuner: Tuner) -> str:
        """'; trial 3: no report for 60 s; hang_timeout 600 s' for the running trials of
        a real backend that have not reported for `every` s ('' if none)."""
        if tuner.backend.deterministic:
            return ""
        now = tuner.backend.time()
        quiet = sorted((self._seen.get(tid, now), tid) for tid in tuner.running)
        said = [f"trial {tid}: no report for {now - t:.0f} s" for t, tid in quiet
                if now - t >= self.every][: self.top]
        if not said:
            return ""
        hang = getattr(tuner.backend, "hang_timeout", None)
        return f"; {', '.join(said)}; hang_timeout {'none' if hang is None else f'{hang:g} s'}"


def _short(config: dict[str, Any]) -> str:
    return "{" + ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in config.items()
    ) + "}"


class ProgressBar(Callback):
    """A tqdm bar of the run's budget: the backend's clock up to stop.max_wallclock, else
    the trials started (stop.max_trials) or finished. Tuner(progress=True) adds it."""

    def on_run_start(self, tuner: Tuner) -> None:
        self._tuner, stop = tuner, tuner.stop
        if stop.max_wallclock is not None:
            self._bar = tqdm(
                total=float(stop.max_wallclock), unit="s", desc="backend clock",
                bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}{postfix}]",
            )
        else:
            self._bar = tqdm(total=stop.max_trials or stop.max_trials_finished, unit="trial",
                             desc="trials")

    def _update(self) -> None:
        tuner, bar = self._tuner, self._bar
        stop = tuner.stop
        if stop.max_wallclock is not None:
            n = min(tuner.backend.time(), stop.max_wallclock)
        else:
            n = len(tuner.trials) if stop.max_trials else tuner.so_far.n_finished
        bar.update(n - bar.n)
        if bar.n == bar.last_print_n:  # just redrawn: refresh the status text too
            bar.set_postfix_str(f"{len(tuner.trials)} trials, best {tuner.incumbent.value}",
                                refresh=False)

    def on_trial_start(self, trial: Trial) -> None:
        self._update()

    def on_report(self, trial: Trial, report: Report, decision: Decision) -> None:
        self._update()

    def on_trial_end(self, trial: Trial) -> None:
        self._update()

    def on_wait(self) -> None:
        self._update()

    def on_run_end(self, summary: TuningSummary) -> None:
        bar = getattr(self, "_bar", None)  # None: interrupted before the run started
        if bar is not None:
            bar.close()
