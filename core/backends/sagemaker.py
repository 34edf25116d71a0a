"""Trials as Amazon SageMaker training jobs, one job per trial (extra `sagemaker`: boto3).

The training script runs in a framework container (or any image running the SageMaker
training toolkit): hyperparameters = the trial's config (plus fixed `hyperparameters`),
handed to the script as `--name value` arguments; `SIMTUNE_CHECKPOINT_DIR=/opt/ml/checkpoints`,
which SageMaker syncs with the trial's own S3 prefix, so pause/resume, PBT checkpoint copies,
managed-spot restarts and a resumed run continue from the last checkpoint. That prefix is
`s3://<bucket>/<s3_prefix>/<run key>/checkpoints/trial_<id>/`, the run key derived from
`run_id` alone (run.py: the run directory), so a rerun in a new process finds it. Reports are
read from the jobs' CloudWatch log streams (the line protocol of core.report). Each poll is
one batch: one ListTrainingJobs for every status and one FilterLogEvents for every log line,
plus a DescribeTrainingJob only for a job that just ended. Throttled and transient errors are
retried by botocore (`retry_mode`); a quota (ResourceLimitExceeded) on CreateTrainingJob is
waited out with backoff; at most `max_jobs` jobs hold instances at once, counting a stopped
job until SageMaker reports it Stopped.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from simtune.core.backends import sagemaker_settings as settings
from simtune.core.backends._aws import (
    QUOTA,
    aws_clients,
    aws_session,
    error_code,
    job_name,
    launch_of,
    safe_prefix,
)
from simtune.core.backends._sagemaker_io import (
    Job,
    LogTail,
    RunStore,
    completed,
    fail,
    list_jobs,
    on_line,
    spot_interrupted,
)
from simtune.core.backends.base import Backend
from simtune.core.trial import Event, Trial

log = logging.getLogger("simtune.sagemaker")

ACTIVE = ("InProgress", "Stopping")  # a job in these states holds its instances


class SageMakerBackend(Backend):
    """One SageMaker training job per trial; status and logs polled in batches.

    Fields of CreateTrainingJob pass through: `inputs` ({channel: s3 uri or channel dict}),
    `metric_definitions` (metric names get the regex of their report line, so the console
    plots learning curves), `keep_alive_period` (warm pools: every trial's job matches the
    previous one, so a job reuses the pool its predecessor left), `vpc_config`,
    `environment`, `tags`, `volume_kms_key`, `output_kms_key`, and `request_overrides`
    (merged into the request last). `from_estimator` takes the settings of an SDK Estimator.

    Example:
        >>> backend = SageMakerBackend(
        ...     entry_point="experiments/training/mlp_sklearn.py", source_dir=".",
        ...     image_uri=SKLEARN_IMAGE,  # a SageMaker scikit-learn framework image URI
        ...     role="arn:aws:iam::123456789012:role/SageMakerRole", bucket="my-bucket",
        ...     run_id="outputs/run1", instance_type="ml.m5.large", use_spot=True,
        ...     max_jobs=4, max_fidelity=50)
    """

    name = "sagemaker"

    def __init__(
        self,
        *,
        entry_point: str,
        image_uri: str | None = None,
        role: str | None = None,
        bucket: str | None = None,
        source_dir: str | None = None,
        s3_prefix: str = "simtune",
        job_prefix: str = "simtune",
        run_id: str | None = None,
        instance_type: str = "ml.m5.large",
        instance_count: int = 1,
        volume_size_gb: int = 30,
        max_run: int = 24 * 3600,
        use_spot: bool = False,
        max_wait: int | None = None,
        max_spot_restarts: int = 3,
        environment: dict[str, str] | None = None,
        hyperparameters: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        metric_definitions: list[Any] | dict[str, str] | None = None,
        keep_alive_period: int | None = None,
        vpc_config: dict[str, list[str]] | None = None,
        tags: dict[str, str] | None = None,
        volume_kms_key: str | None = None,
        output_kms_key: str | None = None,
        request_overrides: dict[str, Any] | None = None,
        max_jobs: int | None = None,
        fidelity: str = "epoch",
        max_fidelity: int | None = None,
        poll_interval: float = 30.0,
        retry_mode: str = "standard",
        max_attempts: int = 10,
        quota_backoff: float = 60.0,
        max_quota_backoff: float = 900.0,
        region: str | None = None,
        session: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        settings.check(image_uri=image_uri, role=role, bucket=bucket, use_spot=use_spot,
                       max_wait=max_wait, max_run=max_run, max_jobs=max_jobs,
                       job_prefix=job_prefix, keep_alive_period=keep_alive_period)
        self.entry_point = entry_point
        self.image_uri, self.role, self.bucket = image_uri, role, bucket
        self.source_dir = source_dir
        self.s3_prefix = s3_prefix.strip("/")
        self.job_prefix = job_prefix
        self.run_id = run_id
        self.instance_type, self.instance_count = instance_type, instance_count
        self.volume_size_gb, self.max_run = volume_size_gb, max_run
        self.use_spot, self.max_wait = use_spot, max_wait or (2 * max_run if use_spot else None)
        self.max_spot_restarts = max_spot_restarts
        self.environment = dict(environment or {})
        self.hyperparameters = dict(hyperparameters or {})
        self.inputs, self.metric_definitions = dict(inputs or {}), metric_definitions
        self.channels = settings.input_channels(inputs)  # checked here, once
        self.metric_regexes = settings.metric_definitions(metric_definitions)
        self.keep_alive_period = keep_alive_period
        self.vpc_config, self.tags = vpc_config, dict(tags or {})
        self.volume_kms_key, self.output_kms_key = volume_kms_key, output_kms_key
        self.request_overrides = dict(request_overrides or {})
        self.max_jobs = max_jobs
        self.fidelity, self.max_fidelity = fidelity, max_fidelity
        self.poll_interval = poll_interval
        self.quota_backoff, self.max_quota_backoff = quota_backoff, max_quota_backoff
        self._sleep = sleep
        if session is None:
            session = aws_session(region)
        self.sm, self.logs, self.s3 = aws_clients(session, ("sagemaker", "logs", "s3"),
                                                  retry_mode, max_attempts)
        self.retry_mode, self.max_attempts = retry_mode, max_attempts
        self._t0 = time.monotonic()
        self._wall0 = time.time()
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        self.run_key = settings.run_key(run_id if run_id else f"{stamp}-{os.getpid()}")
        self.run_prefix = f"{self.s3_prefix}/{self.run_key}"
        self.name_prefix = f"{safe_prefix(job_prefix)}-{self.run_key[-8:]}"  # this run's jobs
        self._jobs: dict[int, Job] = {}  # trial id -> its current job
        self._by_name: dict[str, Job] = {}
        self._waiting: deque[Job] = deque()  # launches not yet sent, in order
        self._launches: dict[int, int] = {}
        self._spot_restarts: dict[int, int] = {}
        self._configs: dict[int, dict[str, Any]] = {}
        self._code_uri: str | None = None
        self._pending: deque[tuple[Job, Event]] = deque()
        self.store = RunStore(self.s3, bucket, self.run_prefix)  # type: ignore[arg-type]
        self.log_tail = LogTail(self.logs, self.name_prefix, int(self._wall0 * 1000))
        self._list_after = self._wall0 - 60
        self._last_poll = -float("inf")

    @classmethod
    def from_estimator(cls, estimator: Any, **overrides: Any) -> SageMakerBackend:
        """A backend with the settings of a `sagemaker` SDK Estimator (duck-typed, see
        sagemaker_settings.settings_from_estimator); `overrides` win."""
        return cls(**{**settings.settings_from_estimator(estimator), **overrides})

    # -- helpers ---------------------------------------------------------------------------
    def time(self) -> float:
        return time.monotonic() - self._t0

    def checkpoint_s3_uri(self, trial_id: int) -> str:
        return self.store.checkpoint_uri(trial_id)

    def _upload_code(self) -> str:
        """The source directory as sourcedir.tar.gz in S3, once."""
        if self._code_uri is None:
            root = Path(self.source_dir or Path(self.entry_point).parent)
            self._code_uri = self.store.upload_code(root, int(self._wall0))
        return self._code_uri

    def training_job_request(self, trial: Trial, name: str) -> dict[str, Any]:
        """The CreateTrainingJob request of `trial` (job `name`)."""
        return settings.training_job_request(self, trial, name, self._upload_code())

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, trial: Trial) -> None:
        self.store.clear_checkpoint(trial.trial_id)  # left by an earlier run of this key
        if trial.checkpoint_of is not None:
            self.store.copy_checkpoint(trial.checkpoint_of, trial.trial_id)
        self.store.write_config(trial.trial_id, trial.config)
        self._launch(trial)

    def resume(self, trial: Trial) -> None:
        job = self._jobs.get(trial.trial_id)
        if job is None or not job.halted:
            raise ValueError(f"trial {trial.trial_id} is not paused, cannot resume it")
        self._launch(trial)

    def recover(self, trial: Trial) -> None:
        """Take over `trial` of an interrupted run as paused: its jobs still running are
        stopped (not adopted), and count against max_jobs until SageMaker reports them
        stopped; `resume` waits for that, so it starts from their final checkpoint."""
        tid = trial.trial_id
        self.store.take_config(tid, trial.config)
        self._configs[tid] = trial.config
        latest = Job(tid, None, -1, halted=True, ended=True, cancelled=True)
        for summary in list_jobs(self.sm, f"{self.name_prefix}-{tid}-", after=None):
            name, status = summary["TrainingJobName"], summary["TrainingJobStatus"]
            if name in self._by_name:
                continue
            job = Job(tid, name, launch_of(name), halted=True, cancelled=True,
                       ended=status not in ACTIVE)
            if status == "InProgress":
                log.warning("trial %d: stopping job %s of the interrupted run", tid, name)
                self.sm.stop_training_job(TrainingJobName=name)
            self._by_name[name] = job
            self._list_after = min(self._list_after, summary["CreationTime"].timestamp() - 1)
            self._launches[tid] = max(self._launches.get(tid, -1), job.launch)
            latest = max(latest, job, key=lambda j: j.launch)
        self._jobs[tid] = latest

    def _launch(self, trial: Trial) -> None:
        """Queue the trial's next job; `_send_launches` creates it as soon as it may run."""
        tid = trial.trial_id
        launch = self._launches.get(tid, -1) + 1
        self._launches[tid] = launch
        self._configs[tid] = trial.config
        job = Job(tid, None, launch, trial=trial)
        self._jobs[tid] = job
        self._waiting.append(job)
        self._send_launches()

    def _holding(self) -> int:
        """Jobs that hold instances: created and not reported Completed/Failed/Stopped."""
        return sum(not j.ended for j in self._by_name.values())

    def _send_launches(self) -> None:
        now = self.time()
        for job in list(self._waiting):
            if self.max_jobs is not None and self._holding() >= self.max_jobs:
                return
            if job.not_before > now or any(
                j.trial_id == job.trial_id and not j.ended for j in self._by_name.values()
            ):  # quota backoff; or its previous job is still writing the checkpoint
                continue
            name = job_name(self.name_prefix, job.trial_id, job.launch, datetime.now(timezone.utc))
            try:
                self.sm.create_training_job(**self.training_job_request(job.trial, name))
            except Exception as e:
                if error_code(e) != QUOTA:
                    raise
                delay = min(self.max_quota_backoff, self.quota_backoff * 2**job.attempts)
                job.attempts, job.not_before = job.attempts + 1, now + delay
                log.warning("trial %d: %s (%s); next try in %.4g s", job.trial_id, QUOTA,
                            e, delay)
                continue
            self._waiting.remove(job)
            job.name, job.trial = name, None
            self._by_name[name] = job
            log.info("trial %d: started SageMaker training job %s", job.trial_id, name)

    def _halt(self, trial_id: int) -> None:
        job = self._jobs.get(trial_id)
        if job is None:
            raise ValueError(f"trial {trial_id} is not running")
        job.cancelled = True  # its events not yet handed out are stale
        if job.halted:
            return  # it ended while its last events were in flight
        job.halted = True
        if job.name is None:  # never created: nothing to stop
            self._waiting.remove(job)
            job.ended = True
            return
        self.sm.stop_training_job(TrainingJobName=job.name)  # counts until reported Stopped

    def pause(self, trial_id: int) -> None:
        self._halt(trial_id)  # the checkpoint stays in S3

    def stop(self, trial_id: int) -> None:
        self._halt(trial_id)

    def close(self) -> None:
        self._waiting.clear()
        for job in self._jobs.values():
            if not job.halted:
                job.halted = True
                if job.name is None:
                    continue
                try:
                    self.sm.stop_training_job(TrainingJobName=job.name)
                except Exception as e:  # a job that ended meanwhile cannot be stopped
                    log.warning("could not stop %s: %s", job.name, e)

    # -- polling ---------------------------------------------------------------------------
    def next_events(self, until: float | None = None) -> list[Event]:
        """Events in log-time order, at most one per trial per batch (as LocalBackend)."""
        while True:
            batch = self._take_batch()
            if batch:
                return batch
            if not any(not j.halted for j in self._jobs.values()):
                return []
            wait = self._last_poll + self.poll_interval - self.time()
            if until is not None:
                wait = min(wait, until - self.time())
            if wait > 0:
                self._sleep(wait)
            if until is not None and self.time() >= until:
                return []
            self._last_poll = self.time()
            self._pending.extend(self.poll())

    def _take_batch(self) -> list[Event]:
        batch: list[Event] = []
        seen: set[int] = set()
        while self._pending:
            job, event = self._pending[0]
            if job.cancelled:
                self._pending.popleft()
                continue
            if job.trial_id in seen:
                break
            self._pending.popleft()
            seen.add(job.trial_id)
            batch.append(event)
        return batch

    def poll(self) -> list[tuple[Job, Event]]:
        """One round: statuses of every job, new log lines of every job, then the events;
        launches that were waiting go out once instances are free."""
        statuses = {s["TrainingJobName"]: s["TrainingJobStatus"]
                    for s in list_jobs(self.sm, self.name_prefix, after=self._list_after)}
        events: list[tuple[Job, Event]] = []
        for name, message, ms in self.log_tail.new_lines(lambda name: name in self._by_name):
            job = self._by_name[name]
            if not job.halted:
                t = ms / 1000 - self._wall0
                events += [(job, e) for e in on_line(job, message, t, self.fidelity,
                                                     self.max_fidelity)]
        for name, status in statuses.items():
            job = self._by_name.get(name)
            if job is None or status in ACTIVE:
                continue
            job.ended = True
            if job.halted:
                continue
            if not job.seen_ended:  # CloudWatch may still be ingesting its last lines
                job.seen_ended = True
                continue
            events += [(job, e) for e in self._on_end(job, status)]
        self._send_launches()
        return events

    def _on_end(self, job: Job, status: str) -> list[Event]:
        t = self.time()
        if status == "Completed":
            return completed(job, t)
        desc = self.sm.describe_training_job(TrainingJobName=job.name)
        if spot_interrupted(desc) and self._restart_spot(job):
            return []
        reason = desc.get("FailureReason") or desc.get("SecondaryStatus") or status
        held = [job.held] if job.held is not None else []
        return [*held, fail(job, t, f"job {job.name} {status.lower()}: {reason}")]

    def _restart_spot(self, job: Job) -> bool:
        n = self._spot_restarts.get(job.trial_id, 0)
        if n >= self.max_spot_restarts:
            return False
        self._spot_restarts[job.trial_id] = n + 1
        job.halted = True
        log.warning("trial %d: spot job %s interrupted, resuming from %s", job.trial_id,
                    job.name, self.checkpoint_s3_uri(job.trial_id))
        trial = Trial(job.trial_id, self._configs[job.trial_id])
        self._launch(trial)
        self._jobs[job.trial_id].last_report = job.last_report
        self._jobs[job.trial_id].held = job.held
        return True

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name, "entry_point": self.entry_point, "image_uri": self.image_uri,
            "instance_type": self.instance_type, "instance_count": self.instance_count,
            "use_spot": self.use_spot, "bucket": self.bucket, "s3_prefix": self.s3_prefix,
            "job_prefix": self.job_prefix, "run_key": self.run_key, "max_jobs": self.max_jobs,
            "keep_alive_period": self.keep_alive_period, "retry_mode": self.retry_mode,
            "checkpoints": self.checkpoint_s3_uri(0).rsplit("/trial_", 1)[0] + "/",
            "jobs": [j.name for j in self._by_name.values() if j.name],
        }
