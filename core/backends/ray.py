"""Trials on a Ray cluster (extra `ray`): one Ray actor per trial, holding its CPUs and GPUs.

The actor runs the trial as a fresh Python process on its node with the machinery of
backend=python (`python -m simtune.core.backends._runner`): the training function reports
through the same `StdoutReporter` line protocol, the actor's reader threads parse the
lines and hand them to the driver, which stamps them on arrival (one lock: events reach
the Tuner in time order). Pause and stop end the process tree on its node and then kill
the actor, so its resources are free again. Trial directories (config, output, checkpoints)
live under `storage`, a directory every node and the driver can reach (local disk for a
one-node cluster, a shared file system otherwise); resume and PBT copies read them there.
Or `storage` is object storage (`s3://bucket/prefix`, core.backends._objectstore): each node
runs its trials in a directory of its own, pulled before a start or resume and pushed after
each report and at the process's end. Each run of a trial records the node it ran on
(`nodes`, and a line in `<trial dir>/nodes.txt`); a trial whose node is lost fails naming it,
and later actors avoid that node while another can hold them.

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
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simtune.core.backends._gpus import GpuPool
from simtune.core.backends._objectstore import ObjectStorage, is_uri
from simtune.core.backends._rayactor import RemoteProcess, _TrialRunner
from simtune.core.backends._trialrun import ProcEvent, TrialRun
from simtune.core.backends._watchdog import adopt, watched
from simtune.core.backends.python import FUNCTION_FILE, PythonBackend
from simtune.core.trial import Event, Trial

log = logging.getLogger("simtune.ray")

ADDRESSES = ("'local' (start a Ray instance here), 'auto' (the cluster of `ray start` on this "
             "machine), HOST:PORT (a head node's GCS) or ray://HOST:10001 (Ray Client)")
_HOST_PORT = re.compile(r"(ray://)?[\w.-]+:\d+")
NODE_ID_LABEL = "ray.io/node-id"  # the label Ray gives each node: its id


class RayBackend(PythonBackend):
    """Runs `fn(config, reporter[, checkpoint_dir])` as one Ray actor per trial.

    - `address`: "local" starts a Ray instance on this machine (`init` holds its
      ray.init arguments, e.g. num_cpus); "auto" joins the cluster started with
      `ray start --head`; "ray://HOST:10001" a remote cluster through Ray Client.
      If Ray is already initialised in this process, that instance is used and left up.
    - `num_cpus`, `num_gpus`: what each trial's actor holds while it runs (Ray sets
      CUDA_VISIBLE_DEVICES for it).
    - `storage`: the trials' directory, reachable from every node (default: a temp dir),
      or object storage: a pyarrow URI such as "s3://bucket/prefix" (see _objectstore);
      `local_dir` is then the driver's copy of the trial directories (default: a temp dir).
    - `resources`: custom Ray resources each trial holds too, e.g. {"node_a": 1}.
    - `autoscaling`: True if the cluster may grow, so that a trial asking for more than any
      node has waits for a node that has it (a line in the status says so); False refuses
      such a request at once; None (default): True unless `address` is "local".
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
        local_dir: str | Path | None = None,
        resources: dict[str, float] | None = None,
        autoscaling: bool | None = None,
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
        resources = dict(resources or {})
        for key, value in resources.items():
            if (not isinstance(key, str) or key in ("CPU", "GPU") or isinstance(value, bool)
                    or not isinstance(value, int | float) or not value > 0):
                raise ValueError(f"backend.resources must map custom resource names to numbers "
                                 f"> 0 (CPUs and GPUs: num_cpus, num_gpus), got {key!r}: {value!r}")
        if not (autoscaling is None or isinstance(autoscaling, bool)):
            raise ValueError(
                f"backend.autoscaling must be true, false or null, got {autoscaling!r}")
        if "gpus_per_trial" in kwargs:
            raise ValueError("backend=ray gives each trial GPUs with backend.num_gpus (Ray sets "
                             "CUDA_VISIBLE_DEVICES), not gpus_per_trial; drop gpus_per_trial")
        self.store = ObjectStorage(str(storage)) if is_uri(storage) else None
        super().__init__(fn, root=local_dir if self.store else storage, **kwargs)
        self._gpus = GpuPool([])  # no nvidia-smi rotation on the driver: Ray places GPUs
        self.address, self.num_cpus, self.num_gpus = address, num_cpus, num_gpus
        self.resources = resources
        self.autoscaling = address != "local" if autoscaling is None else autoscaling
        self.nodes: dict[int, list[str]] = {}  # trial id -> the node of each of its runs
        self._lost: set[int] = set()  # trials whose actor was lost (their node, mostly)
        self._lost_nodes: list[str] = []  # the nodes they were lost on (Ray node ids)
        self.init_args = dict(init or {})
        self._owns_ray = _connect(address, self.init_args)
        self._t0 = time.monotonic()  # the clock starts once Ray is up (a start takes seconds)
        import ray

        try:
            self._check_resources(ray)
        except ValueError:
            self.close()
            raise
        self._actor_class = ray.remote(_TrialRunner)
        self._stamp = threading.Lock()  # one stamp-and-enqueue at a time: time order

    # -- lifecycle -------------------------------------------------------------------------
    def _spawn(self, trial_id: int, argv: list[str], cwd: Path, env: dict[str, str]) -> TrialRun:
        """One actor per run of a trial; it starts the process once Ray gives it resources."""
        options = dict(num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                       resources=self.resources, max_concurrency=4, max_restarts=0)
        actor = None
        if self._lost_nodes:  # Ray may list a lost node as alive for seconds: not there
            try:
                actor = self._actor_class.options(**options, **_avoiding(self._lost_nodes)
                                                  ).remote()
            except (TypeError, ValueError) as e:  # an older Ray, without label selectors
                log.warning("cannot keep trial %d off the lost nodes with this Ray (%s); "
                            "it may be placed on one", trial_id, e)
        if actor is None:
            actor = self._actor_class.options(**options).remote()
        delta = {k: v for k, v in env.items() if os.environ.get(k) != v}  # the node keeps its own
        if self._owns_ray and self.address == "local":
            adopt("ray")  # with the workers started since
        sync = None if self.store is None else (self.store, str(self.root))
        return RemoteProcess(trial_id, actor, argv, str(cwd), delta, self._events, self._stamp,
                             self.max_output_bytes, sync, self._placed)

    def restart(self, trial: Trial) -> None:
        """Start the failed `trial` again from its newest checkpoint (a retry). If its actor
        was lost with its node, the reports its output on storage holds that never reached
        the driver (their batch died with the node; their checkpoint is on storage) come
        first, so that no report is lost."""
        if trial.trial_id in self._lost:
            self._lost.discard(trial.trial_id)
            if self.store is not None:
                self.store.pull(f"trial_{trial.trial_id}", self.trial_dir(trial.trial_id),
                                checkpoints=False)
            self.recover_reports(trial)
        super().restart(trial)

    def _placed(self, trial_id: int, node: str) -> None:
        """Record that a run of `trial_id` started on `node` ("NODE_ID IP"): its Ray node id
        in `nodes`, a line in its trial directory's nodes.txt."""
        self.nodes.setdefault(trial_id, []).append(node.split()[0])
        path = self.trial_dir(trial_id) / "nodes.txt"
        with open(path, "a") as f:
            f.write(node + "\n")
        if self.store is not None:
            self.store.put_file(path, f"trial_{trial_id}/nodes.txt")

    # -- object storage (storage=s3://...): the driver's copy of each trial directory ----
    def _prepare_root(self) -> None:
        if not self._root_ready:
            super()._prepare_root()
            if self.store is not None:
                self.store.put_file(self.function_path, FUNCTION_FILE)

    def _take_dir(self, trial: Trial) -> None:
        """backend=local's checks on the driver's copy of what storage holds of the trial
        (its config.json, output; checkpoints only to start from its PBT parent's)."""
        if self.store is None:
            return super()._take_dir(trial)
        self._prepare_root()
        tid, parent = trial.trial_id, trial.checkpoint_of
        for t in {tid, parent} - {None}:
            self.store.pull(f"trial_{t}", self.trial_dir(t), checkpoints=parent is not None)
        super()._take_dir(trial)
        if parent is not None:  # its checkpoint starts as a copy of its parent's
            self.store.push(self.trial_dir(tid), f"trial_{tid}")
        else:
            self.store.put_file(self.trial_dir(tid) / "config.json", f"trial_{tid}/config.json")

    def checkpoint_bytes(self, trial_id: int) -> int:
        if self.store is None:
            return super().checkpoint_bytes(trial_id)
        return self.store.nbytes(f"trial_{trial_id}/checkpoints")

    def delete_checkpoint(self, trial_id: int) -> int:
        freed = super().delete_checkpoint(trial_id)
        if self.store is None:
            return freed
        rel = f"trial_{trial_id}/checkpoints"
        freed = self.store.nbytes(rel)
        self.store.delete(rel)
        return freed

    # -- resources ---------------------------------------------------------------------------
    def _request(self) -> dict[str, float]:
        """What one trial holds: {"CPU": n, "GPU": m, custom...} (zeros left out)."""
        wanted = {"CPU": self.num_cpus, "GPU": self.num_gpus, **self.resources}
        return {k: v for k, v in wanted.items() if v}

    def _check_resources(self, ray: Any) -> None:
        """ValueError if no node can hold one trial and the cluster cannot grow; a warning
        if it can (the trials wait for a node that holds them)."""
        lacking = _lacking(ray, self._request())
        if not lacking:
            return
        option = {"CPU": "num_cpus", "GPU": "num_gpus"}
        names = [f"backend.{option.get(k, 'resources.' + k)}={need:g}" for k, (need, _) in
                 lacking.items()]
        most = ", ".join(f"{most:g} {k}" for k, (_, most) in lacking.items())
        why = (f"{' and '.join(names)} but no node of the Ray cluster has more than {most}")
        if not self.autoscaling:
            raise ValueError(f"{why}; lower it, add nodes that have it, or set "
                             "backend.autoscaling=true if the cluster grows")
        log.warning("%s (trials wait until the cluster grows: backend.autoscaling)", why)

    def status(self) -> str:
        """'; waiting for {CPU: 1, node_c: 1} (no node has them yet; ...): trial 3' for
        the trials Ray has not placed yet ('' if none): the status line's addition."""
        waiting = sorted(tid for tid, p in self._procs.items()
                         if isinstance(p, RemoteProcess) and not p.launched
                         and not p.ended.is_set() and not p.halted)
        if not waiting:
            return ""
        import ray

        wanted = self._request()
        what = "{" + ", ".join(f"{k}: {v:g}" for k, v in wanted.items()) + "}"
        why = ("no node has them yet; the cluster may grow" if _lacking(ray, wanted)
               else "none free")
        ids = ", ".join(str(t) for t in waiting[:5]) + (" ..." if len(waiting) > 5 else "")
        return f"; waiting for {what} ({why}): trial {ids}"

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
        where = f"on node {_label(proc.node)}" if proc.node else "before it started"
        self._lost.add(proc.trial_id)
        node_id = (proc.node or "").split(" ")[0]
        if node_id and node_id not in self._lost_nodes:
            self._lost_nodes.append(node_id)
        failure = self._fail(proc, ev.time, f"its Ray actor was lost {where} ({ev.payload})")
        return [held, failure] if held is not None else [failure]

    def metadata(self) -> dict[str, Any]:
        import ray

        return {**super().metadata(), "name": self.name, "address": self.address,
                "num_cpus": self.num_cpus, "num_gpus": self.num_gpus,
                "resources": self.resources, "autoscaling": self.autoscaling,
                "storage": self.store.uri if self.store else str(self.root),
                "ray": ray.__version__}


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


def _lacking(ray: Any, wanted: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Of `wanted`, what no alive node of the cluster has: name -> (wanted, most any has)."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    out = {}
    for key, need in wanted.items():
        most = max((r.get(key, 0.0) for r in nodes), default=0.0)
        if need > most:
            out[key] = (need, most)
    return out


def _avoiding(node_ids: list[str]) -> dict[str, Any]:
    """Ray actor options that place it on a node other than `node_ids` if any such node
    can hold it: a lost node can look alive until Ray misses its heartbeats, and a retry
    placed there is lost again. If only those nodes can (an actor lost, its node fine),
    one of them."""
    ids = ", ".join(node_ids)
    return {"label_selector": {NODE_ID_LABEL: f"!in({ids})"},
            "fallback_strategy": [{"label_selector": {NODE_ID_LABEL: f"in({ids})"}}]}


def _label(node: str) -> str:
    """A node as the lines name it: its Ray node id's first 12 hex digits and its address."""
    node_id, _, ip = node.partition(" ")
    return f"{node_id[:12]} ({ip})" if ip else node_id[:12]
