"""The two sides of one backend=ray trial: its actor on a node, and the driver's handle.

`_TrialRunner` is the Ray actor: it starts the trial's process on its node (with the
machinery of backend=local) and hands its events out in batches; with object storage it
works in a directory of its node, pulled before the start and pushed before a report or
the exit is handed out. `RemoteProcess` is the TrialRun the driver's LocalBackend
machinery drives: a pump thread moves the batches to the backend's queue, stamped on
arrival.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simtune.core.backends._objectstore import NodeMirror, ObjectStorage
from simtune.core.backends._process import launch
from simtune.core.backends._trialrun import ProcEvent, TrialRun
from simtune.core.backends.python import FUNCTION_FILE
from simtune.core.checkpoint_stamp import STAMP_ENV


class RemoteProcess(TrialRun):
    """The driver's side of one trial's actor: the TrialRun of its process on its node.

    A pump thread asks the actor for the process's events (reports, malformed lines,
    output overflow, exit) and puts them on the backend's queue, stamped on arrival.
    Once the process has ended the actor is killed: its CPUs and GPUs are free again.
    """

    def __init__(self, trial_id: int, actor: Any, argv: list[str], cwd: str,
                 env: dict[str, str], events: queue.Queue, stamp: threading.Lock,
                 max_output_bytes: int, sync: tuple[ObjectStorage, str] | None = None,
                 placed: Callable[[int, str], None] | None = None) -> None:
        self.trial_id, self.actor = trial_id, actor
        self.cwd = Path(cwd)
        self.events, self._stamp = events, stamp
        self._started = self._last_seen = time.monotonic()
        self.launched = False  # False while the actor waits for free resources
        self.halted = False
        self.n_reports, self.last_report = 0, None
        self.best_fidelity: int | None = None
        self.stalled = 0
        self.pid: int | None = None  # of the trial process, on its node
        self.node: str | None = None  # "NODE_ID IP" of its node, once it started there
        self._placed = placed
        self.ended = threading.Event()
        self._launch_ref = actor.launch.remote(trial_id, argv, cwd, env, max_output_bytes, sync)
        self._released = False
        threading.Thread(target=self._pump, daemon=True, name=f"ray-trial{trial_id}").start()

    @property
    def started(self) -> float:  # type: ignore[override]
        """Monotonic time its process started; now while waiting for resources (not late)."""
        return self._started if self.launched else time.monotonic()

    @property
    def last_seen(self) -> float:  # type: ignore[override]
        """Monotonic time of the last report; now while waiting for resources (not hung)."""
        return self._last_seen if self.launched else time.monotonic()

    @last_seen.setter
    def last_seen(self, value: float) -> None:
        self._last_seen = value

    def _put(self, kind: str, payload: Any) -> None:
        with self._stamp:
            self.events.put(ProcEvent(self, kind, time.monotonic(), payload))

    def _pump(self) -> None:
        import ray

        try:
            self.pid, node = ray.get(self._launch_ref)
            self._started = self._last_seen = time.monotonic()  # both limits count from now
            if self.pid is not None:
                self.node = node
                if self._placed is not None:
                    self._placed(self.trial_id, node)
            self.launched = True
            while True:
                batch = ray.get(self.actor.drain.remote(1.0))
                for kind, payload in batch:
                    if kind == "exit":
                        self.ended.set()
                    self._put(kind, payload)
                if self.ended.is_set():
                    break
        except Exception as e:  # the actor died (node lost, killed) or could not start
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            self.ended.set()
            self._put("lost", f"{type(e).__name__}: {first}"[:500])
        finally:
            self.release()

    def _tell(self, method: str, *args: Any, wait: float | None = None) -> Any:
        """Call `method` on the actor (wait up to `wait` s for its answer); None if it is gone."""
        import ray

        if self._released:
            return None
        try:
            ref = getattr(self.actor, method).remote(*args)
            return ray.get(ref, timeout=wait) if wait is not None else None
        except Exception:
            return None

    def terminate(self, grace: float) -> None:
        self._tell("terminate", grace)

    def finish(self, grace: float) -> None:
        self._tell("finish", grace)

    def kill_now(self, grace: float) -> None:
        self._tell("kill_now", grace, wait=grace + 10.0)
        self.ended.wait(5.0)
        self.release()

    def kill_group(self, everywhere: bool = True) -> None:
        self._tell("kill_group", everywhere, wait=10.0)
        self.release()

    def stderr_tail(self) -> str:
        tail = self._tell("stderr_tail", wait=10.0)
        if tail is None:  # the actor is gone: the file on storage
            path = self.cwd / "stderr.txt"
            lines = path.read_text(errors="replace").splitlines()[-20:] if path.exists() else []
            tail = "\n".join(lines)
        return tail

    def release(self) -> None:
        """Kill the actor (after its process ended): Ray frees what it held."""
        if self._released:
            return
        import ray

        self._released = True
        try:
            ray.kill(self.actor, no_restart=True)
        except Exception:
            pass


class _TrialRunner:
    """The Ray actor of one trial: launches its process on this node and reads its output.

    Its methods run in parallel threads: a stop that arrives before the launch (the
    actor was still starting) wins, and the process is never started.
    """

    def __init__(self) -> None:
        self._events: queue.Queue = queue.Queue()
        self._proc: Any = None
        self._halted = False
        self._lock = threading.Lock()
        self._mirror: NodeMirror | None = None

    def launch(self, trial_id: int, argv: list[str], cwd: str, env: dict[str, str],
               max_output_bytes: int, sync: tuple[ObjectStorage, str] | None
               ) -> tuple[int | None, str]:
        """Start the trial's process here; (its pid, "NODE_ID IP" of this node)."""
        import ray

        node = f"{ray.get_runtime_context().get_node_id()} {ray.util.get_node_ip_address()}"
        with self._lock:
            if self._halted:  # stopped before it started: nothing to run
                self._events.put(ProcEvent(None, "exit", time.monotonic(), -signal.SIGTERM))  # type: ignore[arg-type]
                return None, node
            if sync is not None:  # object storage: the trial directory of this node
                store, driver_root = sync
                mirror = self._mirror = NodeMirror(store, driver_root, trial_id, node)
                mirror.pull(FUNCTION_FILE)
                argv = [mirror.localize(a) for a in argv]
                env = {k: mirror.localize(v) for k, v in env.items()}
                env[STAMP_ENV] = "1"  # its reports name their checkpoint: see drain
                cwd = mirror.localize(cwd)
            path = Path(cwd)
            path.mkdir(parents=True, exist_ok=True)
            self._proc = launch(trial_id, argv, cwd=path, env={**os.environ, **env},
                                events=self._events, max_output_bytes=max_output_bytes)
        return self._proc.pid, node

    def drain(self, timeout: float) -> list[tuple[str, Any]]:
        """The process's events since the last call, waiting up to `timeout` s for the first;
        with object storage, the trial directory is pushed first if they hold a report or
        the exit (its checkpoint is on storage before the driver hears of either), the
        checkpoint only while it is the one the newest report in that output stands for."""
        try:
            out = [self._events.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                break
        if self._mirror is not None and any(ev.kind in ("report", "exit") for ev in out):
            # the newest report's checkpoint stamp, read before the output is: its line is
            # in what is pushed; a process that ended well leaves its checkpoint final
            done = any(ev.kind == "exit" and ev.payload == 0 for ev in out)
            self._mirror.push(True if done else self._proc.checkpoint_stamp)
        return [(ev.kind, ev.payload) for ev in out]

    def _halt(self, action: Callable[[Any], None]) -> None:
        with self._lock:
            self._halted = True
            proc = self._proc
        if proc is not None:
            action(proc)

    def terminate(self, grace: float) -> None:
        self._halt(lambda proc: proc.terminate(grace))

    def kill_now(self, grace: float) -> None:
        self._halt(lambda proc: proc.kill_now(grace))

    def kill_group(self, everywhere: bool = True) -> None:
        self._halt(lambda proc: proc.kill_group(everywhere))

    def finish(self, grace: float) -> None:
        if self._proc is not None:
            self._proc.finish(grace)

    def stderr_tail(self) -> str:
        return self._proc.stderr_tail() if self._proc is not None else ""
