"""The Tuner: the one loop that asks the scheduler and drives a backend."""

from __future__ import annotations

import logging
import math
import time as _time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from core.backends.base import Backend
from core.callbacks import Callback
from core.checks import RunChecks
from core.incumbent import Incumbent, describe
from core.results import ResultsWriter
from core.schedulers.base import Scheduler
from core.stopping import StoppingCriterion
from core.trial import Decision, Event, Failure, Report, Resume, Start, Status, Trial

log = logging.getLogger("simtune.tuner")
WAIT = 1.0  # real backends: seconds the Tuner waits for events before telling the callbacks

# the ends of a complete run (with at least one valid report): its budget, its target,
# or nothing left to run
FINISHED = frozenset({
    "budget reached",
    "trial budget reached",
    "cost budget reached",
    "metric target reached",
    "nothing left to run",
    "the scheduler has no more trials to suggest",
})


@dataclass
class TuningSummary:
    """What a finished run did."""

    n_started: int
    n_finished: int
    n_failed: int
    n_reports: int
    time: float  # on the backend's clock
    best: float | None  # the incumbent's value of the scheduler's metric (core.incumbent)
    reason: str  # why the run ended
    first_failure: str | None = None  # reason of the first failed trial
    best_trial: int | None = None  # the incumbent: the trial that reported `best`
    best_config: dict[str, Any] | None = None  # its configuration
    cost: float = 0.0  # total trial cost (stop.max_cost's measure)
    warnings: list[str] = field(default_factory=list)  # what looked misconfigured (core.checks)
    best_fidelity: int | None = None  # the fidelity of the incumbent's report

    @property
    def complete(self) -> bool:
        """True if the run ended by its budget or had nothing left to run, with at least
        one valid report."""
        return self.reason in FINISHED and self.n_reports > 0

    def best_record(self) -> dict[str, Any] | None:
        """The incumbent as metadata.json records it (None: no valid report)."""
        return None if self.best_trial is None else {
            "trial_id": self.best_trial, "config": self.best_config, "value": self.best,
            "fidelity": self.best_fidelity}


class Tuner:
    """Asks the scheduler for a trial whenever a worker is free and feeds results back.

    The same loop serves every backend; the backend owns the clock. `callbacks`
    (core.callbacks.Callback) watch the run; the results writer records it.

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
        results: ResultsWriter | None = None,
        progress: bool = True,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
            raise ValueError(f"n_workers must be a positive integer, got {n_workers!r}")
        self.scheduler = scheduler
        self.backend = backend
        self.stop = stop
        self.n_workers = n_workers
        self.results = results
        self.progress = progress
        self.callbacks = list(callbacks)
        self.trials: dict[int, Trial] = {}
        self._running: set[int] = set()
        self._n_finished = 0
        self._n_failed = 0
        self._n_reports = 0
        self._best: float | None = None  # best value of any report (stop.metric_target's)
        self._best_at: tuple[int, Any] = (-1, None)  # its trial and fidelity
        self.incumbent = Incumbent(scheduler.mode)  # the run's best (core.incumbent)
        self._first_failure: str | None = None
        self._cost: dict[int, float] = {}  # trial id -> its cost so far
        self._cost_total = 0.0
        self._checks = RunChecks(scheduler, backend)
        self._waiting = False  # in backend.next_events: an interrupt there may drain

    @property
    def n_running(self) -> int:
        return len(self._running)

    @property
    def n_reports(self) -> int:
        return self._n_reports

    @property
    def running(self) -> frozenset[int]:
        """Ids of the trials running now."""
        return frozenset(self._running)

    def run(self) -> TuningSummary:
        """Run until the stopping criterion holds or nothing is left to do.

        A results writer holding the rows of an interrupted run makes this a resume: on
        a deterministic backend the run is redone and every row checked against the
        recorded one; on a real backend the recorded events are fed back first
        (core.backends.replay), then the trials left running continue from their
        checkpoints.
        """
        results = self.results
        replaying = getattr(results, "replaying", False)  # a plain sink (write, close) never is
        if replaying and not self.backend.deterministic:
            from core.backends.replay import ReplayBackend

            self.backend = ReplayBackend(self.backend, results.recorded_events())
        self._checks.start()
        bar = self._progress_bar()
        reason = "interrupted"
        try:
            for callback in self.callbacks:
                callback.on_run_start(self)
            reason = self._loop(bar)
        except KeyboardInterrupt:
            reason = "interrupted (SIGINT)"
            self._drain()
            raise
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 0
            reason = f"interrupted (signal {code - 128})" if code > 128 else "interrupted"
            self._drain()
            raise
        except BaseException as e:
            reason = "crashed: " + " ".join(f"{type(e).__name__}: {e}".split())[:500]
            raise
        finally:
            try:
                ended = not reason.startswith(("interrupted", "crashed"))
                for trial_id in sorted(self._running):
                    self.backend.stop(trial_id)
                    trial = self.trials[trial_id]
                    trial.status = Status.STOPPED
                    if ended:  # the run is over: say so in the trial's last row
                        self._write(trial, self.backend.time(), None, {}, "")
                        self._ended(trial)
            finally:
                self._running.clear()
                self.backend.close()  # no trial keeps running, whatever happened above
            if bar is not None:
                bar.close()
            if reason in FINISHED and not self._n_reports:
                reason = f"no valid report ({reason}; {self._n_failed} of {len(self.trials)} " \
                    "trials failed)"
            summary = self._summary(reason)
            for warning in summary.warnings:
                log.warning(warning)
            for callback in self.callbacks:
                callback.on_run_end(summary)
            if results is not None:
                results.close(
                    end_reason=reason,
                    n_trials=summary.n_started,
                    n_failed=summary.n_failed,
                    n_reports=summary.n_reports,
                    end_time=summary.time,
                    complete=summary.complete,
                    best=summary.best_record(),
                )
        log.info("run ended (%s): %d trials, %d reports, %.1f s on the backend's clock; best: %s",
                 reason, summary.n_started, summary.n_reports, summary.time,
                 describe(summary.best_record()))
        return summary

    def _loop(self, bar: tqdm | None) -> str:
        stop = self.stop
        deadline = stop.max_wallclock
        pending: deque[Event] = deque()  # one event at a time: a replay sees the same steps
        while True:
            idle_reason = self._fill_workers()
            backend = self.backend
            if stop.done(backend.time(), self._n_finished):
                return "budget reached"
            if not self._running:
                return idle_reason or "nothing left to run"
            until = deadline
            if not pending:
                if not backend.deterministic:  # wake up now and then to tell the callbacks
                    until = min(math.inf if deadline is None else deadline, backend.time() + WAIT)
                self._waiting = True
                pending.extend(backend.next_events(until=until))
                self._waiting = False
                if bar is not None:
                    self._update_bar(bar)
            if not pending:
                if deadline is not None and backend.time() >= deadline:
                    return "budget reached"
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
            given_up = stop.failures_end(self._n_failed, self._n_reports)
            if given_up:
                return given_up
            if stop.max_cost is not None and self._cost_total >= stop.max_cost:
                return "cost budget reached"
            if self._best is not None and stop.target_reached(self._best, self.scheduler.mode):
                trial_id, fidelity = self._best_at
                log.info("metric target %s reached by trial %d: %s %s at fidelity %s (any "
                         "report counts; the run's best is its incumbent, core.incumbent)",
                         stop.metric_target, trial_id, self.scheduler.metric, self._best,
                         fidelity)
                return "metric target reached"

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
                    self._on_failure(event)
        except Exception:
            log.exception("could not record the trials' last reports at the interrupt")

    def _fill_workers(self) -> str | None:
        """Start or resume trials while a worker is free; say why it stopped short, if it did."""
        while len(self._running) < self.n_workers:
            trial_id = len(self.trials)
            t = _time.perf_counter()
            suggestion = self.scheduler.suggest(trial_id)
            self.backend.charge(_time.perf_counter() - t)
            if suggestion is None:
                return "the scheduler has no more trials to suggest"
            if isinstance(suggestion, Start):
                if not self.stop.may_start(trial_id):
                    return "trial budget reached"
                trial = Trial(
                    trial_id,
                    suggestion.config,
                    start_time=self.backend.time(),
                    checkpoint_of=suggestion.checkpoint_of,
                )
                self.trials[trial_id] = trial
                self.backend.start(trial)
            elif isinstance(suggestion, Resume):
                trial = self.trials.get(suggestion.trial_id)
                if trial is None or trial.status != Status.PAUSED:
                    raise RuntimeError(
                        f"scheduler {type(self.scheduler).__name__} asked to resume trial "
                        f"{suggestion.trial_id}, which is not paused"
                    )
                trial.status = Status.RUNNING
                self.backend.resume(trial)
            else:
                raise TypeError(
                    f"scheduler returned {suggestion!r}; expected Start, Resume or None"
                )
            self._running.add(trial.trial_id)
            trial.extra["running_since"] = self.backend.time()
            self.scheduler.on_start(trial)
            for callback in self.callbacks:
                callback.on_trial_start(trial)
        return None

    def _on_report(self, report: Report) -> None:
        trial = self.trials[report.trial_id]
        if trial.trial_id not in self._running:
            return  # a report that crossed a stop/pause in flight (real backends)
        why = self._invalid(trial, report)
        if why is not None:  # fails this trial, not the run
            if not report.last:
                self.backend.stop(trial.trial_id)
            self._on_failure(Failure(trial.trial_id, report.time, f"trial {trial.trial_id}: {why}"))
            return
        trial.fidelity = report.fidelity
        self._checks.on_report(report)
        self._add_cost(trial, report)
        t = _time.perf_counter()
        decision = self.scheduler.on_report(trial, report)
        if report.last:
            trial.status = Status.COMPLETED
            self._running.discard(trial.trial_id)
            self._n_finished += 1
            self.scheduler.on_complete(trial, report)
        elif decision == Decision.STOP:
            self.backend.stop(trial.trial_id)
            trial.status = Status.STOPPED
            self._running.discard(trial.trial_id)
            self._n_finished += 1
        elif decision == Decision.PAUSE:
            self.backend.pause(trial.trial_id)
            trial.status = Status.PAUSED
            self._running.discard(trial.trial_id)
        self.backend.charge(_time.perf_counter() - t)
        self._n_reports += 1
        value = report.metrics[self.scheduler.metric]
        self.incumbent.offer(trial.trial_id, report.fidelity, value)
        best = self._best
        if best is None or (value < best if self.scheduler.mode == "min" else value > best):
            self._best, self._best_at = value, (trial.trial_id, report.fidelity)
        self._write(trial, report.time, report.fidelity, report.metrics, decision.value)
        for callback in self.callbacks:
            callback.on_report(trial, report, decision)
        if trial.status in (Status.COMPLETED, Status.STOPPED):
            self._ended(trial)

    def _on_failure(self, failure: Failure) -> None:
        trial = self.trials[failure.trial_id]
        if trial.trial_id not in self._running:
            return  # the trial was stopped or paused already: its failure changes nothing
        trial.status = Status.FAILED
        self._running.discard(trial.trial_id)
        self._n_failed += 1
        self._n_finished += 1
        if self._first_failure is None:
            self._first_failure = failure.reason
        log.warning("trial %d failed: %s", trial.trial_id, failure.reason)
        self.scheduler.on_error(trial)
        self._write(trial, failure.time, trial.fidelity, {}, "")
        self._ended(trial)

    def _invalid(self, trial: Trial, report: Report) -> str | None:
        """Why `report` cannot be used (a training's error), None if it can."""
        metric = self.scheduler.metric
        value = report.metrics.get(metric)
        if value is None:
            has = ", ".join(sorted(report.metrics)) or "nothing"
            return (f"report at {report.fidelity} lacks the metric {metric!r} (it has {has}); "
                    f"report it, e.g. reporter({metric}=...)")
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"reported {metric}={value!r} at {report.fidelity}: not a finite number"
        last = trial.fidelity
        if last is not None and (report.fidelity < last or (report.fidelity == last
                                                              and not report.last)):
            return (f"reported fidelity {report.fidelity} after {last}: the fidelity must "
                    "increase from one report to the next")
        return None

    def _write(self, trial: Trial, time: float, fidelity: int | None,
               metrics: dict[str, Any], decision: str) -> None:
        if self.results is not None:
            self.results.write(trial.trial_id, time, fidelity, metrics, decision,
                               trial.status.value, trial.config)

    def _ended(self, trial: Trial) -> None:
        for callback in self.callbacks:
            callback.on_trial_end(trial)

    def _add_cost(self, trial: Trial, report: Report) -> None:
        """A trial's cost: its reported `stop.cost_attribute` (cumulative), else the
        seconds it has run on a worker (on the backend's clock)."""
        attribute = self.stop.cost_attribute
        if attribute is not None:
            value = report.metrics.get(attribute)
            cost = float(value) if isinstance(value, (int, float)) else self._cost.get(
                trial.trial_id, 0.0)
        else:
            since = trial.extra.get("running_since", report.time)
            trial.extra["running_since"] = report.time
            cost = self._cost.get(trial.trial_id, 0.0) + max(report.time - since, 0.0)
        self._cost_total += cost - self._cost.get(trial.trial_id, 0.0)
        self._cost[trial.trial_id] = cost

    def _progress_bar(self) -> tqdm | None:
        if not self.progress:
            return None
        if self.stop.max_wallclock is not None:
            return tqdm(
                total=float(self.stop.max_wallclock),
                unit="s",
                desc="backend clock",
                bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}{postfix}]",
            )
        return tqdm(
            total=self.stop.max_trials or self.stop.max_trials_finished, unit="trial", desc="trials"
        )

    def _update_bar(self, bar: tqdm) -> None:
        n = (
            self.backend.time()
            if self.stop.max_wallclock is not None
            else (len(self.trials) if self.stop.max_trials else self._n_finished)
        )
        if self.stop.max_wallclock is not None:
            n = min(n, self.stop.max_wallclock)
        bar.update(n - bar.n)
        if bar.n == bar.last_print_n:  # just redrawn: refresh the status text too
            bar.set_postfix_str(f"{len(self.trials)} trials, best {self.incumbent.value}",
                                refresh=False)

    def _summary(self, reason: str) -> TuningSummary:
        return TuningSummary(
            n_started=len(self.trials),
            n_finished=self._n_finished,
            n_failed=self._n_failed,
            n_reports=self._n_reports,
            time=self.backend.time(),
            best=self.incumbent.value,
            reason=reason,
            first_failure=self._first_failure,
            best_trial=(best := self.incumbent.trial_id),
            best_config=None if best is None else dict(self.trials[best].config),
            cost=self._cost_total,
            warnings=self._checks.warnings(),
            best_fidelity=self.incumbent.fidelity,
        )
