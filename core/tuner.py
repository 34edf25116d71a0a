"""The Tuner: the one loop that asks the scheduler and drives a backend."""

from __future__ import annotations

import logging
import math
import time as _time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from simtune.core.backends.base import Backend
from simtune.core.callbacks import Callback, ProgressBar, report_to
from simtune.core.checks import RunChecks
from simtune.core.constraints import feasible_view
from simtune.core.incumbent import Incumbent, describe
from simtune.core.protocol import begin, decide, report_problem
from simtune.core.retries import Retries
from simtune.core.schedulers.base import Scheduler
from simtune.core.sigint import HeldSigint
from simtune.core.stoppers import Stopper, Stoppers
from simtune.core.stopping import Ended, EndReason, Progress, StoppingCriterion
from simtune.core.trial import Decision, Event, Failure, Report, Start, Status, Trial
from simtune.core.warm_start import WarmStart

log = logging.getLogger("simtune.tuner")
WAIT = 1.0  # real backends: seconds the Tuner waits for events before telling the callbacks


class ResultsSink(Protocol):
    """Where the Tuner records a run: one row per report (core.results.ResultsWriter)."""

    def write(self, trial_id: int, time: float, fidelity: int | None, metrics: dict[str, Any],
              decision: str, status: str, config: dict[str, Any]) -> None: ...

    def close(self, *, ended: Ended, complete: bool, **facts: Any) -> None: ...


@dataclass
class TuningSummary:
    """What a finished run did."""

    n_started: int
    n_finished: int
    n_failed: int
    n_reports: int
    time: float  # on the backend's clock
    best: float | None  # the incumbent's value of the scheduler's metric (core.incumbent)
    reason: str  # why the run ended, as metadata.json's end_reason says it
    first_failure: str | None = None  # reason of the first failed trial
    best_trial: int | None = None  # the incumbent: the trial that reported `best`
    best_config: dict[str, Any] | None = None  # its configuration
    cost: float = 0.0  # total trial cost (stop.max_cost's measure)
    warnings: list[str] = field(default_factory=list)  # what looked misconfigured (core.checks)
    best_fidelity: int | None = None  # the fidelity of the incumbent's report
    end: EndReason = EndReason.INTERRUPTED  # why the run ended, as a reason

    @property
    def complete(self) -> bool:
        """True if the run ended by its budget or had nothing left to run, with at least
        one valid report."""
        return self.end.finished and self.n_reports > 0

    def best_record(self) -> dict[str, Any] | None:
        """The incumbent as metadata.json records it (None: no valid report)."""
        return None if self.best_trial is None else {
            "trial_id": self.best_trial, "config": self.best_config, "value": self.best,
            "fidelity": self.best_fidelity}


class Tuner:
    """Asks the scheduler for a trial whenever a worker is free and feeds results back.

    The same loop serves every backend; the backend owns the clock. `callbacks`
    (core.callbacks.Callback) watch the run (and may end it: StopRun); the results writer
    records it. `stoppers` (core.stoppers) stop trials or end the run whatever the scheduler
    decides; `retries` restarts a failed trial up to that many times (core.retries).
    `warm_start` (an earlier run's directory, or a core.warm_start.WarmStart read with the
    space checked) feeds that run's results to the scheduler before its first suggestion.
    `constraints` name reported metrics that must be <= 0 (core.constraints): only
    feasible reports can be the incumbent, and the scheduler sees an infeasible report's
    metric as NaN.

    Example:
        >>> Tuner(scheduler=sched, backend=backend, stop=StoppingCriterion(max_trials=20),
        ...       n_workers=4, results=writer).run()
    """

    def __init__(
        self,
        *,
        scheduler: Scheduler,
        backend: Backend,
        stop: StoppingCriterion,
        n_workers: int = 1,
        results: ResultsSink | None = None,
        progress: bool = True,
        callbacks: Sequence[Callback] = (),
        warm_start: WarmStart | str | Path | None = None,
        constraints: Sequence[str] = (),
        stoppers: Sequence[Stopper] = (),
        retries: int = 0,
    ) -> None:
        if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
            raise ValueError(f"n_workers must be a positive integer, got {n_workers!r}")
        self.scheduler = scheduler
        self.backend = backend
        self.stop = stop
        self.n_workers = n_workers
        self.results = results
        self.progress = progress
        self.callbacks = [*([ProgressBar()] if progress else []), *callbacks]
        self.constraints = tuple(constraints)
        self.trials: dict[int, Trial] = {}
        self._running: set[int] = set()
        self.so_far = Progress()  # what the stop rules read
        self.incumbent = Incumbent(scheduler.mode)  # the run's best (core.incumbent)
        self._first_failure: str | None = None
        self._checks = RunChecks(scheduler, backend)
        self._waiting = False  # in backend.next_events: an interrupt there may drain
        self._held = HeldSigint(lambda: self._waiting)
        if warm_start is not None and not isinstance(warm_start, WarmStart):
            warm_start = WarmStart.read(warm_start, metric=scheduler.metric)
        self.warm_start = warm_start  # an earlier run's results, fed before the first suggestion
        self.stoppers = Stoppers(stoppers, scheduler.metric, scheduler.mode)
        self.retries = Retries(retries)
        self._ending: Ended | None = None  # a callback's StopRun or a stopper ends the run

    @property
    def n_running(self) -> int:
        return len(self._running)

    @property
    def n_reports(self) -> int:
        return self.so_far.n_reports

    @property
    def running(self) -> frozenset[int]:
        """Ids of the trials running now."""
        return frozenset(self._running)

    def run(self) -> TuningSummary:
        """Run until the stopping criterion holds or nothing is left to do.

        To resume an interrupted run, pass the session's backend and writer
        (core.rundir.open_run): the writer checks the rows the run reproduces against
        the recorded ones, and a real backend replays the recorded events first.
        """
        results = self.results
        self._checks.start()
        ended = Ended(EndReason.INTERRUPTED)
        self._held.install()  # a Ctrl-C while the state is half updated waits (core.sigint)
        try:
            if self.warm_start is not None:
                self.warm_start.feed(self.scheduler)
            for callback in self.callbacks:
                callback.on_run_start(self)
            ended = self._loop()
        except KeyboardInterrupt:
            ended = Ended(EndReason.INTERRUPTED, "interrupted (SIGINT)")
            self._drain()
            raise
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 0
            if code > 128:
                ended = Ended(EndReason.INTERRUPTED, f"interrupted (signal {code - 128})")
            self._drain()
            raise
        except BaseException as e:
            ended = Ended(EndReason.CRASHED,
                          "crashed: " + " ".join(f"{type(e).__name__}: {e}".split())[:500])
            raise
        finally:
            self._held.restore()
            self._stop_running(ended)
            ended = self.stop.final(ended, len(self.trials), self.so_far)
            summary = self._summary(ended)
            for warning in summary.warnings:
                log.warning(warning)
            for callback in self.callbacks:
                callback.on_run_end(summary)
            if results is not None:
                results.close(ended=ended, complete=summary.complete,
                              n_trials=summary.n_started, n_failed=summary.n_failed,
                              n_reports=summary.n_reports, end_time=summary.time,
                              best=summary.best_record(), **self._inherited(),
                              **self._no_feasible(summary), **self._errors())
        log.info("run ended (%s): %d trials, %d reports, %.1f s on the backend's clock; best: %s",
                 ended, summary.n_started, summary.n_reports, summary.time,
                 self._no_feasible(summary).get("best_reason") or describe(summary.best_record()))
        if self._held.came:  # a Ctrl-C held until the run ended: it ended whole, then the sweep
            raise KeyboardInterrupt
        return summary

    def _inherited(self) -> dict[str, Any]:
        """metadata.json's record of the warm start, if the run had one."""
        return {} if self.warm_start is None else {"warm_start": self.warm_start.record()}

    def _no_feasible(self, summary: TuningSummary) -> dict[str, str]:
        """metadata.json's `best_reason` when a constrained run has reports but no
        feasible one (its `best` is then null); empty otherwise."""
        if not self.constraints or summary.best_trial is not None or not summary.n_reports:
            return {}
        return {"best_reason": (
            f"no feasible report: none of the {summary.n_reports} reports has every "
            f"constraint ({', '.join(self.constraints)}) <= 0")}

    def _stop_running(self, ended: Ended) -> None:
        """Stop the trials still running; a run that ended (not cut short) says so in
        each one's last row. The backend is closed whatever happens."""
        try:
            for trial_id in sorted(self._running):
                self.backend.stop(trial_id)
                trial = self.trials[trial_id]
                trial.status = Status.STOPPED
                if not ended.reason.cut_short:
                    self._write(trial, self.backend.time(), None, {}, "")
                    self._ended(trial)
        finally:
            self._running.clear()
            self.backend.close()  # no trial keeps running, whatever happened above

    def _loop(self) -> Ended:
        stop, so_far = self.stop, self.so_far
        deadline = stop.max_wallclock
        pending: deque[Event] = deque()  # one event at a time: a replay sees the same steps
        while True:
            idle = self._fill_workers()
            backend = self.backend
            ended = stop.reached(backend.time(), so_far)
            if ended:
                return ended
            if not self._running:
                return idle or Ended(EndReason.NOTHING_LEFT)
            until = deadline
            if not pending:
                if not backend.deterministic:  # wake up now and then to tell the callbacks
                    until = min(math.inf if deadline is None else deadline, backend.time() + WAIT)
                self._waiting = True
                if self._held.came:  # a Ctrl-C that came while the state was half updated
                    raise KeyboardInterrupt
                pending.extend(backend.next_events(until=until))
                self._waiting = False
            if not pending:
                ended = stop.reached(backend.time(), so_far)  # its max_wallclock
                if ended:
                    return ended
                if until is not None and backend.time() >= until:
                    for callback in self.callbacks:
                        callback.on_wait()
                    continue
                raise RuntimeError(
                    f"backend {backend.name} returned no event while trials "
                    f"{sorted(self._running)} are running"
                )
            event = pending.popleft()
            if isinstance(event, Report):
                self._on_report(event)
            elif isinstance(event, Failure):
                self._on_failure(event)
            ended = self._ending or stop.after_event(so_far, self.scheduler.metric,
                                                     self.scheduler.mode)
            if ended:
                return ended

    def _drain(self) -> None:
        """A graceful interrupt that came while the loop waited for events: record what the
        trials already reported (the backend ends them and reads their output) first.

        Elsewhere in the loop the state may be half updated, so nothing is drained there;
        a resume recovers those reports from the trials' output (recover_reports).
        """
        if not self._waiting:
            return
        self._waiting = False
        try:
            for event in self.backend.drain():
                if isinstance(event, Report):
                    self._on_report(event)
                elif isinstance(event, Failure):
                    self._on_failure(event, restart=False)  # a retry restarts at the resume
        except Exception:
            log.exception("could not record the trials' last reports at the interrupt")

    def _fill_workers(self) -> Ended | None:
        """Start or resume trials while a worker is free; say why it stopped short, if it did."""
        while len(self._running) < self.n_workers:
            trial_id = len(self.trials)
            t = _time.perf_counter()
            suggestion = self.scheduler.suggest(trial_id)
            self.backend.charge(_time.perf_counter() - t)
            if suggestion is None:
                return Ended(EndReason.NO_SUGGESTION)
            start = isinstance(suggestion, Start)
            refused = self.stop.may_start(trial_id) if start else None
            if refused:
                return refused
            trial = begin(self.scheduler, self.trials, trial_id, suggestion, self.backend.time())
            if start:
                self.backend.start(trial)
            else:
                self.backend.resume(trial)
            self._running.add(trial.trial_id)
            trial.extra["running_since"] = self.backend.time()
            self.scheduler.on_start(trial)
            for callback in self.callbacks:
                callback.on_trial_start(trial)
        return None

    def _on_report(self, report: Report) -> None:
        trial = self.trials[report.trial_id]
        if trial.trial_id not in self._running or self.retries.repeated(trial, report):
            return  # crossed a stop/pause in flight (real backends), or a retry repeats it
        why = self._invalid(trial, report)
        if why is not None:  # fails this trial, not the run
            if not report.last:
                self.backend.stop(trial.trial_id)
            self._on_failure(Failure(trial.trial_id, report.time, f"trial {trial.trial_id}: {why}"),
                             retry=False)
            return
        self._checks.on_report(report)
        self.so_far.add_cost(trial, report, self.stop.cost_attribute)
        t = _time.perf_counter()
        seen, ok = feasible_view(self.scheduler, self.constraints, trial, report)
        decision = decide(self.scheduler, trial, seen)
        if (self.stoppers and self.stoppers.stop_trial(trial, report)
                and decision != Decision.STOP):
            decision = Decision.STOP
            trial.status = Status.STOPPED
            self.scheduler.on_error(trial)  # the trial will not report again
        if trial.status == Status.STOPPED:
            self.backend.stop(trial.trial_id)
        elif trial.status == Status.PAUSED:
            self.backend.pause(trial.trial_id)
        if trial.status != Status.RUNNING:
            self._running.discard(trial.trial_id)
            if trial.status != Status.PAUSED:
                self.so_far.n_finished += 1
        self.backend.charge(_time.perf_counter() - t)
        value = report.metrics[self.scheduler.metric]
        if ok:
            self.so_far.add_report(trial.trial_id, report.fidelity, value, self.scheduler.mode)
            self.incumbent.offer(trial.trial_id, report.fidelity, value)
        else:  # infeasible: a valid report, but no candidate for best
            self.so_far.n_reports += 1
        self._write(trial, report.time, report.fidelity, report.metrics, decision.value)
        why = report_to(self.callbacks, trial, report, decision)  # a StopRun's reason
        if why is not None and self._ending is None:
            self._ending = Ended(EndReason.CALLBACK, f"{EndReason.CALLBACK.value}: {why}")
        if trial.status in (Status.COMPLETED, Status.STOPPED):
            self._ended(trial)

    def _on_failure(self, failure: Failure, retry: bool = True, restart: bool = True) -> None:
        trial = self.trials[failure.trial_id]
        if trial.trial_id not in self._running:
            return  # the trial was stopped or paused already: its failure changes nothing
        if retry and failure.retryable and self.retries.take(trial, failure):  # it runs on
            self._write(trial, failure.time, trial.fidelity, {}, "", Status.RETRIED)
            if restart:
                self.backend.restart(trial)
                for callback in self.callbacks:
                    callback.on_trial_start(trial)
            return
        trial.status = Status.FAILED
        trial.extra["error"] = failure.reason  # for the callbacks and metadata.json's errors
        self._running.discard(trial.trial_id)
        self.so_far.n_failed += 1
        self.so_far.n_finished += 1
        if self._first_failure is None:
            self._first_failure = failure.reason
        log.warning("trial %d failed: %s", trial.trial_id, failure.reason)
        self.scheduler.on_error(trial)
        self._write(trial, failure.time, trial.fidelity, {}, "")
        self._ended(trial)

    def _invalid(self, trial: Trial, report: Report) -> str | None:
        """Why `report` cannot be used (a training's error), None if it can."""
        return report_problem(self.scheduler.metric, trial, report)

    def _write(self, trial: Trial, time: float, fidelity: int | None,
               metrics: dict[str, Any], decision: str, status: Status | None = None) -> None:
        if self.results is not None:
            self.results.write(trial.trial_id, time, fidelity, metrics, decision,
                               (status or trial.status).value, trial.config)

    def _errors(self) -> dict[str, Any]:
        """{"errors": {trial id: reason}} of the failed trials, {} if none failed."""
        errors = {str(t.trial_id): t.extra["error"] for t in self.trials.values()
                  if t.status == Status.FAILED and "error" in t.extra}
        return {"errors": errors} if errors else {}

    def _ended(self, trial: Trial) -> None:
        for callback in self.callbacks:
            callback.on_trial_end(trial)
        if self.stoppers and self._ending is None:
            self._ending = self.stoppers.on_trial_end(trial)

    def _summary(self, ended: Ended) -> TuningSummary:
        return TuningSummary(
            n_started=len(self.trials),
            n_finished=self.so_far.n_finished,
            n_failed=self.so_far.n_failed,
            n_reports=self.so_far.n_reports,
            time=self.backend.time(),
            best=self.incumbent.value,
            reason=ended.text,
            first_failure=self._first_failure,
            best_trial=(best := self.incumbent.trial_id),
            best_config=None if best is None else dict(self.trials[best].config),
            cost=self.so_far.cost,
            warnings=self._checks.warnings(),
            best_fidelity=self.incumbent.fidelity,
            end=ended.reason,
        )
