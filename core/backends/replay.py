"""Resume an interrupted run on a real backend: feed its recorded events back, then go live.

While recorded events remain, the Tuner and the scheduler see exactly what the
interrupted run saw (the same reports in the same order, on the recorded clock), so
their state is rebuilt without training anything again; starting, stopping or
pausing a trial costs nothing then. When the last recorded event is out, every trial
the replay left running is taken over from the interrupted process (`recover`) and
continued from its checkpoint (`resume`), after the reports it made that were never
recorded (`recover_reports`: its output on storage); reports it makes again at fidelities
already recorded are dropped. The clock goes on from the last recorded time.

Example:
    >>> ReplayBackend(LocalBackend("train.py"), session.events)  # doctest: +SKIP
    (core.rundir.RunSession.backend makes it when a run resumes on a real backend)
"""

from __future__ import annotations

from collections import deque
from typing import Any

from simtune.core.backends.base import Backend
from simtune.core.trial import Event, Failure, Report, Trial


class ReplayBackend(Backend):
    """`inner` behind a replay of `events` (the recorded events of an interrupted run)."""

    def __init__(self, inner: Backend, events: list[Event]) -> None:
        self.inner = inner
        self.name = inner.name
        for attr in ("fidelity", "max_fidelity"):  # what core.checks reads of a real training
            if hasattr(inner, attr):
                setattr(self, attr, getattr(inner, attr))
        self._queue: deque[Event] = deque(events)
        self._now = 0.0
        self._offset: float | None = None  # inner clock + offset = run clock, once live
        self._running: dict[int, Trial] = {}  # trials running in the replay
        self._paused: dict[int, Trial] = {}  # trials paused in the replay (unknown to inner)
        self._done_to: dict[int, int] = {}  # last fidelity recorded per trial

    @property
    def live(self) -> bool:
        return self._offset is not None

    def time(self) -> float:
        return self._now if self._offset is None else self._offset + self.inner.time()

    def start(self, trial: Trial) -> None:
        if self.live:
            self.inner.start(trial)
        else:
            self._running[trial.trial_id] = trial

    def resume(self, trial: Trial) -> None:
        tid = trial.trial_id
        if tid in self._paused:
            del self._paused[tid]
            if self.live:
                self.inner.recover(trial)
                self.inner.resume(trial)
            else:
                self._running[tid] = trial
        else:
            self.inner.resume(trial)

    def restart(self, trial: Trial) -> None:
        if self.live:
            self.inner.restart(trial)
        else:  # a recorded retry: it runs on in the replay, and is recovered when it ends
            self._running[trial.trial_id] = trial

    def pause(self, trial_id: int) -> None:
        trial = self._running.pop(trial_id, None)
        if trial is None:
            self.inner.pause(trial_id)
        else:
            self._paused[trial_id] = trial

    def stop(self, trial_id: int) -> None:
        if self._running.pop(trial_id, None) is None and self._paused.pop(trial_id, None) is None:
            self.inner.stop(trial_id)

    def next_events(self, until: float | None = None) -> list[Event]:
        if self._queue:
            event = self._queue.popleft()
            self._now = max(self._now, event.time)
            if isinstance(event, Report):
                self._done_to[event.trial_id] = event.fidelity
            if isinstance(event, Failure) or event.last:
                self._running.pop(event.trial_id, None)
            return [event]
        if not self.live:
            self._go_live()
        offset = self._offset
        assert offset is not None
        inner_until = None if until is None else until - offset
        return self._on_run_clock(self.inner.next_events(until=inner_until))

    def drain(self) -> list[Event]:
        return self._on_run_clock(self.inner.drain()) if self.live else []

    def _on_run_clock(self, events: list[Event]) -> list[Event]:
        """The inner backend's live `events` on the run's clock, without recorded reports."""
        offset = self._offset
        assert offset is not None
        out: list[Event] = []
        for event in events:
            if isinstance(event, Report):
                if event.fidelity <= self._done_to.get(event.trial_id, -1) and not event.last:
                    continue  # recorded before the interruption
                out.append(Report(event.trial_id, offset + event.time, event.fidelity,
                                  event.metrics, event.last))
            else:
                out.append(Failure(event.trial_id, offset + event.time, event.reason))
        return out

    def _go_live(self) -> None:
        """The replay is over: continue the trials it left running, for real."""
        self._offset = self._now - self.inner.time()
        running, self._running = self._running, {}
        for trial in running.values():  # and what they said that was never recorded
            self.inner.recover(trial)
            self.inner.recover_reports(trial)
            self.inner.resume(trial)

    def checkpoint_bytes(self, trial_id: int) -> int:
        return self.inner.checkpoint_bytes(trial_id)

    def delete_checkpoint(self, trial_id: int) -> int:
        return self.inner.delete_checkpoint(trial_id)

    def charge(self, seconds: float) -> None:
        self.inner.charge(seconds)

    def close(self) -> None:
        self.inner.close()

    def metadata(self) -> dict[str, Any]:
        return self.inner.metadata()
