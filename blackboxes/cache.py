"""The cache directory of converted tables and downloads: its own module, imported by the
repository, the downloader and the sources alike."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SIMTUNE_CACHE"


def cache_dir() -> Path:
    """Where converted tables live: $SIMTUNE_CACHE, else ~/.cache/simtune (or XDG_CACHE_HOME)."""
    if os.environ.get(CACHE_ENV):
        path = Path(os.environ[CACHE_ENV]).expanduser()
        what = f"{CACHE_ENV}={os.environ[CACHE_ENV]}"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path, what = Path(base) / "simtune", "the cache directory"
    blocked = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise ValueError(f"{what}: {blocked} is a file, not a directory; point {CACHE_ENV} at "
                         "a directory for converted tables")
    return path


def default_dest(name: str) -> Path:
    """`<cache>/raw/<name>`: where downloads of `name` go by default."""
    return cache_dir() / "raw" / name
