"""A full file system as one line: which one, how much is free, how much a write needed.

A run that cannot store what it records stops (an error of the run, not of a trial);
what it wrote stays readable and a rerun after space is freed resumes it.

Example:
    >>> is_no_space(OSError(28, "No space left on device"))
    True
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

SPACE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class NoSpace(OSError):
    """A write failed for lack of space; str() is the one line to show."""

    def __str__(self) -> str:
        return str(self.strerror)


def is_no_space(error: BaseException) -> bool:
    """True if `error` is a write failing for lack of space (or quota, or file-size limit)."""
    return isinstance(error, OSError) and error.errno in SPACE_ERRORS


def mount_point(path: str | Path) -> Path:
    """The mount point of the file system holding `path` (or its nearest existing parent)."""
    path = Path(os.path.abspath(path))
    while not path.exists():
        path = path.parent
    while not os.path.ismount(path):
        path = path.parent
    return path


def no_space(error: OSError, path: str | Path, needed: int | None = None) -> NoSpace:
    """NoSpace for `error` writing `path`: the file system, the bytes free and needed."""
    mount = mount_point(path)
    try:
        st = os.statvfs(mount)
        free = f"{st.f_bavail * st.f_frsize:,} bytes free"
    except OSError:
        free = "free space unknown"
    need = f", {needed:,} more bytes needed to write it" if needed else ""
    what = {errno.EDQUOT: "disk quota exceeded", errno.EFBIG: "file size limit reached"}.get(
        error.errno or 0, "no space left")
    return NoSpace(
        error.errno or errno.ENOSPC,
        f"{what} on the file system at {mount} ({free}{need}) writing {path}; free space "
        "there and rerun the same command to resume",
    )
