"""Small AWS helpers of the SageMaker backend and launcher: names, retries, code packing."""

from __future__ import annotations

import io
import logging
import re
import tarfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("simtune.sagemaker")

THROTTLING = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
}
_BAD_CHARS = re.compile(r"[^a-zA-Z0-9-]+")


def job_name(prefix: str, trial_id: int, launch: int, now: datetime) -> str:
    """`prefix-trialid-timestamp` (with `-rN` for the N-th relaunch), at most 63 characters.

    Example:
        >>> job_name("simtune", 7, 0, datetime(2026, 1, 2, 3, 4, 5))
        'simtune-7-20260102-030405'
    """
    stamp = now.strftime("%Y%m%d-%H%M%S")
    tail = f"-{trial_id}-{stamp}" + (f"-r{launch}" if launch else "")
    head = _BAD_CHARS.sub("-", prefix).strip("-")[: 63 - len(tail)].rstrip("-") or "simtune"
    return head + tail


def aws_session(region: str | None = None) -> Any:
    """A boto3 Session; a ValueError saying how to install boto3 when it is missing."""
    try:
        import boto3
    except ImportError:
        raise ValueError(
            "the SageMaker backend and launcher need boto3: pip install -e '.[sagemaker]'"
        ) from None
    return boto3.Session(region_name=region)


def with_retries(
    call: Callable[..., Any],
    *,
    max_retries: int = 8,
    base_delay: float = 1.0,
    max_delay: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs: Any,
) -> Any:
    """`call(**kwargs)`, retried after base_delay * 2**i seconds while AWS throttles it."""
    from botocore.exceptions import ClientError

    for attempt in range(max_retries + 1):
        try:
            return call(**kwargs)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code not in THROTTLING or attempt == max_retries:
                raise
            delay = min(max_delay, base_delay * 2**attempt)
            log.info("throttled (%s), retry %d in %.0f s", code, attempt + 1, delay)
            sleep(delay)
    raise AssertionError("unreachable")


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
