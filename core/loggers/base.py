"""What every logger shares: the lazy import of its library, the guard that disables a
failing logger, the silence while a resumed run replays its recorded rows, and the writer
it writes through: a thread (core.loggers.writer), or for a simulated run of a logger with
`in_process`, a forked child process (core.loggers.process_writer).

A logger is a Tuner callback (core.callbacks). Its subclass implements `start`,
`trial_start`, `report`, `trial_end`, `flush` and `end`; the base calls them inside a
guard: the first exception (in the loop or on the writer) disables the logger with one
warning, and the run goes on. The hooks only keep what they are told in memory and
`submit` whole batches to the writer: a trial's points at its end or pause, and every
`flush_every` real seconds (`flush`), so a running job can be watched live. The writer
runs the logger's own methods (in the child: on its copy of the logger as it stood after
`start`), so a writer-side method uses its arguments and the writer's own attributes only.
The run's end waits for the writer: when Tuner.run() returns, every log is written and
closed.
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from simtune.core.callbacks import Callback
from simtune.core.loggers.process_writer import ProcessWriter
from simtune.core.loggers.writer import BackgroundWriter
from simtune.core.trial import Decision, Report, Trial

if TYPE_CHECKING:
    from simtune.core.tuner import Tuner, TuningSummary

log = logging.getLogger("simtune.loggers")


class MissingExtra(ValueError):
    """A logger's library is not installed: one line naming the extra that installs it."""


def require(module: str, extra: str, what: str) -> ModuleType:
    """`module` imported, or MissingExtra naming `pip install "simtune[extra]"`."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(
            f"logger={extra} needs {what}, which is not installed: "
            f'pip install "simtune[{extra}]"'
        ) from None


def finite(value: Any) -> bool:
    """True for a finite int or float (not a bool): a value a logger can plot."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


class Logger(Callback):
    """A Tuner callback that writes the run to an outside tool; never ends the run.

    `directory`: where the run writes (default: the run directory of the Tuner's results
    writer). `time0`: the real time (epoch seconds) the backend's clock counts from;
    reports are stamped `time0 + report.time`, so a simulated run shows its virtual time.
    """

    name = "logger"
    flush_every = 1.0  # real seconds between batches of the running trials' points
    # write a simulated run from a forked child process (core.loggers.process_writer): a
    # simulated trial takes a fraction of a millisecond, and a thread sharing the interpreter
    # lock would slow the loop; real runs keep the thread (no fork beside Ray's threads)
    in_process = False

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = None if directory is None else Path(directory)
        self.disabled = False
        self.tuner: Tuner | None = None
        self.time0 = 0.0
        self.metric, self.metric_mode = "", "max"
        self._results: Any = None
        self._best: float | None = None
        self._writer: BackgroundWriter | None = None
        self._next_flush = 0.0

    # what subclasses implement
    def start(self, tuner: Tuner) -> None:
        """Open the outside run."""

    def trial_start(self, trial: Trial) -> None:
        """`trial` started or resumed (also while replaying)."""

    def report(self, trial: Trial, report: Report, decision: Decision, replayed: bool,
               best: float | None) -> None:
        """One report; `replayed`: an interrupted process of the run logged it already;
        `best`: the run's incumbent value if this report changed it, else None."""

    def trial_end(self, trial: Trial, replayed: bool) -> None:
        """`trial` ended (completed, stopped or failed), or was paused."""

    def flush(self) -> None:
        """Submit what the running trials reported since their last batch."""

    def idle(self) -> None:
        """On the writer (thread or child process), each time it has written everything
        submitted so far."""

    def end(self, summary: TuningSummary) -> None:
        """Submit the rest and the closing of the outside run."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run this logger's method `fn` with `args` on its writer, after everything
        submitted before."""
        if self._writer is not None:
            self._writer.submit(fn, *args)

    def sync(self, timeout: float = 60.0) -> bool:
        """Wait until the writer has written everything submitted so far; False if `timeout`
        s passed first or there is no writer."""
        return self._writer is not None and self._writer.sync(timeout)

    # the Tuner's hooks, guarded
    def on_run_start(self, tuner: Tuner) -> None:
        self.tuner = tuner
        self._results = tuner.results
        self.metric, self.metric_mode = tuner.scheduler.metric, tuner.scheduler.mode
        if self.directory is None:
            where = getattr(tuner.results, "directory", None)
            if where is None:
                self._disable(ValueError("no directory: pass directory=... or a results writer"))
                return
            self.directory = Path(where)
        self.time0 = time.time()  # a resumed run's stamps count from its resume
        if (self.in_process and tuner.backend.name == "simulated"
                and ProcessWriter.available()):
            self._writer = ProcessWriter(self.name, self, self._disable)
        else:
            self._writer = BackgroundWriter(self.name, self._disable, self.idle)
        self._next_flush = time.monotonic() + self.flush_every
        self._guard(self.start, tuner)
        self._guard(self._writer.send)  # a process writer forks here: a copy of the logger now

    def on_trial_start(self, trial: Trial) -> None:
        self._guard(self.trial_start, trial)

    def on_report(self, trial: Trial, report: Report, decision: Decision) -> None:
        if not self.disabled:
            self._guard(self.report, trial, report, decision, self.replaying(written=True),
                        self.best_changed())
            if time.monotonic() >= self._next_flush:
                self.on_wait()

    def on_trial_end(self, trial: Trial) -> None:
        if not self.disabled:
            self._guard(self.trial_end, trial, self.replaying(written=True))

    def on_wait(self) -> None:
        if not self.disabled:
            self._next_flush = time.monotonic() + self.flush_every
            self._guard(self.flush)
            self._guard(self._writer.send)

    def on_run_end(self, summary: TuningSummary) -> None:
        if self.tuner is not None:
            self._guard(self.end, summary)
        if self._writer is not None:  # the run returns once every log is written
            self._writer.close()
            self._writer = None

    def replaying(self, *, written: bool = False) -> bool:
        """True while a resumed run reproduces rows its directory recorded (the interrupted
        process logged them); `written`: the event's row has just been written."""
        results = self._results
        recorded = getattr(results, "n_recorded", 0)
        if not recorded:
            return False
        return results.n_rows - (1 if written else 0) < recorded

    def best_changed(self) -> float | None:
        """The run's incumbent value (core.incumbent) if it changed since the last call."""
        best = self.tuner.incumbent.value if self.tuner is not None else None
        if best is None or best == self._best:
            return None
        self._best = best
        return best

    def stamp(self, report_time: float) -> float:
        """The wall-clock time (epoch s) to log for a report at `report_time` on the backend's
        clock: virtual time on the simulated backend, counted from the run's start."""
        return self.time0 + report_time

    def _guard(self, hook: Any, *args: Any) -> None:
        if self.disabled:
            return
        try:
            hook(*args)
        except Exception as e:
            self._disable(e)

    def _disable(self, e: Exception) -> None:
        if self.disabled:
            return
        self.disabled = True
        log.warning("logger %s disabled for the rest of the run: %s: %s", self.name,
                    type(e).__name__, " ".join(str(e).split())[:300])
