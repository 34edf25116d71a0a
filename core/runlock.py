"""One writer at a time: an exclusive OS lock (flock) on a run directory or an output file.

The lock is a file (``run.lock`` in a run directory) locked with ``fcntl.flock`` while a
process writes; it holds the holder's pid, host and start time, to name it to a process
that is refused. The OS drops the lock when the holder dies, even by ``kill -9``; a
holder that releases normally removes the file, so a finished run keeps none.

Example:
    >>> with RunLock.acquire(Path("outputs/run1") / LOCK_FILE):  # doctest: +SKIP
    ...     ...  # write the run; a second process gets RunLocked, naming this one
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Any

LOCK_FILE = "run.lock"


class RunLocked(ValueError):
    """Another process holds the lock (the message names it)."""


class RunLock:
    """A held lock; `release()` (or the end of a `with` block, or the process) drops it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: str | Path, what: str | None = None) -> RunLock:
        """Lock `path` (created if missing) without waiting; RunLocked names the holder.

        `what` names the locked thing in the refusal (default: the lock file's directory).
        """
        path = Path(path)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise RunLocked(
                    f"{what or path.parent} is being written by another process "
                    f"({holder}); wait for it to end or stop it, then rerun"
                ) from None
            except BaseException:
                os.close(fd)
                raise
            try:  # a holder that released removed the file we opened: lock the new one
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        return cls(path, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Remove the lock file and drop the lock (nothing if already released)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # still locked: no process waits on a removed file
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    """"pid 123 on host, since 2026-...Z" from a lock file, or what is known of it."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode())
        return (f"pid {holder['pid']} on {holder['host']}, started "
                f"{holder['started'].replace('+00:00', 'Z')}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "it has not said who it is yet"
