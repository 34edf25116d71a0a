"""Trials on a Ray cluster (extra `ray`): one Ray actor per trial, holding its CPUs and GPUs.

The actor runs the trial as a fresh Python process on its node with the machinery of
backend=python (`python -m simtune.core.backends._runner`): the training function reports
through the same `StdoutReporter` line protocol, the actor's reader threads parse the
lines and hand them to the driver, which stamps them on arrival (one lock: events reach
the Tuner in time order). Pause and stop end the process tree on its node and then kill
the actor, so its resources are free again. Trial directories (config, output, checkpoints)
live under `storage`, a directory every node and the driver can reach (local disk for a
one-node cluster, a shared file system otherwise); resume and PBT copies read them there.

RayBackend is LocalBackend with one hook changed: `_spawn` returns a RemoteProcess (the
TrialRun of a process in an actor) instead of a local TrialProcess. A trial of an
interrupted driver is taken over with LocalBackend's `recover`: the driver's actors died
with it (Ray ties an actor's life to its owner's), and their processes with the actors;
the reports they made that it never recorded are read from their output on storage
(LocalBackend.recover_reports). A Ray instance started here (address=local) carries this
process's SIMTUNE_WATCH token: its watchdog kills all of it should this process be killed.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simtune.core.backends._gpus import GpuPool
from simtune.core.backends._process import launch
from simtune.core.backends._trialrun import ProcEvent, TrialRun
from simtune.core.backends._watchdog import adopt, watched
from simtune.core.backends.python import PythonBackend
from simtune.core.trial import Event

log = logging.getLogger("simtune.ray")

ADDRESSES = ("'local' (start a Ray instance here), 'auto' (the cluster of `ray start` on this "
             "machine), HOST:PORT (a head node's GCS) or ray://HOST:10001 (Ray Client)")
_HOST_PORT = re.compile(r"(ray://)?[\w.-]+:\d+")


class RayBackend(PythonBackend):
    """Runs `fn(config, reporter[, checkpoint_dir])` as one Ray actor per trial.

    - `address`: "local" starts a Ray instance on this machine (`init` holds its
      ray.init arguments, e.g. num_cpus); "auto" joins the cluster started with
      `ray start --head`; "ray://HOST:10001" a remote cluster through Ray Client.
      If Ray is already initialised in this process, that instance is used and left up.
    - `num_cpus`, `num_gpus`: what each trial's actor holds while it runs (Ray sets
      CUDA_VISIBLE_DEVICES for it).
    - `storage`: the trials' directory, reachable from every node (default: a temp dir).
    - the other keyword arguments are those of backend=python (fidelity, max_fidelity,
      hang_timeout, grace_period, max_output_bytes, env).

    Example:
        >>> backend = RayBackend(train, address="auto", num_cpus=2, storage="/shared/run1",
        ...                      fidelity="epoch", max_fidelity=20)
    """

    name = "ray"

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        address: str = "local",
        num_cpus: float = 1,
        num_gpus: float = 0,
        storage: str | Path | None = None,
        init: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        for option, value in (("num_cpus", num_cpus), ("num_gpus", num_gpus)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ValueError(
                    f"backend.{option} must be a number >= 0 (resources per trial), got {value!r}"
                )
        if not isinstance(address, str) or not (
            address in ("local", "auto") or _HOST_PORT.fullmatch(address)
        ):
            raise ValueError(f"backend.address={address!r} is not a Ray address; use {ADDRESSES}")
        if "gpus_per_trial" in kwargs:
            raise ValueError("backend=ray gives each trial GPUs with backend.num_gpus (Ray sets "
                             "CUDA_VISIBLE_DEVICES), not gpus_per_trial; drop gpus_per_trial")
        super().__init__(fn, root=storage, **kwargs)
        self._gpus = GpuPool([])  # no nvidia-smi rotation on the driver: Ray places GPUs
        self.address, self.num_cpus, self.num_gpus = address, num_cpus, num_gpus
        self.init_args = dict(init or {})
        self._owns_ray = _connect(address, self.init_args)
        self._t0 = time.monotonic()  # the clock starts once Ray is up (a start takes seconds)
        import ray

        try:
            _check_resources(ray, address, num_cpus, num_gpus)
        except ValueError:
            self.close()
            raise
        self._actor_class = ray.remote(_TrialRunner)
        self._stamp = threading.Lock()  # one stamp-and-enqueue at a time: time order

    # -- lifecycle -------------------------------------------------------------------------
    def _spawn(self, trial_id: int, argv: list[str], cwd: Path, env: dict[str, str]) -> TrialRun:
        """One actor per run of a trial; it starts the process once Ray gives it resources."""
        actor = self._actor_class.options(
            num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_concurrency=4, max_restarts=0
        ).remote()
        delta = {k: v for k, v in env.items() if os.environ.get(k) != v}  # the node keeps its own
        if self._owns_ray and self.address == "local":
            adopt("ray")  # with the workers started since
        return RemoteProcess(trial_id, actor, argv, str(cwd), delta, self._events, self._stamp,
                             self.max_output_bytes)

    def close(self) -> None:
        super().close()  # kills what is left of each trial, then its actor
        if self._owns_ray:
            import ray

            ray.shutdown()
            self._owns_ray = False

    def _handle(self, ev: ProcEvent) -> list[Event]:
        proc = ev.proc
        if ev.kind != "lost":
            return super()._handle(ev)
        if proc.halted or self._procs.get(proc.trial_id) is not proc:
            return []  # killed by us: not news
        held = self._held.pop(proc.trial_id, None)
        failure = self._fail(proc, ev.time, f"its Ray actor was lost ({ev.payload})")
        return [held, failure] if held is not None else [failure]

    def metadata(self) -> dict[str, Any]:
        import ray

        return {**super().metadata(), "name": self.name, "address": self.address,
                "num_cpus": self.num_cpus, "num_gpus": self.num_gpus,
                "storage": str(self.root), "ray": ray.__version__}


def _connect(address: str, init_args: dict[str, Any]) -> bool:
    """Initialise Ray for `address`; True if this call did it, False if Ray was up already."""
    try:
        import ray
    except ImportError:
        raise ValueError('backend=ray needs Ray: pip install -e ".[ray]"') from None
    if ray.is_initialized():
        return False
    args = {"include_dashboard": False, "log_to_driver": False, **init_args}
    if address != "local":  # a cluster of the user's: joined, never stopped by us
        ray.init(address=address, **args)
        return True
    with watched("ray"):  # the instance started here (all its processes) dies with this one
        ray.init(address="local", **args)
    adopt("ray")
    return True


def _check_resources(ray: Any, address: str, num_cpus: float, num_gpus: float) -> None:
    """ValueError if no node can ever hold one trial (a warning only where nodes may be added)."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    for option, key, need in (("num_cpus", "CPU", num_cpus), ("num_gpus", "GPU", num_gpus)):
        most = max((r.get(key, 0.0) for r in nodes), default=0.0)
        if need > most:
            why = (f"backend.{option}={need:g} but no node of the Ray cluster has more than "
                   f"{most:g} {key}; lower backend.{option} or add nodes that have them")
            if address == "local":
                raise ValueError(why)
            log.warning("%s (trials wait until the cluster grows)", why)


class RemoteProcess(TrialRun):
    """The driver's side of one trial's actor: the TrialRun of its process on its node.

    A pump thread asks the actor for the process's events (reports, malformed lines,
    output overflow, exit) and puts them on the backend's queue, stamped on arrival.
    Once the process has ended the actor is killed: its CPUs and GPUs are free again.
    """

    def __init__(self, trial_id: int, actor: Any, argv: list[str], cwd: str,
                 env: dict[str, str], events: queue.Queue, stamp: threading.Lock,
                 max_output_bytes: int) -> None:
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
        self.node: str | None = None
        self.ended = threading.Event()
        self._launch_ref = actor.launch.remote(trial_id, argv, cwd, env, max_output_bytes)
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
            self.pid, self.node = ray.get(self._launch_ref)
            self._started = self._last_seen = time.monotonic()  # both limits count from now
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

    def launch(self, trial_id: int, argv: list[str], cwd: str, env: dict[str, str],
               max_output_bytes: int) -> tuple[int | None, str]:
        import socket

        with self._lock:
            if self._halted:  # stopped before it started: nothing to run
                self._events.put(ProcEvent(None, "exit", time.monotonic(), -signal.SIGTERM))  # type: ignore[arg-type]
                return None, socket.gethostname()
            path = Path(cwd)
            path.mkdir(parents=True, exist_ok=True)
            self._proc = launch(trial_id, argv, cwd=path, env={**os.environ, **env},
                                events=self._events, max_output_bytes=max_output_bytes)
        return self._proc.pid, socket.gethostname()

    def drain(self, timeout: float) -> list[tuple[str, Any]]:
        """The process's events since the last call, waiting up to `timeout` s for the first."""
        try:
            out = [self._events.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
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
