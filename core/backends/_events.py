"""How LocalBackend (and the backends built on it) turns what its trial processes say into
the Tuner's events: reports checked and held until the last one is known, failures with
the tail of stderr, hung and overlong trials, and the drain of a graceful interrupt."""

from __future__ import annotations

import queue
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from simtune.core.backends._gpus import GpuPool
from simtune.core.backends._trialrun import ProcEvent, TrialRun
from simtune.core.diskfull import is_no_space, no_space
from simtune.core.trial import Event, Failure, Report

STALLED_REPORTS = 10  # reports in a row without a higher fidelity that fail a trial


class TrialEvents:
    """The event half of LocalBackend: its processes' ProcEvents in, the Tuner's events out.

    The backend fills the attributes below (see LocalBackend.__init__); a process's
    events arrive on `_events`, stamped with monotonic time.
    """

    fidelity: str
    max_fidelity: int | None
    hang_timeout: float | None
    max_trial_seconds: float | None
    grace_period: float
    _t0: float
    _events: queue.Queue[ProcEvent]
    _procs: dict[int, TrialRun]  # trial id -> its current process
    _pending: deque[ProcEvent]  # taken from the queue, not yet handled
    _held: dict[int, Report]  # trial id -> report waiting to learn if it is last
    _floor: dict[int, int]  # recovered trial -> reports up to this fidelity are old news
    _gpus: GpuPool
    trial_dir: Callable[[int], Path]

    def drain(self) -> list[Event]:
        """For a graceful interrupt: the events of what running trials already said.

        First every event that arrived is handled as usual; then the trials still running
        are ended, their output is read to its end, and the reports in it are handed
        out too (held ones not as last). In time order; no trial runs afterwards.
        """
        events = self._take_arrived(reports_only=False)
        running = [p for p in self._procs.values() if not p.halted]
        for proc in running:
            proc.terminate(self.grace_period)
        for proc in running:
            proc.kill_now(self.grace_period)  # once ended, its reader has read everything
        events += self._take_arrived(reports_only=True)
        for proc in running:
            held = self._held.pop(proc.trial_id, None)
            if held is not None and not proc.halted:
                events.append(held)
            proc.halted = True
        return sorted(events, key=lambda e: e.time)

    def _take_arrived(self, reports_only: bool) -> list[Event]:
        events: list[Event] = []
        while True:
            try:
                item = self._pending.popleft() if self._pending else self._events.get_nowait()
            except queue.Empty:
                return events
            if not reports_only or item.kind in ("report", "recovered"):
                events += self._handle(item)

    # -- events ----------------------------------------------------------------------------
    def next_events(self, until: float | None = None) -> list[Event]:
        """The events that arrived, in arrival order, at most one per trial per batch.

        One per trial so that a decision on a report (stop, pause) is taken before the
        trial's later reports are looked at: those then become stale and vanish.
        """
        events: list[Event] = []
        seen: set[int] = set()
        while True:
            if self._pending:
                item = self._pending.popleft()
            elif events:
                try:
                    item = self._events.get_nowait()
                except queue.Empty:
                    return events
            else:
                if not any(not p.halted for p in self._procs.values()):
                    return []
                timeout = self._wait_time(until)
                try:
                    item = self._events.get(timeout=timeout) if timeout > 0 else None
                except queue.Empty:
                    item = None
                if item is None:
                    events += self._check_hangs()
                    if events or (until is not None and self.time() >= until):
                        return events
                    continue
            if item.proc.trial_id in seen:
                self._pending.appendleft(item)
                return events
            new = self._handle(item)
            if new:
                seen.add(item.proc.trial_id)
                events += new

    def _wait_time(self, until: float | None) -> float:
        now = time.monotonic()
        deadline = float("inf") if until is None else self._t0 + until
        for proc in self._procs.values():
            if not proc.halted:
                deadline = min(deadline, *self._deadlines(proc))
        return max(0.0, min(deadline - now, 3600.0))

    def _deadlines(self, proc: TrialRun) -> tuple[float, float]:
        """When `proc` counts as hung, and when it has run too long (monotonic time)."""
        inf = float("inf")
        hung = inf if self.hang_timeout is None else proc.last_seen + self.hang_timeout
        late = inf if self.max_trial_seconds is None else proc.started + self.max_trial_seconds
        return hung, late

    def _check_hangs(self) -> list[Event]:
        now, out = time.monotonic(), []
        for proc in list(self._procs.values()):
            if proc.halted:
                continue
            hung, late = self._deadlines(proc)
            if now >= late:
                why = f"ran longer than {self.max_trial_seconds:g} s (max_trial_seconds)"
                out.append(self._fail(proc, now, why, grace=0))
            elif now >= hung:
                what = "first report" if proc.n_reports == 0 else "report"
                why = f"hung: no {what} for {self.hang_timeout:g} s (hang_timeout)"
                out.append(self._fail(proc, now, why, grace=0))
        return out

    def _handle(self, ev: ProcEvent) -> list[Event]:
        proc = ev.proc
        if proc.halted or self._procs.get(proc.trial_id) is not proc:
            return []  # stale: the trial was paused, stopped or failed before
        t = ev.time - self._t0
        tid = proc.trial_id
        if ev.kind in ("report", "recovered"):
            metrics = ev.payload
            if self.fidelity not in metrics:
                return [
                    self._fail(
                        proc,
                        ev.time,
                        f"report {proc.n_reports + 1} lacks the fidelity {self.fidelity!r}: "
                        f"{metrics}; report it, e.g. reporter({self.fidelity}=1, ...)",
                        grace=0, retryable=False,
                    )
                ]
            fid = metrics[self.fidelity]
            proc.last_seen = ev.time
            if ev.kind == "report" and tid in self._floor:
                if fid <= self._floor[tid]:
                    return []  # handed over from its output already (see recover_reports)
                del self._floor[tid]
            proc.n_reports += 1
            why = proc.check_fidelity(self.fidelity, fid, STALLED_REPORTS)
            if why is not None:  # a fidelity that is no whole number would be one again
                return [self._fail(proc, ev.time, why, grace=0,
                                   retryable=why.startswith("no progress"))]
            fid = int(fid)
            values = {k: v for k, v in metrics.items() if k != self.fidelity}
            report = Report(tid, t, fid, values)
            proc.last_report = report
            if self.max_fidelity is not None:
                if fid >= self.max_fidelity:
                    report.last = True
                    proc.halted = True  # done: its exit is no longer news
                    self._gpus.release(tid)
                    proc.finish(self.grace_period)
                return [report]
            previous = self._held.pop(tid, None)
            self._held[tid] = report
            return [previous] if previous is not None else []
        if ev.kind == "malformed":
            line_no, why = ev.payload
            return [self._fail(proc, ev.time, f"malformed report on stdout line {line_no}: {why}",
                               retryable=False)]
        if ev.kind == "overflow":
            return [self._fail(proc, ev.time, f"wrote more than {ev.payload:,} bytes of output")]
        if ev.kind == "broken":
            if is_no_space(ev.payload):  # the run's disk, not the trial: end the run, so that
                # a rerun once space is freed resumes the trial from its checkpoint
                raise no_space(ev.payload, self.trial_dir(tid))
            return [self._fail(proc, ev.time, f"its output could not be stored: {ev.payload}")]
        # exit
        code = ev.payload
        held = self._held.pop(tid, None)
        if code == 0:
            proc.halted = True
            self._gpus.release(tid)
            if held is not None:  # the held report was the last one
                held.last = True
                return [held]
            last = proc.last_report
            if last is not None:  # ended below max_fidelity: repeat its last report as final
                return [Report(tid, t, last.fidelity, last.metrics, last=True)]
            return [self._fail(proc, ev.time, "exited with code 0 without any report")]
        if held is not None:  # first the report it made, then (unless stopped) the failure
            self._pending.appendleft(ev)
            return [held]
        why = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return [self._fail(proc, ev.time, why)]

    def _fail(self, proc: TrialRun, now: float, why: str, grace: float = 0.0,
              retryable: bool = True) -> Failure:
        proc.halted = True
        self._held.pop(proc.trial_id, None)
        self._gpus.release(proc.trial_id)
        proc.terminate(grace)
        if why.startswith(("hung", "malformed", "wrote")):
            proc.ended.wait(2.0)  # let stderr reach its tail before it is quoted
        tail = proc.stderr_tail()
        reason = f"trial {proc.trial_id}: {why}"
        if tail:
            reason += f"\n--- last lines of {self.trial_dir(proc.trial_id) / 'stderr.txt'} ---\n"
            reason += tail
        return Failure(proc.trial_id, now - self._t0, reason, retryable)
