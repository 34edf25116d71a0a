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
import os
from collections.abc import Sequence
from pathlib import Path
from time import monotonic
from typing import Any

from simtune.core.diskfull import NoSpace, is_no_space, no_space
from simtune.core.runlock import RunLock
from simtune.core.stopping import Ended
from simtune.core.trial import Event, Failure, Report, Status

DIGEST_EVERY = 1.0  # seconds between the digests of results.csv recorded in metadata.json
RESULTS = "results.csv"
METADATA = "metadata.json"
SUPERSEDED = "superseded"  # where core.rundir moves an earlier run of the directory
DIGEST, DIGEST_BYTES = "results_sha256", "results_bytes"  # metadata: what results.csv holds


class ReplayMismatch(ValueError):
    """A resumed run does not reproduce the rows its directory recorded."""


def columns(fidelity: str, metrics: Sequence[str], hyperparameters: Sequence[str]) -> list[str]:
    """The columns of results.csv; ValueError if a metric takes a column's name."""
    reserved = {"trial_id", "time", "decision", "status", fidelity}
    clash = reserved & set(metrics)
    if clash:
        raise ValueError(
            f"metric names {sorted(clash)} clash with result columns {sorted(reserved)}"
        )
    return ["trial_id", "time", fidelity, *metrics, "decision", "status",
            *(f"config_{h}" for h in hyperparameters)]


class ResultsWriter:
    """Writes one CSV row per report, flushed as it goes, plus the run's metadata.

    Made by core.rundir.open_run, which decides whether the directory's run is new or
    resumed and hands over the directory's lock (released by `close`) and the `recorded`
    rows of an interrupted run, which the writer checks instead of writing them again.
    Columns: trial_id, time, <fidelity>, <metrics...>, decision, status, config_<hp>...
    A crash loses nothing already written: every row is handed to the OS at once.
    metadata.json records a digest of the rows written (every DIGEST_EVERY seconds and at
    the end); a resume or a rerun refuses a file changed since. A full disk raises
    core.diskfull.NoSpace and leaves whole rows.

    Example:
        >>> w = open_run("out", fidelity="epoch", metrics=["loss"], hyperparameters=["lr"]).writer
        >>> w.write(0, 1.5, 1, {"loss": 0.3}, "continue", "running", {"lr": 0.1})
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        fidelity: str,
        metrics: Sequence[str],
        hyperparameters: Sequence[str],
        metadata: dict[str, Any],
        lock: RunLock,
        recorded: Sequence[str] = (),
    ) -> None:
        self.directory = Path(directory)
        self.fidelity = fidelity
        self.metrics = list(metrics)
        self.hyperparameters = list(hyperparameters)
        self.columns = columns(fidelity, self.metrics, self.hyperparameters)
        self.metadata = metadata
        self._lock = lock
        self.recorded = tuple(recorded)  # rows of an interrupted run, to be replayed
        self._replayed = 0  # how many of them the resumed run has reproduced
        self._full: NoSpace | None = None  # the write that found the disk full
        self.n_rows = 0
        path = self.directory / RESULTS
        fresh = not path.exists() or path.stat().st_size == 0
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
        return len(self.recorded)

    @property
    def replaying(self) -> bool:
        """True while recorded rows are still being checked instead of written."""
        return self._replayed < len(self.recorded)

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

    def _digest_so_far(self) -> dict[str, Any]:
        self._synced = monotonic()
        return {DIGEST: self._digest.hexdigest(), DIGEST_BYTES: self._size}

    def _verify(self, row: list[Any]) -> None:
        line, expected = self._line(row), self.recorded[self._replayed]
        if line != expected:
            raise ReplayMismatch(
                f"cannot resume {self.directory}: row {self._replayed + 1} of {RESULTS} was "
                f"{expected[:160]!r}, the resumed run gives {line[:160]!r}: the code or the "
                "data changed since it was written; rerun with resume=false (moves the old "
                f"run to {self.directory / SUPERSEDED}/) or use a new directory"
            )
        self._replayed += 1

    def update(self, **facts: Any) -> None:
        """Add `facts` to metadata.json now."""
        self.metadata.update(facts)
        self.metadata.update(self._digest_so_far())
        try:
            write_metadata(self.directory, self.metadata)
        except OSError as e:
            if not is_no_space(e):
                raise
            if self._full is None:  # else the first NoSpace says it; metadata.json stays
                text = json.dumps(self.metadata, indent=2, default=str)
                self._full = no_space(e, self.directory / METADATA, len(text) + 1)
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
        left = len(self.recorded) - self._replayed
        mismatch = left and not ended.reason.cut_short  # it ended before its recorded rows
        reason = f"{ended}; replay ended with {left} recorded rows left" if mismatch else ended
        self.metadata["complete"] = bool(complete) and not mismatch
        self.update(end_reason=str(reason), **facts)
        if mismatch:
            raise ReplayMismatch(
                f"cannot resume {self.directory}: the resumed run ended "
                f"({ended}) with {left} of its {len(self.recorded)} "
                "recorded rows not reproduced: the code or the data changed since; rerun "
                "with resume=false or use a new directory"
            )


def write_metadata(directory: str | Path, metadata: dict[str, Any]) -> None:
    """Replace metadata.json atomically (a crash leaves the old or the new one, whole)."""
    path = Path(directory) / METADATA
    tmp = path.with_name(METADATA + ".partial")
    try:
        tmp.write_text(json.dumps(metadata, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves the old metadata.json, no debris
        raise


def recorded_events(rows: Sequence[str], metrics: Sequence[str]) -> list[Event]:
    """The events behind recorded `rows` of results.csv (lines of a run with `metrics`),
    in order: what a replay feeds back."""
    events: list[Event] = []
    n_metrics = len(metrics)
    for values in csv.reader(rows):
        trial_id, time, status = int(values[0]), float(values[1]), values[4 + n_metrics]
        if status == Status.STOPPED.value and values[3 + n_metrics] == "":
            continue  # the run's end stopped it: no event, the end is replayed too
        if status in (Status.FAILED.value, Status.RETRIED.value):  # a retry: its count
            events.append(Failure(trial_id, time, (
                f"trial {trial_id} failed before the run was resumed (its reason is in "
                "the run's log and its trial directory)")))
            continue
        cells = zip(metrics, values[3 : 3 + n_metrics], strict=True)
        values_of = {m: _number(v) for m, v in cells if v != ""}
        last = status == Status.COMPLETED.value
        events.append(Report(trial_id, time, int(values[2]), values_of, last))
    return events


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
    constraints: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The metadata.json of a run, as experiments/run.py writes it and analysis reads it.

    `benchmark` is a blackbox or a core.problem.Problem (space, objectives, fidelities).
    `constraints`: the run's outcome constraints (None: the benchmark's own); recorded
    under "constraints" only if there are any.

    Example:
        >>> run_metadata(scheduler=sched, scheduler_name="asha", scheduler_args={},
        ...              benchmark=problem, metric="loss", mode="min", seed=0,
        ...              n_workers=2, backend=backend, stop=stop)  # doctest: +SKIP
    """
    from simtune.core.provenance import versions

    if constraints is None:
        constraints = getattr(benchmark, "constraints", ())
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
    } | ({"constraints": list(constraints)} if constraints else {})
