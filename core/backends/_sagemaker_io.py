"""What the SageMaker backend keeps in S3, reads from CloudWatch and the job list, and what a
job's log lines mean."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from simtune.core.backends._aws import error_code, pack_directory, reporter_files
from simtune.core.report import parse_report
from simtune.core.trial import Event, Failure, Report, Trial

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
LOG_LAG_MS = 300_000  # log lines can reach CloudWatch this late


@dataclass(eq=False)
class Job:
    """One training job of a trial, as the backend knows it."""

    trial_id: int
    name: str | None  # None while the launch waits (capacity, quota, its trial's last job)
    launch: int
    halted: bool = False  # stopped/paused by us, or finished: its news is stale
    ended: bool = False  # SageMaker reported it Completed/Failed/Stopped: no instance held
    last_report: Report | None = None
    held: Report | None = None
    seen_ended: bool = False  # ended at the last poll: handled at the next (late log lines)
    cancelled: bool = False  # paused or stopped by the Tuner
    lines: deque = field(default_factory=lambda: deque(maxlen=20))  # last non-report lines
    trial: Trial | None = None  # what to launch while waiting
    not_before: float = 0.0  # quota backoff: no new attempt before this backend time
    attempts: int = 0


def on_line(job: Job, message: str, t: float, fidelity: str,
            max_fidelity: int | None) -> list[Event]:
    """The events of one log line of `job` at time `t`: a report (held until the next one
    when `max_fidelity` is unknown, so the last can be marked), a failure, or none."""
    try:
        metrics = parse_report(message)
    except ValueError as e:
        return [fail(job, t, f"malformed report in job {job.name} log: {e}", retryable=False)]
    if metrics is None:
        job.lines.append(message.rstrip("\n"))
        return []
    if fidelity not in metrics:
        return [fail(job, t, f"report lacks the fidelity {fidelity!r}: {metrics}",
                     retryable=False)]
    fid = int(metrics[fidelity])
    values = {k: v for k, v in metrics.items() if k != fidelity}
    report = Report(job.trial_id, max(t, 0.0), fid, values)
    job.last_report = report
    if max_fidelity is not None:
        if fid >= max_fidelity:
            report.last, job.halted = True, True
        return [report]
    previous, job.held = job.held, report
    return [previous] if previous is not None else []


def completed(job: Job, t: float) -> list[Event]:
    """The events of `job` (halted now) at its completion at time `t`: its last report,
    or a failure if it made none."""
    job.halted = True
    if job.held is not None:
        job.held.last = True
        return [job.held]
    if job.last_report is not None:
        last = job.last_report
        return [Report(job.trial_id, t, last.fidelity, last.metrics, last=True)]
    return [fail(job, t, f"job {job.name} completed without any report")]


def spot_interrupted(desc: dict[str, Any]) -> bool:
    """Whether DescribeTrainingJob says a managed spot job lost its capacity."""
    if not desc.get("EnableManagedSpotTraining"):
        return False
    secondary = desc.get("SecondaryStatus", "")
    reason = (desc.get("FailureReason") or "").lower()
    return secondary in ("Interrupted", "MaxWaitTimeExceeded") or "spot" in reason


def fail(job: Job, t: float, why: str, retryable: bool = True) -> Failure:
    """The failure of `job` (halted now) with the last lines of its log."""
    job.halted = True
    reason = f"trial {job.trial_id}: {why}"
    if job.lines:
        reason += f"\n--- last log lines of {job.name} ---\n" + "\n".join(job.lines)
    return Failure(job.trial_id, max(t, 0.0), reason, retryable)


class RunStore:
    """A run's S3 prefix: code/, checkpoints/trial_<id>/, trials/trial_<id>/config.json."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix

    def checkpoint_uri(self, trial_id: int) -> str:
        return f"s3://{self.bucket}/{self._checkpoint_key(trial_id)}"

    def _checkpoint_key(self, trial_id: int) -> str:
        return f"{self.prefix}/checkpoints/trial_{trial_id}/"

    def config_uri(self, trial_id: int) -> str:
        return f"s3://{self.bucket}/{self._config_key(trial_id)}"

    def _config_key(self, trial_id: int) -> str:
        return f"{self.prefix}/trials/trial_{trial_id}/config.json"

    def upload_code(self, root: Path, stamp: int) -> str:
        """`root` as sourcedir.tar.gz (as the SageMaker SDK packs it, plus core/report.py
        when `root` lacks it: training code imports it); its S3 URI."""
        key = f"{self.prefix}/code/{stamp}/sourcedir.tar.gz"
        self.s3.put_object(Bucket=self.bucket, Key=key,
                           Body=pack_directory(root, reporter_files(root)))
        return f"s3://{self.bucket}/{key}"

    def write_config(self, trial_id: int, config: dict[str, Any]) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self._config_key(trial_id),
                           Body=json.dumps(config, default=str).encode())

    def take_config(self, trial_id: int, config: dict[str, Any]) -> None:
        """Record `config` for `trial_id` unless it is recorded already; ValueError if
        another config is (the trial id was used for another configuration)."""
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self._config_key(trial_id))
        except Exception as e:
            if error_code(e) not in ("NoSuchKey", "404"):
                raise
            return self.write_config(trial_id, config)
        recorded = json.loads(body["Body"].read())
        if recorded != json.loads(json.dumps(config, default=str)):
            raise ValueError(
                f"trial {trial_id}: {self.config_uri(trial_id)} holds config {recorded}, not "
                f"{config}; the trial id was used for another configuration (start afresh "
                "with another run_id or run directory)")

    def _keys(self, prefix: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                  Prefix=prefix)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def clear_checkpoint(self, trial_id: int) -> None:
        keys = self._keys(self._checkpoint_key(trial_id))
        for i in range(0, len(keys), 1000):
            self.s3.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True})

    def copy_checkpoint(self, source: int, target: int) -> None:
        src, dst = self._checkpoint_key(source), self._checkpoint_key(target)
        for key in self._keys(src):
            self.s3.copy_object(Bucket=self.bucket, Key=dst + key[len(src):],
                                CopySource={"Bucket": self.bucket, "Key": key})


def list_jobs(sm: Any, contains: str, after: float | None) -> list[dict[str, Any]]:
    """Every training job whose name contains `contains` (created after `after`, epoch s)."""
    kwargs: dict[str, Any] = {"NameContains": contains, "MaxResults": 100}
    if after is not None:
        kwargs["CreationTimeAfter"] = datetime.fromtimestamp(after, tz=timezone.utc)
    out = []
    while True:
        page = sm.list_training_jobs(**kwargs)
        out += page.get("TrainingJobSummaries", [])
        if not page.get("NextToken"):
            return out
        kwargs["NextToken"] = page["NextToken"]


class LogTail:
    """New CloudWatch lines of the jobs' log streams, one FilterLogEvents round per call.

    Reads again only the last LOG_LAG_MS before the newest line seen (late ingestion),
    never a line twice.
    """

    def __init__(self, logs: Any, stream_prefix: str, start_ms: int) -> None:
        self.logs, self.stream_prefix, self.start_ms = logs, stream_prefix, start_ms
        self._seen: dict[str, int] = {}  # log event id -> its timestamp (ms)

    def new_lines(self, wanted: Callable[[str], bool]) -> list[tuple[str, str, int]]:
        """(job name, message, timestamp ms) of the new lines of jobs `wanted(name)` accepts,
        in time order."""
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "startTime": self.start_ms,
                                  "logStreamNamePrefix": self.stream_prefix}
        out = []
        while True:
            try:
                page = self.logs.filter_log_events(**kwargs)
            except ClientError as e:
                if error_code(e) == "ResourceNotFoundException":
                    return out  # no job has logged yet
                raise
            for ev in page.get("events", []):
                name = ev["logStreamName"].split("/", 1)[0]
                if ev["eventId"] in self._seen or not wanted(name):
                    continue
                self._seen[ev["eventId"]] = ev["timestamp"]
                out.append((name, ev["message"], ev["timestamp"]))
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        out.sort(key=lambda x: x[2])
        if self._seen:
            start = max(self._seen.values()) - LOG_LAG_MS
            if start > self.start_ms:
                self.start_ms = start
                self._seen = {k: v for k, v in self._seen.items() if v >= start}
        return out
