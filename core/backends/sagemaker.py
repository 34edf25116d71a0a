"""Trials as Amazon SageMaker training jobs, one job per trial (extra `sagemaker`: boto3).

The training script runs in a framework container (or any image running the SageMaker
training toolkit): hyperparameters = the trial's config, handed to the script as
`--name value` arguments; `SIMTUNE_CHECKPOINT_DIR=/opt/ml/checkpoints`, which SageMaker
syncs with the trial's own `checkpoint_s3_uri`, so pause/resume, PBT checkpoint copies
and managed-spot restarts continue from the last checkpoint. Reports are read from the
jobs' CloudWatch log streams (the line protocol of core.report). Each poll is one batch:
one ListTrainingJobs for every status and one FilterLogEvents for every log line, plus
a DescribeTrainingJob only for a job that just ended. Throttled calls are retried with
exponential backoff.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.backends._aws import aws_session, job_name, pack_directory, with_retries
from core.backends.base import Backend
from core.report import CHECKPOINT_ENV, parse_report
from core.trial import Event, Failure, Report, Trial

log = logging.getLogger("simtune.sagemaker")

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
CHECKPOINT_LOCAL = "/opt/ml/checkpoints"
CODE_DIR = "/opt/ml/code"  # where the training toolkit unpacks sourcedir.tar.gz
LOG_LAG_MS = 300_000  # log lines can reach CloudWatch this late
@dataclass(eq=False)
class _Job:
    trial_id: int
    name: str
    launch: int
    halted: bool = False  # stopped/paused by us, or finished: its news is stale
    last_report: Report | None = None
    held: Report | None = None
    seen_ended: bool = False  # ended at the last poll: handled at the next (late log lines)
    cancelled: bool = False  # paused or stopped by the Tuner
    lines: deque = field(default_factory=lambda: deque(maxlen=20))  # last non-report lines


class SageMakerBackend(Backend):
    """One SageMaker training job per trial; status and logs polled in batches.

    Example:
        >>> backend = SageMakerBackend(
        ...     entry_point="experiments/training/mlp_sklearn.py", source_dir=".",
        ...     image_uri=SKLEARN_IMAGE,  # a SageMaker scikit-learn framework image URI
        ...     role="arn:aws:iam::123456789012:role/SageMakerRole", bucket="my-bucket",
        ...     instance_type="ml.m5.large", use_spot=True, max_fidelity=50)
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
        instance_type: str = "ml.m5.large",
        instance_count: int = 1,
        volume_size_gb: int = 30,
        max_run: int = 24 * 3600,
        use_spot: bool = False,
        max_wait: int | None = None,
        max_spot_restarts: int = 3,
        environment: dict[str, str] | None = None,
        fidelity: str = "epoch",
        max_fidelity: int | None = None,
        poll_interval: float = 30.0,
        max_retries: int = 8,
        region: str | None = None,
        session: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        missing = [n for n, v in (("image_uri", image_uri), ("role", role), ("bucket", bucket))
                   if not v]
        if missing:
            raise ValueError(
                f"backend=sagemaker needs {', '.join(missing)}: set backend.{missing[0]}=... "
                "(image_uri: a framework container such as the SageMaker scikit-learn or "
                "PyTorch image; role: an IAM role ARN SageMaker can assume; bucket: an S3 bucket)"
            )
        if use_spot and max_wait is not None and max_wait < max_run:
            raise ValueError(f"max_wait ({max_wait}) must be >= max_run ({max_run}) with spot")
        self.entry_point = entry_point
        self.image_uri, self.role, self.bucket = image_uri, role, bucket
        self.source_dir = source_dir
        self.s3_prefix = s3_prefix.strip("/")
        self.job_prefix = job_prefix
        self.instance_type, self.instance_count = instance_type, instance_count
        self.volume_size_gb, self.max_run = volume_size_gb, max_run
        self.use_spot, self.max_wait = use_spot, max_wait or (2 * max_run if use_spot else None)
        self.max_spot_restarts = max_spot_restarts
        self.environment = dict(environment or {})
        self.fidelity, self.max_fidelity = fidelity, max_fidelity
        self.poll_interval, self.max_retries = poll_interval, max_retries
        self._sleep = sleep
        if session is None:
            session = aws_session(region)
        self.sm = session.client("sagemaker")
        self.logs = session.client("logs")
        self.s3 = session.client("s3")
        self._t0 = time.monotonic()
        self._wall0 = time.time()
        self._jobs: dict[int, _Job] = {}  # trial id -> its current job
        self._by_name: dict[str, _Job] = {}
        self._launches: dict[int, int] = {}
        self._spot_restarts: dict[int, int] = {}
        self._configs: dict[int, dict[str, Any]] = {}
        self._code_uri: str | None = None
        self._seen_events: dict[str, int] = {}  # log event id -> its timestamp (ms)
        self._pending: deque[tuple[_Job, Event]] = deque()
        self._log_start = int(self._wall0 * 1000)
        self._last_poll = -float("inf")

    # -- helpers ---------------------------------------------------------------------------
    def _call(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        return with_retries(fn, max_retries=self.max_retries, sleep=self._sleep, **kwargs)

    def time(self) -> float:
        return time.monotonic() - self._t0

    def checkpoint_s3_uri(self, trial_id: int) -> str:
        return f"s3://{self.bucket}/{self.s3_prefix}/checkpoints/trial_{trial_id}/"

    def _upload_code(self) -> str:
        """The source directory as sourcedir.tar.gz in S3 (once), as the SageMaker SDK does."""
        if self._code_uri is None:
            key = f"{self.s3_prefix}/code/{int(self._wall0)}/sourcedir.tar.gz"
            data = pack_directory(Path(self.source_dir or Path(self.entry_point).parent))
            self._call(self.s3.put_object, Bucket=self.bucket, Key=key, Body=data)
            self._code_uri = f"s3://{self.bucket}/{key}"
        return self._code_uri

    def training_job_request(self, trial: Trial, name: str) -> dict[str, Any]:
        """The CreateTrainingJob request of `trial` (job `name`)."""
        entry = self.entry_point if self.source_dir else Path(self.entry_point).name
        hps = {k: json.dumps(v) for k, v in trial.config.items()}  # the toolkit decodes JSON
        hps["sagemaker_program"] = json.dumps(entry)
        hps["sagemaker_submit_directory"] = json.dumps(self._upload_code())
        stopping: dict[str, int] = {"MaxRuntimeInSeconds": int(self.max_run)}
        if self.use_spot:
            stopping["MaxWaitTimeInSeconds"] = int(self.max_wait)  # type: ignore[arg-type]
        env = {"PYTHONPATH": CODE_DIR,  # the script imports core.report from the project
               **self.environment, CHECKPOINT_ENV: CHECKPOINT_LOCAL,
               "SIMTUNE_TRIAL_ID": str(trial.trial_id), "PYTHONUNBUFFERED": "1"}
        return {
            "TrainingJobName": name,
            "AlgorithmSpecification": {"TrainingImage": self.image_uri,
                                       "TrainingInputMode": "File"},
            "RoleArn": self.role,
            "HyperParameters": hps,
            "OutputDataConfig": {"S3OutputPath": f"s3://{self.bucket}/{self.s3_prefix}/output"},
            "ResourceConfig": {"InstanceType": self.instance_type,
                               "InstanceCount": int(self.instance_count),
                               "VolumeSizeInGB": int(self.volume_size_gb)},
            "StoppingCondition": stopping,
            "EnableManagedSpotTraining": bool(self.use_spot),
            "CheckpointConfig": {"S3Uri": self.checkpoint_s3_uri(trial.trial_id),
                                 "LocalPath": CHECKPOINT_LOCAL},
            "Environment": env,
            "Tags": [{"Key": "simtune-trial", "Value": str(trial.trial_id)}],
        }

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, trial: Trial) -> None:
        if trial.checkpoint_of is not None:
            self._copy_checkpoint(trial.checkpoint_of, trial.trial_id)
        self._launch(trial)

    def resume(self, trial: Trial) -> None:
        job = self._jobs.get(trial.trial_id)
        if job is None or not job.halted:
            raise ValueError(f"trial {trial.trial_id} is not paused, cannot resume it")
        self._launch(trial)

    def _launch(self, trial: Trial) -> None:
        tid = trial.trial_id
        launch = self._launches.get(tid, -1) + 1
        self._launches[tid] = launch
        self._configs[tid] = trial.config
        name = job_name(self.job_prefix, tid, launch, datetime.now(timezone.utc))
        self._call(self.sm.create_training_job, **self.training_job_request(trial, name))
        job = _Job(tid, name, launch)
        self._jobs[tid] = job
        self._by_name[name] = job
        log.info("trial %d: started SageMaker training job %s", tid, name)

    def _copy_checkpoint(self, source: int, target: int) -> None:
        src = self.checkpoint_s3_uri(source).split("/", 3)[3]
        dst = self.checkpoint_s3_uri(target).split("/", 3)[3]
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=src)
        for page in pages:
            for obj in page.get("Contents", []):
                self._call(self.s3.copy_object, Bucket=self.bucket,
                           Key=dst + obj["Key"][len(src):],
                           CopySource={"Bucket": self.bucket, "Key": obj["Key"]})

    def _halt(self, trial_id: int) -> None:
        job = self._jobs.get(trial_id)
        if job is None:
            raise ValueError(f"trial {trial_id} is not running")
        job.cancelled = True  # its events not yet handed out are stale
        if job.halted:
            return  # it ended while its last events were in flight
        job.halted = True
        self._call(self.sm.stop_training_job, TrainingJobName=job.name)

    def pause(self, trial_id: int) -> None:
        self._halt(trial_id)  # the checkpoint stays in S3

    def stop(self, trial_id: int) -> None:
        self._halt(trial_id)

    def close(self) -> None:
        for job in self._jobs.values():
            if not job.halted:
                job.halted = True
                try:
                    self._call(self.sm.stop_training_job, TrainingJobName=job.name)
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

    def poll(self) -> list[tuple[_Job, Event]]:
        """One round: statuses of every job, new log lines of every job, then the events."""
        statuses = self._list_statuses()
        events: list[tuple[_Job, Event]] = []
        for job, message, t in self._new_log_lines():
            if not job.halted:
                events += [(job, e) for e in self._on_line(job, message, t)]
        for name, status in statuses.items():
            job = self._by_name.get(name)
            if job is None or job.halted or status in ("InProgress", "Stopping"):
                continue
            if not job.seen_ended:  # CloudWatch may still be ingesting its last lines
                job.seen_ended = True
                continue
            events += [(job, e) for e in self._on_end(job, status)]
        return events

    def _list_statuses(self) -> dict[str, str]:
        out: dict[str, str] = {}
        after = datetime.fromtimestamp(self._wall0 - 60, tz=timezone.utc)
        kwargs: dict[str, Any] = {"NameContains": self.job_prefix, "CreationTimeAfter": after,
                                  "MaxResults": 100}
        while True:
            page = self._call(self.sm.list_training_jobs, **kwargs)
            for s in page.get("TrainingJobSummaries", []):
                out[s["TrainingJobName"]] = s["TrainingJobStatus"]
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]

    def _new_log_lines(self) -> list[tuple[_Job, str, float]]:
        kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "startTime": self._log_start,
                                  "logStreamNamePrefix": self.job_prefix}
        from botocore.exceptions import ClientError

        out = []
        while True:
            try:
                page = self._call(self.logs.filter_log_events, **kwargs)
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    return out  # no job has logged yet
                raise
            for ev in page.get("events", []):
                if ev["eventId"] in self._seen_events:
                    continue
                job = self._by_name.get(ev["logStreamName"].split("/", 1)[0])
                if job is None:
                    continue
                self._seen_events[ev["eventId"]] = ev["timestamp"]
                out.append((job, ev["message"], ev["timestamp"] / 1000 - self._wall0))
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        out.sort(key=lambda x: x[2])
        if self._seen_events:  # read only the last minutes again (late ingestion), not all
            start = max(self._seen_events.values()) - LOG_LAG_MS
            if start > self._log_start:
                self._log_start = start
                self._seen_events = {k: v for k, v in self._seen_events.items() if v >= start}
        return out

    def _on_line(self, job: _Job, message: str, t: float) -> list[Event]:
        try:
            metrics = parse_report(message)
        except ValueError as e:
            return [self._fail(job, t, f"malformed report in job {job.name} log: {e}")]
        if metrics is None:
            job.lines.append(message.rstrip("\n"))
            return []
        if self.fidelity not in metrics:
            return [self._fail(job, t, f"report lacks the fidelity {self.fidelity!r}: {metrics}")]
        fid = int(metrics[self.fidelity])
        values = {k: v for k, v in metrics.items() if k != self.fidelity}
        report = Report(job.trial_id, max(t, 0.0), fid, values)
        job.last_report = report
        if self.max_fidelity is not None:
            if fid >= self.max_fidelity:
                report.last, job.halted = True, True
            return [report]
        previous, job.held = job.held, report
        return [previous] if previous is not None else []

    def _on_end(self, job: _Job, status: str) -> list[Event]:
        t = self.time()
        if status == "Completed":
            job.halted = True
            if job.held is not None:
                job.held.last = True
                return [job.held]
            if job.last_report is not None:
                last = job.last_report
                return [Report(job.trial_id, t, last.fidelity, last.metrics, last=True)]
            return [self._fail(job, t, f"job {job.name} completed without any report")]
        desc = self._call(self.sm.describe_training_job, TrainingJobName=job.name)
        if self._spot_interrupted(desc) and self._restart_spot(job):
            return []
        reason = desc.get("FailureReason") or desc.get("SecondaryStatus") or status
        held = [job.held] if job.held is not None else []
        return [*held, self._fail(job, t, f"job {job.name} {status.lower()}: {reason}")]

    def _spot_interrupted(self, desc: dict[str, Any]) -> bool:
        if not desc.get("EnableManagedSpotTraining"):
            return False
        secondary = desc.get("SecondaryStatus", "")
        reason = (desc.get("FailureReason") or "").lower()
        return secondary in ("Interrupted", "MaxWaitTimeExceeded") or "spot" in reason

    def _restart_spot(self, job: _Job) -> bool:
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

    def _fail(self, job: _Job, t: float, why: str) -> Failure:
        job.halted = True
        reason = f"trial {job.trial_id}: {why}"
        if job.lines:
            reason += f"\n--- last log lines of {job.name} ---\n" + "\n".join(job.lines)
        return Failure(job.trial_id, max(t, 0.0), reason)

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name, "entry_point": self.entry_point, "image_uri": self.image_uri,
            "instance_type": self.instance_type, "instance_count": self.instance_count,
            "use_spot": self.use_spot, "bucket": self.bucket, "s3_prefix": self.s3_prefix,
            "job_prefix": self.job_prefix, "jobs": [j.name for j in self._by_name.values()],
        }
