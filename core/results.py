"""Append-only results store: results.csv (one row per report) and metadata.json.

The rows are the run's event log. A run resumed in the same directory (core.rundir
decides whether it may) replays: every row the resumed run produces while it catches
up is checked against the recorded one, byte for byte, and only rows past the
recorded ones are appended.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core import rundir
from core.rundir import RESULTS
from core.trial import Event, Failure, Report, Status

log = logging.getLogger("simtune.results")


class ReplayMismatch(ValueError):
    """A resumed run does not reproduce the rows its directory recorded."""


class ResultsWriter:
    """Writes one CSV row per report, flushed as it goes, plus the run's metadata.

    Columns: trial_id, time, <fidelity>, <metrics...>, decision, status, config_<hp>...
    A crash loses nothing already written: every row is handed to the OS at once.
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
        if state.kind == "empty":  # nothing worth resuming: keep it aside, start afresh
            resume = False
        if state.kind != "new" and resume:
            why = rundir.refusal(self.directory, state)
            if why is None and state.kind == "complete":
                why = f"{self.directory} holds a complete run of this configuration already"
            if why:
                raise ValueError(why)
        self.metadata: dict[str, Any] = {**(metadata or {}), "complete": False}
        if config is not None:
            self.metadata["config"] = rundir.comparable(config)
        self.directory.mkdir(parents=True, exist_ok=True)
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
        rundir.write_metadata(self.directory, self.metadata)
        fresh = state.kind == "new" or not (self.directory / RESULTS).exists()
        self._file = open(  # noqa: SIM115
            self.directory / RESULTS, "w" if fresh else "a", newline="", encoding="utf-8"
        )
        self._csv = csv.writer(self._file, lineterminator="\n")
        if fresh:
            self._csv.writerow(self.columns)
            self._file.flush()
        self._buffer = io.StringIO()
        self._check = csv.writer(self._buffer, lineterminator="")

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
            self._csv.writerow(row)
            self._file.flush()
        self.n_rows += 1

    def _verify(self, row: list[Any]) -> None:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._check.writerow(row)
        line, expected = self._buffer.getvalue(), self._recorded[self._replayed]
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
        rundir.write_metadata(self.directory, self.metadata)

    def close(self, *, complete: bool = False, **final: Any) -> None:
        """Flush and close; record `final` facts and whether the run is complete.

        A run that ended before it replayed all of its recorded rows did not reproduce
        them: ReplayMismatch (the rows stay as they were).
        """
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        left = len(self._recorded) - self._replayed
        reason = str(final.get("end_reason", ""))
        interrupted = reason.startswith(("interrupted", "crashed"))
        if left and not interrupted:
            complete = False
            final["end_reason"] = f"{reason}; replay ended with {left} recorded rows left"
        self.metadata.update(final)
        self.metadata["complete"] = bool(complete)
        rundir.write_metadata(self.directory, self.metadata)
        if left and not interrupted:
            raise ReplayMismatch(
                f"cannot resume {self.directory}: the resumed run ended "
                f"({reason}) with {left} of its {len(self._recorded)} "
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
