"""Where a family converted from raw files keeps its tables, and what `list` says of a task."""

from __future__ import annotations

import os
from pathlib import Path

from simtune.blackboxes.cache import cache_dir


def family_cache(name: str) -> Path:
    """The cache folder of benchmark `name` (`<cache>/<name>/<task>.h5`)."""
    return cache_dir() / name


def raw_status(name: str, task: str, label: str, raw_env: str) -> str:
    """'cached (<label>)', '<label> in $<raw_env> ...' or how to get the raw files."""
    if (family_cache(name) / f"{task}.h5").exists():
        return f"cached ({label})"
    if os.environ.get(raw_env):
        return f"{label} in ${raw_env} (converted on first load)"
    return f"raw files needed: python -m simtune.blackboxes download {name} (or set {raw_env})"
