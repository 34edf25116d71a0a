"""Sweep bookkeeping from run directories: run names, failures, progress (runs done / total).

Whether a run is complete is core.rundir's rule (the sweeper, experiments/sweeps/sweeper.py,
skips complete runs before dispatch); experiments/run.py writes ``failed.txt`` through
``record_failure`` when a run of a sweep fails;
the Hydra callback ``SweepProgress`` (conf/config.yaml, hydra.callbacks) counts finished
runs in ``<sweep dir>/progress.json`` and logs "run k/N done". It lives in an installed
package (experiments.sweeps) because every launcher (joblib, submitit, Ray) unpickles it
in the worker process.

Example:
    >>> run_subdir("scheduler=asha,+note=a/b")
    'scheduler=asha,+note=a%2Fb'
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import socket
import sys
import urllib.parse
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from simtune.experiments.sweeps.orphans import watch_sweep

log = logging.getLogger("simtune.sweep")

METADATA_FILE = "metadata.json"
FAILED_FILE = "failed.txt"
PROGRESS_FILE = "progress.json"
COMPLETE, SKIPPED, FAILED = "complete", "skipped", "failed"
HELD = "held"  # skipped: another process writes the run (core.runlock)
LOCAL_LAUNCHERS = (  # launchers whose jobs are processes the sweep process starts
    "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
)
SUBDIR_SAFE = "=,+-._~@:[]{}"  # kept as they are in run directory names, besides letters and digits
SUBDIR_MAX = 200  # bytes of a run directory name; longer ones end in "#" + a hash


def run_subdir(overrides: str) -> str:
    """The directory name of a sweep run from its overrides (``hydra.job.override_dirname``).

    Characters other than letters, digits and SUBDIR_SAFE are percent-encoded, and so is a
    leading dot: "/" can neither nest directories nor leave the sweep dir, and the encoding
    is reversible, so distinct overrides get distinct names, the same ones the same name.
    A name longer than SUBDIR_MAX keeps its start and ends in "#" and 16 hex digits of the
    overrides' SHA-256 ("#" is always encoded otherwise, so it never meets a short name).
    conf/config.yaml: ``hydra.sweep.subdir: ${simtune.subdir:${hydra.job.override_dirname}}``.

    >>> run_subdir("scheduler=asha,seed=3")
    'scheduler=asha,seed=3'
    >>> run_subdir("+note=x/../../ESCAPED")
    '+note=x%2F..%2F..%2FESCAPED'
    """
    name = urllib.parse.quote(overrides, safe=SUBDIR_SAFE)
    if name.startswith("."):
        name = "%2E" + name[1:]
    if len(name) > SUBDIR_MAX:
        digest = hashlib.sha256(overrides.encode("utf-8")).hexdigest()[:16]
        name = f"{name[:SUBDIR_MAX - len(digest) - 1]}#{digest}"
    return name


if not OmegaConf.has_resolver("simtune.subdir"):  # before Hydra resolves hydra.sweep.subdir
    OmegaConf.register_new_resolver("simtune.subdir", run_subdir)


def record_failure(out_dir: str | Path, error: BaseException) -> str:
    """Write ``failed.txt`` in ``out_dir`` with one line naming the error; returns the line."""
    line = " ".join(f"{type(error).__name__}: {error}".split())
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / FAILED_FILE).write_text(line + "\n", encoding="utf-8")
    return line


def clear_failure(out_dir: str | Path) -> None:
    """Remove a failed.txt left by an earlier attempt of this run."""
    (Path(out_dir) / FAILED_FILE).unlink(missing_ok=True)


def sweep_size(task_overrides: list[str]) -> int | None:
    """Number of runs of a basic-sweeper sweep (product of the sweep lengths).

    None if a sweep cannot be enumerated (e.g. an interval for an optimizing sweeper).
    >>> sweep_size(["scheduler=random,asha", "seed=range(3)", "n_workers=2"])
    6
    """
    sizes = []
    for override in OverridesParser.create().parse_overrides(list(task_overrides)):
        if override.is_sweep_override():
            try:
                sizes.append(len(list(override.sweep_string_iterator())))
            except Exception:  # noqa: BLE001 - any non-enumerable sweep
                return None
    return math.prod(sizes)


@contextmanager
def _locked(sweep_dir: Path):
    """Exclusive lock on the sweep's progress file (parallel runs update it)."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with open(sweep_dir / (PROGRESS_FILE + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield sweep_dir / PROGRESS_FILE
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def start_progress(sweep_dir: str | Path, total: int | None) -> None:
    """Reset the sweep's counters: 0 of ``total`` runs done."""
    with _locked(Path(sweep_dir)) as path:
        counts = {"total": total, "done": 0, COMPLETE: 0, SKIPPED: 0, HELD: 0, FAILED: 0}
        path.write_text(json.dumps(counts) + "\n", encoding="utf-8")


def read_progress(sweep_dir: str | Path) -> dict[str, Any]:
    """The sweep's counters (all zero if none were written)."""
    try:
        return json.loads((Path(sweep_dir) / PROGRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {"total": None, "done": 0, COMPLETE: 0, SKIPPED: 0, HELD: 0, FAILED: 0}


def bump_progress(sweep_dir: str | Path, outcome: str) -> dict[str, Any]:
    """Count one finished run with ``outcome`` (complete|skipped|held|failed); returns the
    counts."""
    with _locked(Path(sweep_dir)) as path:
        counts = read_progress(sweep_dir)
        counts["done"] += 1
        counts[outcome] = counts.get(outcome, 0) + 1
        path.write_text(json.dumps(counts) + "\n", encoding="utf-8")
    return counts


def count_run(sweep_dir: str | Path, outcome: str, name: str) -> dict[str, Any]:
    """Count one finished run of the sweep and log "run k/N done (outcome): name"."""
    counts = bump_progress(sweep_dir, outcome)
    log.info("run %d/%s done (%s): %s", counts["done"], counts["total"] or "?", outcome, name)
    return counts


class SweepProgress(Callback):
    """Logs "run k/N done" after each run of a multirun and a summary at the end.

    A sweep with failed runs exits with status 1 once all runs are done. Each run started
    in a process the sweep started (joblib/loky workers, submitit_local jobs) watches the
    sweep process and stops when it dies (experiments.sweeps.orphans).

    Example (conf/config.yaml):
        hydra: {callbacks: {progress:
            {_target_: simtune.experiments.sweeps.progress.SweepProgress}}}
    """

    def __init__(self) -> None:
        self.sweep = (socket.gethostname(), os.getpid())  # this instance is pickled to workers

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.sweep = (socket.gethostname(), os.getpid())
        total = sweep_size(list(config.hydra.overrides.task))
        start_progress(config.hydra.sweep.dir, total)
        log.info("sweep of %s runs in %s", total or "?", config.hydra.sweep.dir)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        host, pid = self.sweep
        if host == socket.gethostname():  # cluster jobs run elsewhere, or not under the sweep
            watch_sweep(pid, config.hydra.launcher.get("_target_") in LOCAL_LAUNCHERS)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        from hydra.types import RunMode

        if config.hydra.mode != RunMode.MULTIRUN:
            return
        outcome = job_return.return_value if job_return.status == JobStatus.COMPLETED else FAILED
        if outcome not in (COMPLETE, SKIPPED, HELD, FAILED):
            outcome = COMPLETE
        count_run(config.hydra.sweep.dir, outcome,
                  config.hydra.job.override_dirname or config.hydra.job.num)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        c = read_progress(sweep_dir)
        log.info("sweep done: %d runs, %d complete, %d skipped (already complete), %d failed",
                 c["done"], c[COMPLETE], c[SKIPPED], c[FAILED])
        if c.get(HELD):
            log.warning("%d runs skipped: another process was writing them (rerun the sweep "
                        "once it ended to check they are complete)", c[HELD])
        if c[FAILED]:
            failed = sorted(str(p) for p in sweep_dir.rglob(FAILED_FILE))
            print(f"error: {c[FAILED]} of {c['done']} runs failed; reasons in "
                  f"{', '.join(failed[:3])}{' ...' if len(failed) > 3 else ''}",
                  file=sys.stderr)
            sys.exit(1)
