"""Append-only results store: results.csv (one row per report) and metadata.json.

The rows are the run's event log. A run resumed in the same directory (core.rundir
decides whether it may) replays: every row the resumed run produces while it catches
up is checked against the recorded one, byte for byte, and only rows past the
recorded ones are appended.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from time import monotonic
from typing import Any

from core import rundir
from core.diskfull import NoSpace, is_no_space, no_space
from core.rundir import RESULTS
from core.runlock import LOCK_FILE, RunLock
from core.stopping import Ended
from core.trial import Event, Failure, Report, Status

log = logging.getLogger("simtune.results")
DIGEST_EVERY = 1.0  # seconds between the digests of results.csv recorded in metadata.json


class ReplayMismatch(ValueError):
    """A resumed run does not reproduce the rows its directory recorded."""


class RunComplete(ValueError):
    """The directory holds a complete run of this configuration: nothing left to do."""


class ResultsWriter:
    """Writes one CSV row per report, flushed as it goes, plus the run's metadata.

    Columns: trial_id, time, <fidelity>, <metrics...>, decision, status, config_<hp>...
    A crash loses nothing already written: every row is handed to the OS at once. The
    writer holds the directory's lock (core.runlock) until closed: a second writer is
    refused, naming it. metadata.json records a digest of the rows written (every
    DIGEST_EVERY seconds and at the end); a resume or a rerun refuses a file changed since.
    A full disk raises core.diskfull.NoSpace and leaves whole rows.
    `config` identifies the run: a directory holding an incomplete run of the same
    config resumes it (unless resume=False, which moves it to superseded/), one of
    another config is refused, a complete one of the same config is refused too
    (there is nothing left to do). One that ended without a valid report (of any config)
    is moved to superseded/ and the run starts afresh.

    Example:
        >>> w = ResultsWriter("out", fidelity="epoch", metrics=["loss"], hyperparameters=["lr"])
        >>> w.write(0, 1.5, 1, {"loss": 0.3}, "continue", "running", {"lr": 0.1})
    """

    _recorded: list[str] = []  # rows of an interrupted run, to be replayed (read-only)
    _replayed = 0  # how many of them the resumed run has reproduced
    _full: NoSpace | None = None  # the write that found the disk full

    def __init__(
        self,
        directory: str | Path,
        *,
        fidelity: str,
        metrics: Sequence[str],
        hyperparameters: Sequence[str],
        metadata: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        resume: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.fidelity = fidelity
        self.metrics = list(metrics)
        self.hyperparameters = list(hyperparameters)
        reserved = {"trial_id", "time", "decision", "status", fidelity}
        clash = reserved & set(self.metrics)
        if clash:
            raise ValueError(
                f"metric names {sorted(clash)} clash with result columns {sorted(reserved)}"
            )
        self.columns = [
            "trial_id",
            "time",
            fidelity,
            *self.metrics,
            "decision",
            "status",
            *(f"config_{h}" for h in self.hyperparameters),
        ]
        state = rundir.inspect(self.directory, config)
        self._refuse(state, resume)  # before the lock: a refused run leaves no lock file
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = RunLock.acquire(self.directory / LOCK_FILE)
        try:
            state = rundir.inspect(self.directory, config)  # as it is now that it is ours
            self._refuse(state, resume)
            # a run without a valid report is nothing worth resuming: set aside, start afresh
            self._open(state, metadata, config, resume and state.kind != "empty")
        except BaseException:
            self._lock.release()
            raise

    def _refuse(self, state: rundir.RunState, resume: bool) -> None:
        """ValueError if the run in the directory may not go on (RunComplete: it is done)."""
        if state.kind in ("new", "empty") or not resume:
            return
        why = rundir.refusal(self.directory, state)
        if why:
            raise ValueError(why)
        if state.kind == "complete":
            raise RunComplete(f"{self.directory} holds a complete run of this configuration "
                              "already")

    def _open(self, state: rundir.RunState, metadata: dict[str, Any] | None,
              config: dict[str, Any] | None, resume: bool) -> None:
        self.metadata: dict[str, Any] = {**(metadata or {}), "complete": False}
        if config is not None:
            self.metadata["config"] = rundir.comparable(config)
        if state.kind != "new" and not resume:
            aside = rundir.set_aside(self.directory)
            log.info("moved the earlier run of %s (%s) to %s", self.directory,
                     state.metadata.get("end_reason", "interrupted"), aside)
            state = rundir.RunState("new")
        recorded = rundir.read_rows(self.directory, self.columns) if state.kind != "new" else []
        if state.kind != "new":
            self.metadata["resumed"] = int(state.metadata.get("resumed", 0)) + 1
        self._recorded = recorded
        self._replayed = 0  # rows of _recorded checked so far
        self.n_rows = 0
        path = self.directory / RESULTS
        fresh = state.kind == "new" or not path.exists() or path.stat().st_size == 0
        self._buffer = io.StringIO()
        self._check = csv.writer(self._buffer, lineterminator="")
        self._digest = hashlib.sha256(b"" if fresh else path.read_bytes())
        self._size = 0 if fresh else path.stat().st_size  # bytes of whole rows written
        self._synced = monotonic()
        self.update()
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
                               | (os.O_TRUNC if fresh else 0), 0o644)
        except OSError as e:
            if is_no_space(e):
                raise no_space(e, path) from None
            raise
        if fresh:
            self._append(self._line(self.columns))

    @property
    def n_recorded(self) -> int:
        """Rows the directory held when the run was resumed (0 for a new run)."""
        return len(self._recorded)

    @property
    def replaying(self) -> bool:
        """True while recorded rows are still being checked instead of written."""
        return self._replayed < len(self._recorded)

    def write(
        self,
        trial_id: int,
        time: float,
        fidelity: int | None,
        metrics: dict[str, Any],
        decision: str,
        status: str,
        config: dict[str, Any],
    ) -> None:
        """Append one row (missing metrics stay empty); while replaying, check it instead."""
        get = metrics.get
        row = [
            trial_id,
            time,
            fidelity,
            *[get(m) for m in self.metrics],
            decision,
            status,
            *[config.get(h) for h in self.hyperparameters],
        ]
        if self.replaying:
            self._verify(row)
        else:
            self._append(self._line(row))
            if monotonic() - self._synced > DIGEST_EVERY:
                self.update()  # the digest of the rows so far: an edit of them is refused
        self.n_rows += 1

    def _line(self, row: Sequence[Any]) -> str:
        """`row` as one CSV line, without its newline."""
        self._buffer.seek(0)
        self._buffer.truncate()
        self._check.writerow(row)
        return self._buffer.getvalue()

    def _append(self, line: str) -> None:
        """Write `line` and its newline to results.csv; a full disk cuts a partial write
        off again (the file stays whole rows) and raises NoSpace."""
        data = (line + "\n").encode("utf-8")
        done = 0
        try:
            while done < len(data):
                done += os.write(self._fd, data[done:])
        except OSError as e:
            if done:
                os.ftruncate(self._fd, self._size)
            if is_no_space(e):
                self._full = no_space(e, self.directory / RESULTS, len(data))
                raise self._full from None
            raise
        self._size += len(data)
        self._digest.update(data)

    def _recorded_digest(self) -> dict[str, Any]:
        self._synced = monotonic()
        return {rundir.DIGEST: self._digest.hexdigest(), rundir.DIGEST_BYTES: self._size}

    def _verify(self, row: list[Any]) -> None:
        line, expected = self._line(row), self._recorded[self._replayed]
        if line != expected:
            raise ReplayMismatch(
                f"cannot resume {self.directory}: row {self._replayed + 1} of {RESULTS} was "
                f"{expected[:160]!r}, the resumed run gives {line[:160]!r}: the code or the "
                "data changed since it was written; rerun with resume=false (moves the old "
                f"run to {self.directory / rundir.SUPERSEDED}/) or use a new directory"
            )
        self._replayed += 1

    def recorded_events(self) -> list[Event]:
        """The events behind the recorded rows, in order (what a replay feeds back)."""
        events: list[Event] = []
        n_metrics = len(self.metrics)
        for values in csv.reader(self._recorded):
            trial_id, time, status = int(values[0]), float(values[1]), values[4 + n_metrics]
            if status == Status.STOPPED.value and values[3 + n_metrics] == "":
                continue  # the run's end stopped it: no event, the end is replayed too
            if status == Status.FAILED.value:
                events.append(Failure(trial_id, time, (
                    f"trial {trial_id} failed before the run was resumed (its reason is in "
                    "the run's log and its trial directory)")))
                continue
            cells = zip(self.metrics, values[3 : 3 + n_metrics], strict=True)
            metrics = {m: _number(v) for m, v in cells if v != ""}
            last = status == Status.COMPLETED.value
            events.append(Report(trial_id, time, int(values[2]), metrics, last))
        return events

    def update(self, **facts: Any) -> None:
        """Add `facts` to metadata.json now."""
        self.metadata.update(facts)
        self.metadata.update(self._recorded_digest())
        try:
            rundir.write_metadata(self.directory, self.metadata)
        except OSError as e:
            if not is_no_space(e):
                raise
            if self._full is None:  # else the first NoSpace says it; metadata.json stays
                text = json.dumps(self.metadata, indent=2, default=str)
                self._full = no_space(e, self.directory / rundir.METADATA, len(text) + 1)
                raise self._full from None

    def close(self, *, ended: Ended, complete: bool = False, **facts: Any) -> None:
        """Flush and close; record why the run `ended` (end_reason), whether it is
        complete, and other `facts`.

        A run that ended before it replayed all of its recorded rows did not reproduce
        them: ReplayMismatch (the rows stay as they were).
        """
        if not self._lock.held:
            return  # closed before
        try:
            os.fsync(self._fd)
            os.close(self._fd)
            self._close(ended, complete, facts)
        finally:
            self._lock.release()

    def _close(self, ended: Ended, complete: bool, facts: dict[str, Any]) -> None:
        left = len(self._recorded) - self._replayed
        mismatch = left and not ended.reason.cut_short  # it ended before its recorded rows
        reason = f"{ended}; replay ended with {left} recorded rows left" if mismatch else ended
        self.metadata["complete"] = bool(complete) and not mismatch
        self.update(end_reason=str(reason), **facts)
        if mismatch:
            raise ReplayMismatch(
                f"cannot resume {self.directory}: the resumed run ended "
                f"({ended}) with {left} of its {len(self._recorded)} "
                "recorded rows not reproduced: the code or the data changed since; rerun "
                "with resume=false or use a new directory"
            )


def _number(text: str) -> Any:
    """A CSV cell as the value that wrote it: int, float, or the text itself."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def run_metadata(
    *,
    scheduler: Any,
    scheduler_name: str,
    scheduler_args: dict[str, Any],
    benchmark: Any,
    metric: str,
    mode: str,
    seed: int,
    n_workers: int,
    backend: Any,
    stop: Any,
    packages: Sequence[str] = ("simtune", "numpy", "scipy", "pandas"),
) -> dict[str, Any]:
    """The metadata.json of a run, as experiments/run.py writes it and analysis reads it.

    `benchmark` is a blackbox or a core.custom.Problem (space, objectives, fidelities).

    Example:
        >>> run_metadata(scheduler=sched, scheduler_name="asha", scheduler_args={},
        ...              benchmark=problem, metric="loss", mode="min", seed=0,
        ...              n_workers=2, backend=backend, stop=stop)  # doctest: +SKIP
    """
    from core.provenance import versions

    return {
        "scheduler": {"name": scheduler_name, "args": scheduler_args,
                      "details": scheduler.metadata()},
        "benchmark": benchmark.name,
        "task": benchmark.task,
        "source": benchmark.source,
        "metric": metric,
        "mode": mode,
        "objectives": dict(benchmark.objectives),
        "fidelity_name": benchmark.fidelity_name,
        "fidelities": list(benchmark.fidelities),
        "optimum": benchmark.optimum,
        "seed": seed,
        "n_workers": n_workers,
        "backend": backend.metadata(),
        "stop": stop.to_dict(),
        "space": benchmark.space.to_dict(),
        "versions": versions(tuple(packages)),
    }
