"""Small AWS helpers of the SageMaker backend and launcher: names, retries, code packing."""

from __future__ import annotations

import io
import logging
import re
import tarfile
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("simtune.sagemaker")

RETRY_MODES = ("standard", "adaptive", "legacy")  # botocore's retry modes
QUOTA = "ResourceLimitExceeded"  # an account quota (instances, jobs): wait for a free slot
_BAD_CHARS = re.compile(r"[^a-zA-Z0-9-]+")
_RELAUNCH = re.compile(r"-\d{8}-\d{6}-r(\d+)$")


def job_name(prefix: str, trial_id: int, launch: int, now: datetime) -> str:
    """`prefix-trialid-timestamp` (with `-rN` for the N-th relaunch), at most 63 characters.

    Example:
        >>> job_name("simtune", 7, 0, datetime(2026, 1, 2, 3, 4, 5))
        'simtune-7-20260102-030405'
    """
    stamp = now.strftime("%Y%m%d-%H%M%S")
    tail = f"-{trial_id}-{stamp}" + (f"-r{launch}" if launch else "")
    return safe_prefix(prefix)[: 63 - len(tail)].rstrip("-") + tail


def safe_prefix(prefix: str) -> str:
    """`prefix` as job names may start: letters, digits and single hyphens ("simtune" if empty).

    Example:
        >>> safe_prefix("my_run.v2")
        'my-run-v2'
    """
    return _BAD_CHARS.sub("-", prefix).strip("-") or "simtune"


def launch_of(name: str) -> int:
    """The relaunch number N of a job named by `job_name` (0 without `-rN`)."""
    match = _RELAUNCH.search(name)
    return int(match.group(1)) if match else 0


def aws_session(region: str | None = None, where: str = "backend") -> Any:
    """A boto3 Session with a region and credentials; else a ValueError saying what is
    missing and how to set it (`where`: the config group, e.g. "backend" or "launcher")."""
    try:
        import boto3
    except ImportError:
        raise ValueError(
            "the SageMaker backend and launcher need boto3: pip install -e '.[sagemaker]'"
        ) from None
    session = boto3.Session(region_name=region)
    if not session.region_name:
        raise ValueError(
            f"SageMaker needs an AWS region and none is set: pass {where}.region=us-east-1 "
            "(or set AWS_DEFAULT_REGION, or region in ~/.aws/config via `aws configure`)"
        )
    if session.get_credentials() is None:
        raise ValueError(
            "SageMaker needs AWS credentials and none were found: set AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run `aws configure` (or "
            "`aws sso login`)"
        )
    return session


def aws_clients(
    session: Any, names: tuple[str, ...], retry_mode: str = "standard", max_attempts: int = 10
) -> list[Any]:
    """One client per service name, retrying throttled and transient errors with botocore's
    own retry mode ("standard": exponential backoff with jitter; "adaptive": plus a client-side
    rate limiter), at most `max_attempts` attempts per call."""
    if retry_mode not in RETRY_MODES:
        raise ValueError(
            f"retry_mode={retry_mode!r} is not a botocore retry mode; use one of "
            f"{', '.join(RETRY_MODES)}"
        )
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"max_attempts must be an integer >= 1, got {max_attempts!r}")
    from botocore.config import Config

    config = Config(retries={"mode": retry_mode, "total_max_attempts": max_attempts})
    return [session.client(name, config=config) for name in names]


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    response = getattr(error, "response", None)
    return response.get("Error", {}).get("Code", "") if isinstance(response, dict) else ""


def reporter_files(root: Path) -> dict[str, bytes]:
    """simtune's Reporter for a source dir that lacks it: `simtune/core/report.py` (standard
    library only) and its packages' `__init__.py`, so that training code there can
    `from simtune import Reporter` or `from simtune.core.report import run_script` in the
    container."""
    import simtune
    import simtune.core
    import simtune.core.report

    if (root / "simtune" / "core" / "report.py").is_file():
        return {}
    modules = {"simtune/__init__.py": simtune, "simtune/core/__init__.py": simtune.core,
               "simtune/core/report.py": simtune.core.report}
    return {name: Path(module.__file__).read_bytes() for name, module in modules.items()
            if not (root / name).is_file()}


def pack_directory(
    root: Path, extra: dict[str, bytes] | None = None, only: set[str] | None = None
) -> bytes:
    """A gzipped tar of the files under `root` (no caches, runs, virtual environments or
    VCS data; only the top-level entries named in `only`, if given), plus `extra` files."""
    skip = {".git", "__pycache__", "outputs", "multirun", ".pytest_cache", ".ruff_cache",
            "venv", "node_modules", ".mypy_cache"}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
            parts = Path(info.name).parts
            if any(p in skip or p.endswith(".egg-info") or p.startswith(".venv") for p in parts):
                return None
            return info

        for child in sorted(root.iterdir()):
            if only is None or child.name in only:
                tar.add(child, arcname=child.name, filter=keep)
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
