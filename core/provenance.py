"""Where a result came from: package versions and the machine, for metadata files."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any


def versions(packages: Sequence[str]) -> dict[str, str]:
    """Versions of Python and of `packages` ("not installed" for those that are not)."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine() -> dict[str, Any]:
    """The machine this runs on: OS, CPU, core count, BLAS."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    info["cpu"] = next((x.partition(":")[2].strip() for x in lines if "model name" in x), "")
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: p.get(k) for k in ("internal_api", "version", "architecture")}
            for p in threadpool_info()
        ]
    except ImportError:
        pass
    return info
