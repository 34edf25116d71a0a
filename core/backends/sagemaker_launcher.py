"""Run a whole tuning run as one SageMaker training job (`launcher=sagemaker`).

The project and the run's resolved config are packed into sourcedir.tar.gz with a
small entry script; in the job, the script installs the project and runs
experiments/run.py on that config with its run directory in /opt/ml/checkpoints,
which SageMaker keeps synced to S3 while the job runs: the results appear under
`results_s3_uri` as they are written, and the laptop can be closed.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from simtune.core.backends._aws import aws_clients, aws_session, job_name, pack_directory
from simtune.core.backends.sagemaker_settings import CHECKPOINT_LOCAL

# the project's fixed top level: what the job needs, never a virtual env or run outputs
PROJECT_PARTS = {"pyproject.toml", "README.md", "core", "blackboxes", "experiments", "conf",
                 "analysis"}
CONFIG_DIR = "simtune_launch"
CONFIG_NAME = "run"
ENTRY = "simtune_launch.py"
ENTRY_SOURCE = f'''"""Entry point of a simtune tuning job on SageMaker (written by simtune)."""
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "-e", here])
run_dir = os.path.join("{CHECKPOINT_LOCAL}", "run")
os.execv(sys.executable, [sys.executable, os.path.join(here, "experiments", "run.py"),
         "--config-dir", os.path.join(here, "{CONFIG_DIR}"), "--config-name", "{CONFIG_NAME}",
         "hydra.run.dir=" + run_dir, "progress=false"])
'''


def pack_project(root: str | Path, run_config: dict[str, Any]) -> bytes:
    """sourcedir.tar.gz: the project under `root`, the resolved config and the entry script."""
    config = {k: v for k, v in run_config.items() if k not in ("launcher", "hydra")}
    extra = {
        f"{CONFIG_DIR}/{CONFIG_NAME}.yaml": json.dumps(config, indent=2).encode(),  # JSON is YAML
        ENTRY: ENTRY_SOURCE.encode(),
    }
    return pack_directory(Path(root), extra, only=PROJECT_PARTS)


def launch_tuning_job(
    run_config: dict[str, Any],
    *,
    project_root: str | Path,
    image_uri: str,
    role: str,
    bucket: str,
    s3_prefix: str = "simtune",
    job_prefix: str = "simtune-tuner",
    instance_type: str = "ml.m5.xlarge",
    volume_size_gb: int = 30,
    max_run: int = 24 * 3600,
    session: Any = None,
    region: str | None = None,
) -> dict[str, Any]:
    """Upload the packed project and start the tuning job; returns the request sent.

    Example:
        >>> launch_tuning_job(cfg_dict, project_root=".", image_uri=IMAGE, role=ROLE, bucket="b")
    """
    if session is None:
        session = aws_session(region, where="launcher")
    s3, sm = aws_clients(session, ("s3", "sagemaker"))  # botocore's standard retries
    now = datetime.now(timezone.utc)
    name = job_name(job_prefix, int(run_config.get("seed", 0)), 0, now)
    base = f"{s3_prefix.strip('/')}/{name}"
    s3.put_object(Bucket=bucket, Key=f"{base}/code/sourcedir.tar.gz",
                  Body=pack_project(project_root, run_config))
    request = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": image_uri, "TrainingInputMode": "File"},
        "RoleArn": role,
        "HyperParameters": {
            "sagemaker_program": json.dumps(ENTRY),
            "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/{base}/code/sourcedir.tar.gz"),
        },
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/{base}/output"},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": 1,
                           "VolumeSizeInGB": int(volume_size_gb)},
        "StoppingCondition": {"MaxRuntimeInSeconds": int(max_run)},
        "CheckpointConfig": {"S3Uri": results_s3_uri(bucket, base), "LocalPath": CHECKPOINT_LOCAL},
        "Environment": {"PYTHONUNBUFFERED": "1"},
        "Tags": [{"Key": "simtune-tuner", "Value": "true"}],
    }
    sm.create_training_job(**request)
    return request


def results_s3_uri(bucket: str, base: str) -> str:
    """Where the job's run directory (results.csv, metadata.json) is synced."""
    return f"s3://{bucket}/{base}/results/"
