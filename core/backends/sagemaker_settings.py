"""The SageMaker backend's CreateTrainingJob request and its pieces; an adapter from an SDK
Estimator.

Pure functions: no boto3, no `sagemaker` import (the Estimator adapter is duck-typed, so
an existing `sagemaker.estimator.Estimator` works without this module importing the SDK).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simtune.core.report import CHECKPOINT_ENV, PREFIX

if TYPE_CHECKING:
    from simtune.core.backends.sagemaker import SageMakerBackend
    from simtune.core.trial import Trial

_SLUG = re.compile(r"[^a-zA-Z0-9-]+")
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


CHECKPOINT_LOCAL = "/opt/ml/checkpoints"
CODE_DIR = "/opt/ml/code"  # where the training toolkit unpacks sourcedir.tar.gz
MAX_JOB_PREFIX = 24  # job names: <prefix>-<8 hex of the run>-<trial>-<timestamp>[-rN] <= 63


def check(*, image_uri: str | None, role: str | None, bucket: str | None, use_spot: bool,
          max_wait: int | None, max_run: int, max_jobs: int | None, job_prefix: str,
          keep_alive_period: int | None) -> None:
    """ValueError naming the first SageMakerBackend setting that cannot work, and the fix."""
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
    if max_jobs is not None and (isinstance(max_jobs, bool) or not isinstance(max_jobs, int)
                                 or max_jobs < 1):
        raise ValueError(f"backend.max_jobs must be an integer >= 1 or null, got {max_jobs!r}")
    if len(job_prefix) > MAX_JOB_PREFIX:
        raise ValueError(f"backend.job_prefix={job_prefix!r} is longer than "
                         f"{MAX_JOB_PREFIX} characters; shorten it (job names have 63)")
    if keep_alive_period is not None and not 0 <= keep_alive_period <= 3600:
        raise ValueError(f"backend.keep_alive_period={keep_alive_period!r}: SageMaker "
                         "keeps a warm pool 0 to 3600 seconds")


def without_none(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` without the entries whose value is None (optional request fields)."""
    return {k: v for k, v in fields.items() if v is not None}


def run_key(run_id: str) -> str:
    """A short, stable S3/job-name-safe key of a run: the same `run_id`, the same key.

    Example:
        >>> run_key("/home/me/outputs/2026-12-01/09-15-00")
        '09-15-00-7529c9fc'
    """
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    tail = _SLUG.sub("-", run_id.rstrip("/").rsplit("/", 1)[-1]).strip("-")[:20].strip("-")
    return f"{tail}-{digest}" if tail else digest


def input_channels(inputs: dict[str, Any] | None) -> list[dict[str, Any]]:
    """InputDataConfig from `{channel: s3_uri}` (a fully replicated S3 prefix) or `{channel:
    {...}}` (a channel of the API as is, its ChannelName filled in).

    Example:
        >>> input_channels({"train": "s3://b/data/train"})[0]["DataSource"]["S3DataSource"]["S3Uri"]
        's3://b/data/train'
    """
    out = []
    for name, spec in (inputs or {}).items():
        if isinstance(spec, str):
            if not spec.startswith("s3://"):
                raise ValueError(
                    f"backend.inputs.{name}={spec!r} is not an S3 URI; use s3://bucket/prefix"
                )
            out.append({"ChannelName": name, "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": spec,
                "S3DataDistributionType": "FullyReplicated"}}})
        elif isinstance(spec, dict):
            out.append({**spec, "ChannelName": name})
        else:
            raise ValueError(
                f"backend.inputs.{name} must be an S3 URI or a channel dict, got {spec!r}"
            )
    return out


def metric_definitions(spec: list[Any] | dict[str, str] | None) -> list[dict[str, str]]:
    """MetricDefinitions: a metric name alone gets the regex of its value in the report lines
    of core.report (so the console plots the learning curves); {Name, Regex} dicts or a
    {name: regex} mapping pass as they are.

    Example:
        >>> metric_definitions(["val_accuracy"])[0]["Name"]
        'val_accuracy'
    """
    if spec is None:
        return []
    if isinstance(spec, dict):
        return [{"Name": k, "Regex": v} for k, v in spec.items()]
    out = []
    for item in spec:
        if isinstance(item, str):
            regex = f'{re.escape(PREFIX.strip())} .*"{item}": {_NUMBER}'
            out.append({"Name": item, "Regex": regex})
        elif isinstance(item, dict) and {"Name", "Regex"} <= set(item):
            out.append({"Name": item["Name"], "Regex": item["Regex"]})
        else:
            raise ValueError(
                f"backend.metric_definitions item {item!r}: give a metric name or "
                "{Name: ..., Regex: ...}"
            )
    return out


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` with `extra` merged in: dicts merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def settings_from_estimator(estimator: Any) -> dict[str, Any]:
    """SageMakerBackend keyword arguments from a `sagemaker` SDK Estimator (duck-typed).

    Reads image_uri (or training_image_uri()), role, instance_type/count, volume size and
    KMS key, max_run, spot settings, environment, hyperparameters (fixed ones, sent to every
    trial), entry_point, source_dir, output path (its bucket), subnets and security groups,
    tags, metric definitions and the warm-pool keep-alive; unset attributes are left out.

    Example:
        >>> backend = SageMakerBackend.from_estimator(estimator, max_fidelity=50)
    """
    get = lambda name: getattr(estimator, name, None)  # noqa: E731
    image = get("image_uri")
    if image is None and callable(get("training_image_uri")):
        image = estimator.training_image_uri()
    hps = get("_hyperparameters")
    if hps is None and callable(get("hyperparameters")):
        hps = estimator.hyperparameters()
    hps = {k: v for k, v in (hps or {}).items() if not str(k).startswith("sagemaker_")}
    out: dict[str, Any] = {
        "image_uri": image, "role": get("role"), "instance_type": get("instance_type"),
        "instance_count": get("instance_count"), "volume_size_gb": get("volume_size"),
        "volume_kms_key": get("volume_kms_key"), "output_kms_key": get("output_kms_key"),
        "max_run": get("max_run"), "use_spot": get("use_spot_instances"),
        "max_wait": get("max_wait"), "environment": get("environment") or None,
        "hyperparameters": hps or None, "entry_point": get("entry_point"),
        "source_dir": get("source_dir"), "keep_alive_period": get("keep_alive_period_in_seconds"),
        "metric_definitions": get("metric_definitions") or None,
        "tags": {t["Key"]: t["Value"] for t in get("tags") or []} or None,
    }
    if get("subnets") or get("security_group_ids"):
        out["vpc_config"] = {"Subnets": list(get("subnets") or []),
                             "SecurityGroupIds": list(get("security_group_ids") or [])}
    output = get("output_path")
    if isinstance(output, str) and output.startswith("s3://"):
        out["bucket"] = output[5:].split("/", 1)[0]
    elif get("sagemaker_session") is not None and callable(
        getattr(estimator.sagemaker_session, "default_bucket", None)
    ):
        out["bucket"] = estimator.sagemaker_session.default_bucket()
    if out["entry_point"] is None:
        raise ValueError(
            "the Estimator has no entry_point: the backend runs a training script per trial "
            "(an Estimator with entry_point=..., e.g. a framework estimator such as SKLearn)"
        )
    return {k: v for k, v in out.items() if v is not None}


def training_job_request(backend: SageMakerBackend, trial: Trial, name: str,
                         code_uri: str) -> dict[str, Any]:
    """The CreateTrainingJob request of `trial` (job `name`) with the settings of `backend`,
    its code at `code_uri`."""
    entry = backend.entry_point if backend.source_dir else Path(backend.entry_point).name
    config = {**backend.hyperparameters, **trial.config}
    hps = {k: json.dumps(v) for k, v in config.items()}  # the toolkit decodes JSON
    hps["sagemaker_program"] = json.dumps(entry)
    hps["sagemaker_submit_directory"] = json.dumps(code_uri)
    env = {"PYTHONPATH": CODE_DIR,  # the script imports core.report from the source dir
           **backend.environment, CHECKPOINT_ENV: CHECKPOINT_LOCAL,
           "SIMTUNE_TRIAL_ID": str(trial.trial_id), "PYTHONUNBUFFERED": "1"}
    tags = {**backend.tags, "simtune-run": backend.run_key, "simtune-trial": str(trial.trial_id)}
    some = without_none
    request: dict[str, Any] = some({
        "TrainingJobName": name,
        "AlgorithmSpecification": some({"TrainingImage": backend.image_uri,
                                        "TrainingInputMode": "File",
                                        "MetricDefinitions": backend.metric_regexes or None}),
        "RoleArn": backend.role,
        "HyperParameters": hps,
        "InputDataConfig": backend.channels or None,
        "OutputDataConfig": some({"S3OutputPath": f"s3://{backend.bucket}/{backend.run_prefix}/output",
                                  "KmsKeyId": backend.output_kms_key}),
        "ResourceConfig": some({"InstanceType": backend.instance_type,
                                "InstanceCount": int(backend.instance_count),
                                "VolumeSizeInGB": int(backend.volume_size_gb),
                                "VolumeKmsKeyId": backend.volume_kms_key,
                                "KeepAlivePeriodInSeconds": backend.keep_alive_period}),
        "VpcConfig": dict(backend.vpc_config) if backend.vpc_config else None,
        "StoppingCondition": some({"MaxRuntimeInSeconds": int(backend.max_run),
                                   "MaxWaitTimeInSeconds": int(backend.max_wait)  # type: ignore[arg-type]
                                   if backend.use_spot else None}),
        "EnableManagedSpotTraining": bool(backend.use_spot),
        "CheckpointConfig": {"S3Uri": backend.checkpoint_s3_uri(trial.trial_id),
                             "LocalPath": CHECKPOINT_LOCAL},
        "Environment": env,
        "Tags": [{"Key": k, "Value": str(v)} for k, v in tags.items()],
    })
    return deep_merge(request, backend.request_overrides)
