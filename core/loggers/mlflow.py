"""logger=mlflow: one MLflow parent run per tuning run, one nested run per trial.

A trial's run has the configuration as params, its metrics (and `time`, the backend's
clock) with step = fidelity and timestamp = the run's start plus the backend's clock (a
simulated run shows its virtual time), and the tags `status`, `decision` (the last one)
and, for a failed trial, `error`. The parent run has `best_<metric>` (the incumbent's value
each time it changes; step = reports so far) and the tag `end_reason`. The tracking URI
defaults to a file store in <run dir>/mlruns (MLflow 3 keeps it behind
MLFLOW_ALLOW_FILE_STORE, which this logger then sets for its process):

    mlflow ui --backend-store-uri outputs/2026-12-06/10-00-00/mlruns

A trial's points are sent in batches: at its end or pause, when a second has passed since
the last batch, and at the run's end.
"""

from __future__ import annotations

import os
import time
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
FLUSH_EVERY = 1.0  # real seconds between batches of a running trial's points


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
        self.client: Any = None
        self.parent: str | None = None  # the tuning run's MLflow run id
        self._experiment_id = ""
        self._runs: dict[int, str] = {}  # trial id -> its MLflow run id
        self._points: dict[int, list[Any]] = {}  # trial id -> metrics not yet sent
        self._parent_points: list[Any] = []
        self._sent = time.monotonic()
        self._decisions: dict[int, str] = {}  # trial id -> the scheduler's last decision

    def start(self, tuner: Tuner) -> None:
        assert self.directory is not None
        uri = self.tracking_uri
        if uri is None:  # MLflow 3 keeps its file store behind this switch
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            uri = (self.directory / SUBDIR).resolve().as_uri()
        self.client = client = self._Client(tracking_uri=uri)
        found = client.get_experiment_by_name(self.experiment)
        self._experiment_id = (found.experiment_id if found is not None
                               else client.create_experiment(self.experiment))
        run_dir = str(self.directory.resolve())
        if self.replaying():  # resumed: continue the interrupted process's runs
            self._find(run_dir)
        if self.parent is None:
            scheduler = type(tuner.scheduler).__name__
            self.parent = client.create_run(
                self._experiment_id, run_name=self.directory.name,
                start_time=_ms(self.time0),
                tags={RUN_DIR_TAG: run_dir, "scheduler": scheduler,
                      "backend": tuner.backend.name, "metric": self.metric,
                      "mode": self.metric_mode}).info.run_id

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

    def trial_start(self, trial: Trial) -> None:
        if trial.trial_id not in self._runs and not self.replaying():
            self._create(trial)

    def _create(self, trial: Trial) -> None:
        """The trial's nested run, with its configuration as params."""
        run = self.client.create_run(
            self._experiment_id, run_name=f"trial_{trial.trial_id}",
            start_time=_ms(self.stamp(trial.start_time)),
            tags={PARENT_TAG: self.parent, TRIAL_TAG: str(trial.trial_id), "status": "running"})
        self._runs[trial.trial_id] = run.info.run_id
        params = [self._Param(k, str(v)[:6000]) for k, v in trial.config.items()]
        self.client.log_batch(run.info.run_id, params=params)

    def report(self, trial: Trial, report: Report, decision: Decision, replayed: bool,
               best: float | None) -> None:
        if replayed:
            return
        if trial.trial_id not in self._runs:  # started while the resumed run replayed
            self._create(trial)
        stamp = _ms(self.stamp(report.time))
        points = self._points.setdefault(trial.trial_id, [])
        points.extend(self._Metric(k, float(v), stamp, report.fidelity)
                      for k, v in report.metrics.items() if finite(v))
        points.append(self._Metric("time", float(report.time), stamp, report.fidelity))
        if best is not None:
            self._parent_points.append(
                self._Metric(f"best_{self.metric}", float(best), stamp, self.tuner.n_reports))
        self._decisions[trial.trial_id] = decision.value
        if decision == Decision.PAUSE:
            self._send(trial.trial_id, tags={"status": "paused", "decision": decision.value})
        elif time.monotonic() - self._sent > FLUSH_EVERY:
            self._send_all()

    def trial_end(self, trial: Trial, replayed: bool) -> None:
        if replayed:
            return
        if trial.trial_id not in self._runs:
            self._create(trial)
        run_id = self._runs[trial.trial_id]
        tags = {"status": trial.status.value}
        decision = self._decisions.get(trial.trial_id)
        if decision:
            tags["decision"] = decision
        error = trial.extra.get("error")
        if error:
            tags["error"] = str(error)[:5000]
        self._send(trial.trial_id, tags=tags)
        end = self.tuner.backend.time() if self.tuner is not None else 0.0
        self.client.set_terminated(run_id, "FAILED" if trial.status == Status.FAILED
                                   else "FINISHED", end_time=_ms(self.stamp(end)))

    def _send(self, trial_id: int, tags: dict[str, str] | None = None) -> None:
        points = self._points.pop(trial_id, [])
        run_id = self._runs.get(trial_id)
        if run_id is not None and (points or tags):
            self.client.log_batch(run_id, metrics=points,
                                  tags=[self._Tag(k, v) for k, v in (tags or {}).items()])

    def _send_all(self) -> None:
        for trial_id in list(self._points):
            decision = self._decisions.get(trial_id)
            self._send(trial_id, {"decision": decision} if decision else None)
        if self._parent_points and self.parent is not None:
            self.client.log_batch(self.parent, metrics=self._parent_points)
            self._parent_points = []
        self._sent = time.monotonic()

    def on_wait(self) -> None:
        if not self.disabled and self.client is not None:
            self._guard(self._send_all)

    def end(self, summary: TuningSummary) -> None:
        if self.client is None or self.parent is None:
            return
        self._send_all()
        tuner = self.tuner
        if tuner is not None:  # trials left paused (or running, if cut short)
            for trial_id, run_id in self._runs.items():
                trial = tuner.trials.get(trial_id)
                if trial is not None and trial.status in (Status.PAUSED, Status.RUNNING):
                    self.client.log_batch(run_id, tags=[self._Tag("status",
                                                                  trial.status.value)])
                    self.client.set_terminated(run_id, "KILLED", end_time=_ms(
                        self.stamp(summary.time)))
        self.client.set_tag(self.parent, "end_reason", summary.reason)
        status = ("FINISHED" if summary.complete else
                  "FAILED" if summary.end == EndReason.CRASHED else "KILLED")
        self.client.set_terminated(self.parent, status, end_time=_ms(self.stamp(summary.time)))


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))
