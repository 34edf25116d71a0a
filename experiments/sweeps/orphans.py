"""A sweep's workers die with the sweep process, even when it is killed with SIGKILL.

joblib/loky workers and submitit_local jobs are processes the sweep started; killed with
SIGKILL, the sweep runs no handler (an atexit hook does not run either) and they used to
go on with their runs on their own. ``watch_sweep``, called when a run starts in such a
process (experiments.sweeps.progress.SweepProgress.on_job_start), starts a thread that notices the
sweep's death and stops the run.

Example:
    >>> watch_sweep(os.getpid())  # the sweep process itself does not watch itself
    False
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

log = logging.getLogger("simtune.sweep")

WATCH_SECONDS = 0.5  # how often a worker checks that the sweep process is alive
WATCH_GRACE = 2.0  # seconds a worker's run gets to stop on SIGTERM before the worker exits
_PROC = Path("/proc")

_watched: int | None = None


def watch_sweep(sweep: int, started_by_sweep: bool = False) -> bool:
    """In a process the sweep process ``sweep`` started: die soon after ``sweep`` dies.

    A daemon thread checks every WATCH_SECONDS that ``sweep`` and this process's parent
    are alive; once either is gone it sends this process SIGTERM, so a run stops as it
    does on SIGTERM, and exits after WATCH_GRACE seconds if it is still alive. Watches if
    ``sweep`` is an ancestor of this process or ``started_by_sweep`` says so (a job that
    starts after the sweep died is no longer its descendant); other processes (cluster
    jobs) do not. Started once per process; returns True if this process watches.
    """
    global _watched
    if _watched is not None:
        return _watched == sweep
    if sweep == os.getpid() or not (started_by_sweep or sweep in ancestors()):
        return False
    _watched = sweep
    threading.Thread(target=_watch, args=(sweep, os.getppid()), daemon=True,
                     name="simtune-sweep-watchdog").start()
    return True


def ancestors() -> list[int]:
    """This process's parent, grandparent, ... (only the parent where /proc is missing)."""
    found, pid = [], os.getppid()
    while pid > 1 and len(found) < 64:
        found.append(pid)
        stat = _stat(pid)
        if stat is None:
            break
        pid = int(stat[1])
    return found


def alive(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie."""
    if _PROC.is_dir():
        stat = _stat(pid)
        return stat is not None and stat[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, ...)."""
    try:
        return (_PROC / str(pid) / "stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def _watch(sweep: int, parent: int) -> None:
    while os.getppid() == parent and alive(sweep):
        time.sleep(WATCH_SECONDS)
    log.error("the sweep process %d is gone: stopping this run (pid %d)", sweep, os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(WATCH_GRACE)
    os._exit(1)
