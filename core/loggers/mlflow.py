"""logger=mlflow: one MLflow parent run per tuning run, one nested run per trial.

A trial's run has the configuration as params, its metrics (and `time`, the backend's
clock) with step = fidelity and timestamp = the run's start plus the backend's clock (a
simulated run shows its virtual time), and the tags `status`, `decision` (the last one)
and, for a failed trial, `error`. The parent run has `best_<metric>` (the incumbent's value
each time it changes; step = reports so far) and the tag `end_reason`. The tracking URI
defaults to a file store in <run dir>/mlruns (MLflow 3 keeps it behind
MLFLOW_ALLOW_FILE_STORE, which this logger then sets for its process):

    mlflow ui --backend-store-uri outputs/2026-12-06/10-00-00/mlruns

The loop keeps a trial's points in memory; the writer thread (core.loggers.writer) sends
them as one batch when the trial ends or pauses (its run created then, with params, metrics
and tags in one `log_batch`), and every `flush_every` real seconds for trials still running.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simtune.core.loggers.base import Logger, finite, require
from simtune.core.stopping import EndReason
from simtune.core.trial import Decision, Report, Status, Trial

if TYPE_CHECKING:
    from simtune.core.tuner import Tuner, TuningSummary

SUBDIR = "mlruns"
RUN_DIR_TAG = "simtune.run_dir"
TRIAL_TAG = "simtune.trial_id"
PARENT_TAG = "mlflow.parentRunId"


class MLflowLogger(Logger):
    """Writes the run to MLflow: `tracking_uri` (default: a file store in `directory`/mlruns,
    `directory` defaulting to the run directory), in the experiment `experiment`. Needs
    `pip install "simtune[mlflow]"`.

    Example:
        >>> MLflowLogger(tracking_uri="sqlite:///mlflow.db", experiment="digits")  # doctest: +SKIP
    """

    name = "mlflow"

    def __init__(self, directory: str | Path | None = None, *, tracking_uri: str | None = None,
                 experiment: str = "simtune") -> None:
        super().__init__(directory)
        require("mlflow", "mlflow", "mlflow (mlflow-skinny)")
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient

        self._Client, self._Metric, self._Param, self._Tag = MlflowClient, Metric, Param, RunTag
        self.tracking_uri, self.experiment = tracking_uri, experiment
        # the loop's side
        self._points: dict[int, list[tuple]] = {}  # trial id -> points not yet sent
        self._parent_points: list[tuple] = []
        self._decisions: dict[int, str] = {}  # trial id -> the scheduler's last decision
        self._live: set[int] = set()  # trials sent whose run is not terminated
        # the writer thread's side
        self.client: Any = None
        self.parent: str | None = None  # the tuning run's MLflow run id
        self._experiment_id = ""
        self._runs: dict[int, str] = {}  # trial id -> its MLflow run id

    def start(self, tuner: Tuner) -> None:
        assert self.directory is not None
        uri = self.tracking_uri
        if uri is None:  # MLflow 3 keeps its file store behind this switch
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            uri = (self.directory / SUBDIR).resolve().as_uri()
        tags = {RUN_DIR_TAG: str(self.directory.resolve()),
                "scheduler": type(tuner.scheduler).__name__, "backend": tuner.backend.name,
                "metric": self.metric, "mode": self.metric_mode}
        self.submit(self._open_parent, uri, tags, self.replaying())

    def _open_parent(self, uri: str, tags: dict[str, str], resumed: bool) -> None:
        self.client = client = self._Client(tracking_uri=uri)
        found = client.get_experiment_by_name(self.experiment)
        self._experiment_id = (found.experiment_id if found is not None
                               else client.create_experiment(self.experiment))
        if resumed:  # continue the interrupted process's runs
            self._find(tags[RUN_DIR_TAG])
        if self.parent is None:
            assert self.directory is not None
            self.parent = client.create_run(self._experiment_id, run_name=self.directory.name,
                                            start_time=_ms(self.time0), tags=tags).info.run_id

    def _find(self, run_dir: str) -> None:
        client = self.client
        parents = client.search_runs(
            [self._experiment_id], filter_string=f"tags.`{RUN_DIR_TAG}` = '{run_dir}'",
            max_results=1)
        if not parents:
            return
        self.parent = parents[0].info.run_id
        token = None
        while True:
            page = client.search_runs(
                [self._experiment_id], max_results=1000, page_token=token,
                filter_string=f"tags.`{PARENT_TAG}` = '{self.parent}'")
            for run in page:
                trial_id = run.data.tags.get(TRIAL_TAG)
                if trial_id is not None:
                    self._runs[int(trial_id)] = run.info.run_id
            token = page.token
            if not token:
                return

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
                [(tuner.trials[t], "paused" if tuner.trials[t].status == Status.PAUSED
                  else "running") for t in sorted(self._live)])
        status = ("FINISHED" if summary.complete else
                  "FAILED" if summary.end == EndReason.CRASHED else "KILLED")
        self.submit(self._close, left, summary.reason, status, _ms(self.stamp(summary.time)))

    # the writer thread
    def _write(self, trial_id: int, config: dict[str, Any], start: int, points: list[tuple],
               tags: dict[str, str], terminate: tuple[str, int] | None) -> None:
        """One trial's batch: its run created with its params if it has none yet."""
        client, run_id, params = self.client, self._runs.get(trial_id), []
        if run_id is None:
            run_id = self._runs[trial_id] = client.create_run(
                self._experiment_id, run_name=f"trial_{trial_id}", start_time=start,
                tags={PARENT_TAG: self.parent, TRIAL_TAG: str(trial_id)}).info.run_id
            params = [self._Param(k, str(v)[:6000]) for k, v in config.items()]
        metric = self._Metric
        metrics = []
        for values, report_time, stamp, step in points:
            metrics.extend(metric(k, float(v), stamp, step)
                           for k, v in values.items() if finite(v))
            metrics.append(metric("time", report_time, stamp, step))
        client.log_batch(run_id, metrics=metrics, params=params,
                         tags=[self._Tag(k, v) for k, v in tags.items()])
        if terminate is not None:
            client.set_terminated(run_id, terminate[0], end_time=terminate[1])

    def _write_parent(self, points: list[tuple]) -> None:
        name = f"best_{self.metric}"
        self.client.log_batch(self.parent, metrics=[
            self._Metric(name, float(best), stamp, step) for best, stamp, step in points])

    def _close(self, left: list[tuple[Trial, str]], reason: str, status: str,
               end: int) -> None:
        client = self.client
        for trial, trial_status in left:
            run_id = self._runs.get(trial.trial_id)
            if run_id is not None:
                client.log_batch(run_id, tags=[self._Tag("status", trial_status)])
                client.set_terminated(run_id, "KILLED", end_time=end)
        client.set_tag(self.parent, "end_reason", reason)
        client.set_terminated(self.parent, status, end_time=end)


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))
