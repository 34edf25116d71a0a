"""logger=mlflow: one MLflow parent run per tuning run, one nested run per trial.

A trial's run has the configuration as params, its metrics (and `time`, the backend's
clock) with step = fidelity and timestamp = the run's start plus the backend's clock (a
simulated run shows its virtual time), and the tags `status`, `decision` (the last one)
and, for a failed trial, `error`. The parent run has `best_<metric>` (the incumbent's value
each time it changes; step = reports so far) and the tag `end_reason`. The tracking URI
defaults to a SQLite database in <run dir>/mlflow.db (MLflow 3's own default kind of store):

    mlflow ui --backend-store-uri sqlite:///outputs/2026-12-06/10-00-00/mlflow.db

The loop keeps a trial's points in memory; the writer (core.loggers.base: a thread, or the
child process of a simulated run) sends them as one batch when the trial ends or pauses
(its run created then), and every `flush_every` real seconds for trials still running. A
SQLite database that is new or of the installed MLflow's schema gets the batches many
trials per transaction, committed every `flush_every` s and at the end
(core.loggers.mlflow_sqlite); any other URI gets them through MLflow's client
(core.loggers.mlflow_client), one `log_batch` per batch.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simtune.core.loggers.base import Logger, finite, log, require
from simtune.core.stopping import EndReason
from simtune.core.trial import Decision, Report, Status, Trial

if TYPE_CHECKING:
    from simtune.core.tuner import Tuner, TuningSummary

DATABASE = "mlflow.db"  # the default tracking URI's file, in the run directory
ARTIFACTS = "mlartifacts"  # its experiments' artifact location (simtune logs no artifacts)
RUN_DIR_TAG = "simtune.run_dir"
TRIAL_TAG = "simtune.trial_id"
PARENT_TAG = "mlflow.parentRunId"


class MLflowLogger(Logger):
    """Writes the run to MLflow: `tracking_uri` (default: the SQLite database
    `directory`/mlflow.db, `directory` defaulting to the run directory), in the experiment
    `experiment`. Needs `pip install "simtune[mlflow]"`.

    Example:
        >>> MLflowLogger(tracking_uri="sqlite:///mlflow.db", experiment="digits")  # doctest: +SKIP
    """

    name = "mlflow"
    in_process = True

    def __init__(self, directory: str | Path | None = None, *, tracking_uri: str | None = None,
                 experiment: str = "simtune") -> None:
        super().__init__(directory)
        require("mlflow", "mlflow", "mlflow (mlflow-skinny)")
        self.tracking_uri, self.experiment = tracking_uri, experiment
        # the loop's side
        self._points: dict[int, list[tuple]] = {}  # trial id -> points not yet sent
        self._parent_points: list[tuple] = []
        self._decisions: dict[int, str] = {}  # trial id -> the scheduler's last decision
        self._live: set[int] = set()  # trials sent whose run is not terminated
        # the writer's side (a thread, or the child process of a simulated run)
        self.store: Any = None  # SqliteRuns or ClientRuns
        self._next_commit = 0.0
        self.parent: str | None = None  # the tuning run's MLflow run id
        self._runs: dict[int, str] = {}  # trial id -> its MLflow run id

    def start(self, tuner: Tuner) -> None:
        assert self.directory is not None
        tags = {RUN_DIR_TAG: str(self.directory.resolve()),
                "scheduler": type(tuner.scheduler).__name__, "backend": tuner.backend.name,
                "metric": self.metric, "mode": self.metric_mode}
        self.submit(self._open_parent, tags, self.replaying())

    def _open_parent(self, tags: dict[str, str], resumed: bool) -> None:
        assert self.directory is not None
        self.store = open_store(self.tracking_uri, self.experiment, self.directory)
        if resumed:  # continue the interrupted process's runs
            self.parent = self.store.run_with_tag(RUN_DIR_TAG, tags[RUN_DIR_TAG])
            if self.parent is not None:
                self._runs = {int(trial): run for run, trial in self.store.tag_of_runs_with_tag(
                    PARENT_TAG, self.parent, TRIAL_TAG).items()}
        if self.parent is None:
            self.parent = self.store.create_run(self.directory.name, _ms(self.time0), tags)

    def idle(self) -> None:
        # the writer has caught up: insert what it has; commit if the last commit is
        # flush_every s old (a commit rewrites the pages its rows touched: fewer, larger
        # ones cost less)
        if self.store is not None:
            self.store.write()
            self._commit_if_due()

    def _commit_if_due(self) -> None:
        """Commit if the last commit is `flush_every` s old (also while the writer is behind:
        what it wrote shows in MLflow, and survives a killed run, a second later)."""
        now = time.monotonic()
        if now >= self._next_commit:
            self._next_commit = now + self.flush_every
            self.store.commit()

    def report(self, trial: Trial, report: Report, decision: Decision, replayed: bool,
               best: float | None) -> None:
        if replayed:
            return
        points = self._points.get(trial.trial_id)
        if points is None:
            points = self._points[trial.trial_id] = []
        stamp = _ms(self.stamp(report.time))
        points.append((report.metrics, float(report.time), stamp, report.fidelity))
        if best is not None:
            self._parent_points.append((best, stamp, self.tuner.n_reports))
        self._decisions[trial.trial_id] = decision.value
        if decision == Decision.PAUSE:
            self._send(trial, {"status": "paused", "decision": decision.value})

    def trial_end(self, trial: Trial, replayed: bool) -> None:
        if replayed:
            return
        tags = {"status": trial.status.value}
        decision = self._decisions.get(trial.trial_id)
        if decision:
            tags["decision"] = decision
        error = trial.extra.get("error")
        if error:
            tags["error"] = str(error)[:5000]
        end = self.tuner.backend.time() if self.tuner is not None else 0.0
        self._send(trial, tags, ("FAILED" if trial.status == Status.FAILED else "FINISHED",
                                 _ms(self.stamp(end))))

    def _send(self, trial: Trial, tags: dict[str, str],
              terminate: tuple[str, int] | None = None) -> None:
        """Submit what `trial` reported since its last batch, with `tags`; `terminate`:
        (MLflow status, end time in ms) to end its run."""
        if terminate is None:
            self._live.add(trial.trial_id)
        else:
            self._live.discard(trial.trial_id)
        self.submit(self._write, trial.trial_id, trial.config,
                    _ms(self.stamp(trial.start_time)),
                    self._points.pop(trial.trial_id, []), tags, terminate)

    def flush(self) -> None:
        tuner = self.tuner
        for trial_id in list(self._points):
            if tuner is not None and trial_id in tuner.trials:
                self._send(tuner.trials[trial_id], {"status": "running",
                                                    "decision": self._decisions[trial_id]})
        points, self._parent_points = self._parent_points, []
        if points:
            self.submit(self._write_parent, points)

    def end(self, summary: TuningSummary) -> None:
        self.flush()
        tuner = self.tuner
        left = ([] if tuner is None else  # trials left paused, or running if cut short
                [(t, "paused" if tuner.trials[t].status == Status.PAUSED else "running")
                 for t in sorted(self._live)])
        status = ("FINISHED" if summary.complete else
                  "FAILED" if summary.end == EndReason.CRASHED else "KILLED")
        self.submit(self._close, left, summary.reason, status, _ms(self.stamp(summary.time)))

    # the writer
    def _write(self, trial_id: int, config: dict[str, Any], start: int, points: list[tuple],
               tags: dict[str, str], terminate: tuple[str, int] | None) -> None:
        """One trial's batch: its run created with its params if it has none yet."""
        store, run_id, params = self.store, self._runs.get(trial_id), None
        if run_id is None:
            run_id = self._runs[trial_id] = store.create_run(
                f"trial_{trial_id}", start, {PARENT_TAG: self.parent, TRIAL_TAG: str(trial_id)})
            params = {k: str(v)[:6000] for k, v in config.items()}
        metrics = []
        for values, report_time, stamp, step in points:
            metrics.extend((k, float(v), stamp, step) for k, v in values.items() if finite(v))
            metrics.append(("time", report_time, stamp, step))
        store.log(run_id, metrics, params, tags)
        if terminate is not None:
            store.terminate(run_id, *terminate)
        self._commit_if_due()

    def _write_parent(self, points: list[tuple]) -> None:
        name = f"best_{self.metric}"
        self.store.log(self.parent, [(name, float(best), stamp, step)
                                     for best, stamp, step in points])

    def _close(self, left: list[tuple[int, str]], reason: str, status: str, end: int) -> None:
        store = self.store
        for trial_id, trial_status in left:
            run_id = self._runs.get(trial_id)
            if run_id is not None:
                store.log(run_id, tags={"status": trial_status})
                store.terminate(run_id, "KILLED", end)
        store.log(self.parent, tags={"end_reason": reason})
        store.terminate(self.parent, status, end)
        store.close()


def open_store(tracking_uri: str | None, experiment: str, directory: Path) -> Any:
    """Where the runs go: `tracking_uri`, default <directory>/mlflow.db. A SQLite file that
    is new or of the installed MLflow's schema is written many runs per transaction
    (core.loggers.mlflow_sqlite); anything else through MLflow's client, as is a database
    whose tables that writer does not know (with one warning)."""
    from simtune.core.loggers.mlflow_client import ClientRuns
    from simtune.core.loggers.mlflow_sqlite import SchemaMismatch, SqliteRuns, writable

    uri = tracking_uri or f"sqlite:///{(directory / DATABASE).resolve()}"
    if uri.startswith("sqlite:///") and "?" not in uri:
        path = Path(uri.removeprefix("sqlite:///"))
        if writable(path):
            try:
                return SqliteRuns(path, experiment, directory / ARTIFACTS)
            except SchemaMismatch as e:
                log.warning("logger mlflow: %s; writing through MLflow's client instead "
                            "(slower)", e)
    return ClientRuns(uri, experiment)


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))
