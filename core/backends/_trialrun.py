"""What a backend sees of one run of a trial's process, wherever the process runs: the
events its output produced (ProcEvent) and the interface to end it (TrialRun)."""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any


@dataclass
class ProcEvent:
    """What a reader thread saw: 'report', 'malformed', 'overflow', 'broken' or 'exit'."""

    proc: TrialRun
    kind: str
    time: float  # time.monotonic() when seen
    payload: Any = None


class TrialRun(ABC):
    """One run of a trial's process as a backend sees it: what it reported, how to end it.

    LocalBackend drives every run through this interface only: TrialProcess (a process
    on this machine) implements it, and so does core.backends.ray.RemoteProcess (a
    process in a Ray actor). `started` and `last_seen` are monotonic times (the limits
    max_trial_seconds and hang_timeout count from them), `halted` marks a run whose
    events are stale, `ended` is set once its process has exited.
    """

    trial_id: int
    started: float
    last_seen: float
    halted: bool
    n_reports: int
    last_report: Any
    best_fidelity: int | None  # highest fidelity it reported
    stalled: int  # reports in a row that did not raise best_fidelity
    ended: threading.Event

    def check_fidelity(self, name: str, value: float, stall_limit: int) -> str | None:
        """Why report number `n_reports`, at fidelity `value`, fails the trial; None if fine.

        The fidelity must be a whole number, and `stall_limit` reports in a row that do
        not raise it above the highest this process reported fail the trial.
        """
        n = self.n_reports
        if not (isinstance(value, int) or (math.isfinite(value) and value == int(value))):
            return f"report {n} has {name}={value!r}; report whole numbers, e.g. {name}=3"
        if self.best_fidelity is None or value > self.best_fidelity:
            self.best_fidelity, self.stalled = int(value), 0
            return None
        self.stalled += 1
        if self.stalled < stall_limit:
            return None
        return (
            f"no progress: {stall_limit} reports in a row without {name} rising above "
            f"{self.best_fidelity} (report {n} has {name}={value!r})"
        )

    @abstractmethod
    def terminate(self, grace: float) -> None:
        """SIGTERM to the process tree, SIGKILL after `grace` seconds (without waiting)."""

    @abstractmethod
    def finish(self, grace: float) -> None:
        """Let a process that made its last report exit by itself, or terminate it after `grace`."""

    @abstractmethod
    def kill_now(self, grace: float) -> None:
        """Terminate and wait until the process has ended (SIGKILL after `grace`)."""

    @abstractmethod
    def kill_group(self, everywhere: bool = True) -> None:
        """SIGKILL whatever is left of the trial (`everywhere`: also outside its group)."""

    @abstractmethod
    def stderr_tail(self) -> str:
        """The last lines the process wrote to stderr."""
