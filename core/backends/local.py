"""Trials as subprocesses on this machine: one process (group) and one directory per trial.

A trial directory holds config.json, stdout.txt, stderr.txt (both capped) and
checkpoints/. The script gets its config as `--name value` argv pairs plus
`--checkpoint-dir DIR` (also $SIMTUNE_CHECKPOINT_DIR), the same config as JSON in
$SIMTUNE_CONFIG (run_script takes its exact types from it), and reports with the line
protocol of core.report. Pause stops the process tree and keeps the checkpoint;
resume starts the script again on the same checkpoint directory.

Nothing is written before the first start or recover. A trial directory left by an
interrupted run is kept (start and recover continue on its checkpoint) when its
config.json holds the same configuration, and refused with ValueError otherwise. No
report is lost to an interruption: `drain` reads what running trials said before a graceful
stop, and `recover_reports` what stdout.txt holds beyond the recorded rows at a resume.
"""

from __future__ import annotations

import os
import queue
import shutil
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

from simtune.core.backends._events import TrialEvents
from simtune.core.backends._gpus import GpuPool, detect_gpus, parse_nvidia_smi, pick_gpus
from simtune.core.backends._process import install_signal_handlers, launch
from simtune.core.backends._trialdir import (
    config_text,
    output_reports,
    take_trial_dir,
    training_path,
    tree_bytes,
    unrecorded,
)
from simtune.core.backends._trialrun import ProcEvent, TrialRun
from simtune.core.backends.base import Backend
from simtune.core.report import CHECKPOINT_ARG, CHECKPOINT_ENV, CONFIG_ENV, config_to_argv
from simtune.core.trial import Report, Trial

__all__ = ["LocalBackend", "parse_nvidia_smi", "pick_gpus", "training_path"]
CUDA_ENV = "CUDA_VISIBLE_DEVICES"


class LocalBackend(TrialEvents, Backend):
    """Runs each trial as `command --name value ... --checkpoint-dir DIR` in its own session.

    - `command`: a Python script path (run with this interpreter) or an argv list.
    - `fidelity`: the report key that counts the resource (e.g. "epoch"); every report
      must have it. `max_fidelity`: a report reaching it is the trial's last (known at
      once); without it, each report is held until the next one or the process's exit
      so that the last one can be marked.
    - `hang_timeout`: seconds without a report after which a trial counts as hung.
    - `max_trial_seconds`: wall-clock seconds one run of a trial's process (from its
      start or resume) may take before the trial fails; None: no limit.
    - `grace_period`: seconds between SIGTERM and SIGKILL.
    - `max_output_bytes`: stdout + stderr a trial may write before it fails.
    - `gpus_per_trial`: GPUs given to each trial through CUDA_VISIBLE_DEVICES when
      `nvidia-smi` lists GPUs (only those an existing CUDA_VISIBLE_DEVICES leaves): the
      least-busy ones, given back when the trial completes, stops, pauses or fails.
      Trials run on the CPU otherwise.

    Example:
        >>> backend = LocalBackend("train.py", fidelity="epoch", max_fidelity=20)
    """

    name = "local"

    def __init__(
        self,
        command: str | list[str],
        *,
        fidelity: str = "epoch",
        max_fidelity: int | None = None,
        root: str | Path | None = None,
        hang_timeout: float | None = None,
        max_trial_seconds: float | None = None,
        grace_period: float = 5.0,
        max_output_bytes: int = 10_000_000,
        gpus_per_trial: int = 1,
        env: dict[str, str] | None = None,
    ) -> None:
        if isinstance(command, str):
            script = Path(command).expanduser().resolve()
            if not script.is_file():
                raise FileNotFoundError(f"training script {command!r} not found ({script})")
            command = [sys.executable, str(script)]
        if not command:
            raise ValueError("command must name a script or be a non-empty argv list")
        for name, value in (
            ("grace_period", grace_period),
            ("hang_timeout", hang_timeout),
            ("max_trial_seconds", max_trial_seconds),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0
            ):
                raise ValueError(
                    f"{name} must be a non-negative number of seconds or null, got {value!r}"
                )
        self.command = list(command)
        self.fidelity = fidelity
        self.max_fidelity = max_fidelity
        # absolute: trials run with their own directory as working directory
        self._root = Path(root).resolve() if root is not None else None  # made at first start
        self._root_ready = False
        self.hang_timeout = hang_timeout
        self.max_trial_seconds = max_trial_seconds
        self.grace_period = grace_period
        self.max_output_bytes = max_output_bytes
        self.gpus_per_trial = gpus_per_trial
        self.extra_env = dict(env or {})
        self._t0 = time.monotonic()
        self._events: queue.Queue[ProcEvent] = queue.Queue()
        self._procs: dict[int, TrialRun] = {}  # trial id -> its current process
        self._pending: deque[ProcEvent] = deque()  # taken from the queue, not yet handled
        self._held: dict[int, Report] = {}  # trial id -> report waiting to learn if it is last
        if type(gpus_per_trial) is not int or gpus_per_trial < 0:
            raise ValueError(
                f"gpus_per_trial must be a non-negative integer, got {gpus_per_trial!r}"
            )
        self._gpus = GpuPool(detect_gpus({**os.environ, **self.extra_env}.get(CUDA_ENV)))
        if self._gpus.gpus and gpus_per_trial > len(self._gpus.gpus):
            raise ValueError(
                f"gpus_per_trial={gpus_per_trial!r} but {len(self._gpus.gpus)} GPU(s) are "
                f"available ({self._gpus.gpus}); ask for at most that many"
            )
        self._recovered: set[int] = set()  # taken over from an interrupted process, paused
        # recovered trial -> (its recorded report, unrecorded reports, highest fidelity) read
        # from its output, handed over at its resume; then reports up to that fidelity are old
        self._unread: dict[int, tuple[Report | None, list[dict[str, Any]], int]] = {}
        self._floor: dict[int, int] = {}
        install_signal_handlers()

    # -- clock ---------------------------------------------------------------------------
    def time(self) -> float:
        return time.monotonic() - self._t0

    @property
    def root(self) -> Path:
        """The directory of the trial directories (a fresh temporary one if none was given)."""
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="simtune-"))
        return self._root

    def trial_dir(self, trial_id: int) -> Path:
        return self.root / f"trial_{trial_id}"

    def checkpoint_dir(self, trial_id: int) -> Path:
        return self.trial_dir(trial_id) / "checkpoints"

    def _prepare_root(self) -> None:
        """Create the root directory; nothing is written before the first start or recover."""
        if not self._root_ready:
            self.root.mkdir(parents=True, exist_ok=True)
            self._root_ready = True

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, trial: Trial) -> None:
        """Start `trial`; a directory left by an interrupted run with its config is kept.

        A trial directory holding another configuration raises ValueError (nothing is
        deleted): its trial id was used for a different configuration.
        """
        self._take_dir(trial)
        self._recovered.discard(trial.trial_id)
        self._unread.pop(trial.trial_id, None)
        self._launch(trial)

    def recover(self, trial: Trial) -> None:
        """Take over `trial` of an interrupted process of this run as paused (see Backend).

        Its directory and checkpoint stay as they are; `resume(trial)` runs the script on
        that checkpoint directory (an empty one if the trial left nothing).
        """
        if trial.trial_id in self._procs and not self._procs[trial.trial_id].ended.is_set():
            raise ValueError(f"trial {trial.trial_id} is running, cannot recover it")
        self._take_dir(trial)
        self._procs.pop(trial.trial_id, None)
        self._recovered.add(trial.trial_id)

    def recover_reports(self, trial: Trial) -> None:
        """Hand over first, when the recovered `trial` resumes, the reports in its output
        (stdout.txt, on storage) above its last recorded fidelity `trial.fidelity`: what it
        said that the interrupted process never recorded (backend=ray: also what it said
        while that process was dead). Its new process's reports up to the highest of them
        are then old news and dropped; if it reports nothing new, its recorded report is
        repeated as its last (as for any process that ends below max_fidelity).
        """
        tid = trial.trial_id
        found = output_reports(self.trial_dir(tid), self.fidelity)
        recorded, new, top = unrecorded(found, trial.fidelity)
        base = None
        if recorded is not None and trial.fidelity is not None:
            values = {k: v for k, v in recorded.items() if k != self.fidelity}
            base = Report(tid, 0.0, trial.fidelity, values)
        self._unread[tid] = (base, new, top)

    def resume(self, trial: Trial) -> None:
        if trial.trial_id in self._recovered:
            self._recovered.discard(trial.trial_id)
            self._launch(trial)
            return
        old = self._procs.get(trial.trial_id)
        if old is None or not old.halted:
            raise ValueError(f"trial {trial.trial_id} is not paused, cannot resume it")
        old.kill_now(self.grace_period)  # the checkpoint is complete once the old process ended
        self._launch(trial)

    def restart(self, trial: Trial) -> None:
        """Run the failed `trial`'s script again on its checkpoint directory; if the new
        process reports nothing new, its last report before the failure is its last."""
        old = self._procs.get(trial.trial_id)
        self.resume(trial)  # the failure halted the old process
        if old is not None:
            self._procs[trial.trial_id].last_report = old.last_report

    def checkpoint_bytes(self, trial_id: int) -> int:
        return tree_bytes(self.checkpoint_dir(trial_id))

    def delete_checkpoint(self, trial_id: int) -> int:
        """Delete the ended trial's checkpoints/ (its process, if still ending, first)."""
        proc = self._procs.get(trial_id)
        if proc is not None and not proc.ended.is_set():
            proc.kill_now(self.grace_period)
        path = self.checkpoint_dir(trial_id)
        freed = tree_bytes(path)
        shutil.rmtree(path, ignore_errors=True)
        return freed

    def _take_dir(self, trial: Trial) -> None:
        self._prepare_root()
        source = None if trial.checkpoint_of is None else self.checkpoint_dir(trial.checkpoint_of)
        take_trial_dir(self.trial_dir(trial.trial_id), trial, source)

    def _argv(self, trial: Trial) -> list[str]:
        ckpt = str(self.checkpoint_dir(trial.trial_id))
        return [*self.command, *config_to_argv(trial.config), CHECKPOINT_ARG, ckpt]

    def _env(self, trial: Trial) -> dict[str, str]:
        env = {**os.environ, **self.extra_env}
        env["PYTHONUNBUFFERED"] = "1"
        env[CHECKPOINT_ENV] = str(self.checkpoint_dir(trial.trial_id))
        env[CONFIG_ENV] = config_text(trial.config).strip()  # the pairs' exact types
        env["SIMTUNE_TRIAL_ID"] = str(trial.trial_id)
        cwd = os.getcwd()  # the tuner's modules stay importable from the trial directory
        env["PYTHONPATH"] = os.pathsep.join(p for p in (cwd, env.get("PYTHONPATH")) if p)
        if self._gpus.gpus:
            chosen = self._gpus.acquire(trial.trial_id, self.gpus_per_trial)
            env[CUDA_ENV] = ",".join(str(g) for g in chosen)
        return env

    def _launch(self, trial: Trial) -> None:
        tid = trial.trial_id
        self._held.pop(tid, None)
        self._floor.pop(tid, None)
        argv, env = self._argv(trial), self._env(trial)
        proc = self._procs[tid] = self._spawn(tid, argv, self.trial_dir(tid), env)
        if tid in self._unread:  # recovered: what its output holds comes first
            base, reports, self._floor[tid] = self._unread.pop(tid)
            proc.last_report = base
            now = time.monotonic()
            self._pending.extend(ProcEvent(proc, "recovered", now, m) for m in reports)

    def _spawn(self, trial_id: int, argv: list[str], cwd: Path, env: dict[str, str]) -> TrialRun:
        """Start one run of a trial's process; its events go to `self._events`.

        The hook of backends that run the process elsewhere (backend=ray): whatever they
        return implements TrialRun, and the rest of this class drives it unchanged.
        """
        return launch(
            trial_id, argv, cwd=cwd, env=env, events=self._events,
            max_output_bytes=self.max_output_bytes,
        )

    def _halt(self, trial_id: int) -> TrialRun | None:
        proc = self._procs.get(trial_id)
        if proc is None:
            if trial_id in self._recovered:  # recovered as paused: nothing runs
                return None
            raise ValueError(f"trial {trial_id} is not running")
        # already halted: it ended while its last events were in flight (no-op)
        proc.halted = True
        self._held.pop(trial_id, None)
        self._gpus.release(trial_id)
        return proc

    def pause(self, trial_id: int) -> None:
        proc = self._halt(trial_id)
        if proc is not None:
            proc.terminate(self.grace_period)

    def stop(self, trial_id: int) -> None:
        proc = self._halt(trial_id)
        self._recovered.discard(trial_id)
        self._unread.pop(trial_id, None)
        if proc is not None:
            proc.terminate(self.grace_period)

    def close(self) -> None:
        procs = list(self._procs.values())
        running = [p for p in procs if not p.ended.is_set()]
        for proc in running:
            proc.halted = True
            proc.terminate(self.grace_period)
        for proc in running:
            proc.kill_now(self.grace_period)
        for proc in procs:  # each process's reader killed its leftovers when it ended
            proc.kill_group(everywhere=False)

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "command": self.command,
            "root": str(self.root),
            "fidelity": self.fidelity,
            "max_fidelity": self.max_fidelity,
            "hang_timeout": self.hang_timeout,
            "max_trial_seconds": self.max_trial_seconds,
            "grace_period": self.grace_period,
            "max_output_bytes": self.max_output_bytes,
            "gpus": self._gpus.gpus,
            "gpus_per_trial": self.gpus_per_trial,
        }
