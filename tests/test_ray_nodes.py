"""backend=ray on a real multi-node Ray cluster (ray.cluster_utils: a head and two worker
nodes, each its own raylet with 1 CPU and a custom resource naming it), one per module.

What a cluster user meets: trials placed on several nodes, a paused trial resumed on
another node from its checkpoint (a shared directory, or object storage: a local S3
server, moto's), a trial waiting for a node the cluster may gain, and a node lost mid-run
(its trial retried elsewhere from its newest checkpoint; the tuner killed and resumed too).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from simtune.core.backends.python import load_function
from simtune.core.trial import Report, Trial
from tests.ray_cluster import NODE_ARGS, multi_node
from tests.s3_local import local_s3
from tests.test_backend_contract import collect

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "simtune-ckpt"

COUNTER = textwrap.dedent(
    """
    import json
    import time
    from pathlib import Path


    def count(config, reporter, checkpoint_dir=None):
        # its own counter, kept in its checkpoint: a resumed run continues it
        ckpt = Path(checkpoint_dir) / "state.json"
        state = json.loads(ckpt.read_text()) if ckpt.exists() else {"count": 0, "runs": 0}
        state["runs"] += 1
        while state["count"] < config["epochs"]:
            time.sleep(config["sleep"])
            state["count"] += 1
            (ckpt.parent / "tmp").write_text(json.dumps(state))
            (ckpt.parent / "tmp").replace(ckpt)  # checkpoint first (atomically), then report
            reporter(epoch=state["count"], runs=state["runs"], loss=1.0 / state["count"])
    """
)


@pytest.fixture(scope="module")
def s3_server():
    """A local S3 server with one bucket: (HOST:PORT, boto3 client). Started before the
    cluster, whose nodes inherit its fake credentials."""
    pytest.importorskip("pyarrow", reason='storage=s3://... needs pyarrow: pip install -e ".[ray]"')
    with local_s3(BUCKET) as server:
        yield server


@pytest.fixture(scope="module")
def cluster(s3_server):
    ray = pytest.importorskip("ray", reason='backend=ray is an extra: pip install -e ".[ray]"')
    yield from multi_node(ray)


def s3_uri(endpoint: str, prefix: str) -> str:
    return f"s3://{BUCKET}/{prefix}?endpoint_override={endpoint}&scheme=http&region=us-east-1"


def node_names(ray) -> dict[str, str]:
    """Ray node id -> the custom resource naming it (node_a, ...), for the alive nodes."""
    return {n["NodeID"]: next((k for k in n["Resources"] if k.startswith("node_")), "head")
            for n in ray.nodes() if n["Alive"]}


def until(backend, done, timeout: float = 90.0) -> list:
    """Events until `done(events so far)` holds."""
    events: list = []
    end = backend.time() + timeout
    while not done(events):
        assert backend.time() < end, f"timed out; events so far: {events}"
        events += backend.next_events(until=backend.time() + 1.0)
    return events


def fidelities(events, trial_id: int) -> list[int]:
    return [e.fidelity for e in events if isinstance(e, Report) and e.trial_id == trial_id]


@pytest.mark.parametrize("mode", ["shared", "s3"])
def test_trials_spread_over_nodes_and_a_paused_one_resumes_on_another_node(
        cluster, s3_server, tmp_path, mode):
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group

    from simtune.core.backends.ray import RayBackend

    script = tmp_path / "counter.py"
    script.write_text(COUNTER)
    storage = str(tmp_path / "trials") if mode == "shared" else s3_uri(s3_server[0], mode)
    backend = RayBackend(load_function(f"{script}:count"), address=cluster.address,
                         storage=storage, num_cpus=1, max_fidelity=1000, grace_period=2.0)
    config = {"epochs": 1000, "sleep": 0.05}
    for tid in (0, 1):
        backend.start(Trial(tid, config))
    events = until(backend, lambda ev: min(len(fidelities(ev, 0)), len(fidelities(ev, 1))) >= 3)
    names = node_names(ray)
    # each node has 1 CPU: the two trials ran on the two worker nodes
    assert sorted(names[backend.nodes[t][0]] for t in (0, 1)) == ["node_a", "node_b"]
    backend.pause(0)
    backend.stop(1)
    first = names[backend.nodes[0][0]]
    held = placement_group([{"CPU": 1, first: 1}])  # trial 0's node is full now
    ray.get(held.ready(), timeout=60)
    saved = json.loads(backend.checkpoint_dir(0).joinpath("state.json").read_text()
                       if mode == "shared" else s3_server[1].get_object(
                           Bucket=BUCKET, Key="s3/trial_0/checkpoints/state.json")["Body"].read())
    done = max(fidelities(events, 0))
    assert saved["count"] >= done  # its checkpoint holds at least what it reported
    backend.resume(Trial(0, config, fidelity=done))
    after = until(backend, lambda ev: len(fidelities(ev, 0)) >= 2)
    backend.close()
    remove_placement_group(held)
    assert [names.get(n, "gone") for n in backend.nodes[0]] == [
        first, "node_b" if first == "node_a" else "node_a"]
    resumed = [e for e in after if isinstance(e, Report) and e.trial_id == 0]
    # its own counter continued where its checkpoint stood, in its second process
    assert [e.fidelity for e in resumed[:2]] == [saved["count"] + 1, saved["count"] + 2]
    assert resumed[0].metrics["runs"] == saved["runs"] + 1 == 2
    assert _nodes_txt(backend.trial_dir(0)) == backend.nodes[0]
    if mode == "s3":  # no directory was shared: the checkpoint came from the bucket
        keys = [o["Key"] for o in s3_server[1].list_objects_v2(
            Bucket=BUCKET, Prefix="s3/trial_0/")["Contents"]]
        assert "s3/trial_0/checkpoints/state.json" in keys
        assert not (backend.checkpoint_dir(0) / "state.json").exists()  # not on the driver


def test_a_trial_asking_for_a_node_the_cluster_lacks_waits_for_it_or_is_refused(
        cluster, tmp_path):
    import ray

    from simtune.core.backends.ray import RayBackend

    script = tmp_path / "counter.py"
    script.write_text(COUNTER)
    fn = load_function(f"{script}:count")
    with pytest.raises(ValueError, match=r"^backend.resources.node_c=1 but no node of the Ray "
                                         r"cluster has more than 0 node_c; .*autoscaling=true"):
        RayBackend(fn, address=cluster.address, resources={"node_c": 1}, autoscaling=False,
                   storage=tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    backend = RayBackend(fn, address=cluster.address, resources={"node_c": 1},
                         storage=tmp_path / "trials", max_fidelity=3, hang_timeout=2.0)
    backend.start(Trial(0, {"epochs": 3, "sleep": 0.01}))
    assert backend.next_events(until=backend.time() + 3.0) == []  # waits; not hung
    assert backend.status() == ("; waiting for {CPU: 1, node_c: 1} (no node has them yet; "
                                "the cluster may grow): trial 0")
    node = cluster.add_node(resources={"node_c": 1}, **NODE_ARGS)  # the cluster grows
    try:
        events = collect(backend, until=backend.time() + 90)
        assert [(e.fidelity, e.last) for e in events] == [(1, False), (2, False), (3, True)]
        assert [node_names(ray)[n] for n in backend.nodes[0]] == ["node_c"]
        assert backend.status() == ""
    finally:
        backend.close()
        cluster.remove_node(node)


LONG_TRAINING = """
import time
from pathlib import Path

from simtune.core.report import run_script


def train(config, reporter, checkpoint_dir=None):
    ckpt = Path(checkpoint_dir) / "epoch.txt"
    done = int(ckpt.read_text()) if ckpt.exists() else 0
    for epoch in range(done + 1, 51):
        time.sleep(0.12)
        (ckpt.parent / "tmp").write_text(str(epoch))
        (ckpt.parent / "tmp").replace(ckpt)  # checkpoint first (atomically), then report
        reporter(epoch=epoch, val_accuracy=epoch / 50, val_logloss=1.0 / epoch,
                 test_accuracy=0.5)


if __name__ == "__main__":
    run_script(train)
"""


def _nodes_txt(trial_dir: Path) -> list[str]:
    """The Ray node id of each run of a trial, as its nodes.txt records them."""
    return [line.split()[0] for line in (trial_dir / "nodes.txt").read_text().splitlines()]


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path) as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def _wait(what: str, cond, proc, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < end, f"no {what} in {timeout:g} s"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_node_lost_mid_trial_is_retried_elsewhere_and_a_killed_tuner_resumes(
        cluster, s3_server, tmp_path):
    """run.py on the cluster with retries=1 and its trials on S3: the node of trial 0 is
    removed mid-trial (its raylet and workers killed), the trial fails naming the node and
    restarts on another from its newest synced checkpoint; then the tuner is killed with
    SIGKILL and run again: the run completes with every epoch of every trial recorded once."""
    import ray

    script = tmp_path / "train.py"
    script.write_text(LONG_TRAINING)
    out = tmp_path / "run"
    args = [sys.executable, "experiments/run.py", "backend=ray", "benchmark=mlp_sklearn",
            "scheduler=random", f"benchmark.training={script}:train", "stop.max_trials=4",
            "n_workers=2", "stop.max_wallclock=null", f"hydra.run.dir={out}", "progress=false",
            f"backend.address={cluster.address}", "retries=1",
            f"backend.storage='{s3_uri(s3_server[0], 'lost')}'"]
    env = {**os.environ, "SIMTUNE_CACHE": str(tmp_path / "cache")}
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    trial0 = out / "trials" / "trial_0"
    try:
        _wait("trial 0 at epoch 5", lambda: sum(
            r["trial_id"] == "0" for r in _rows(out / "results.csv")) >= 5, proc)
        lost = _nodes_txt(trial0)[0]
        name = node_names(ray)[lost]
        victim = next(n for n in cluster.worker_nodes if n.node_id == lost)
        cluster.remove_node(victim, allow_graceful=False)  # its raylet and workers: killed
        cluster.add_node(resources={name: 1}, **NODE_ARGS)  # a replacement joins
        _wait("a retry of trial 0", lambda: any(
            r["status"] == "retried" for r in _rows(out / "results.csv")), proc)
        proc.send_signal(signal.SIGKILL)  # the tuner dies too, while trial 0 is retried
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    said = (tmp_path / "first.log").read_text()
    assert f"its Ray actor was lost on node {lost[:12]}" in said, said[-3000:]
    again = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    rows = _rows(out / "results.csv")
    for trial_id in range(4):
        mine = [r for r in rows if r["trial_id"] == str(trial_id)]
        reports = [r for r in mine if r["status"] != "retried"]
        assert [int(r["epoch"]) for r in reports] == list(range(1, 51)), trial_id
        assert reports[-1]["status"] == "completed"
    assert [r["trial_id"] for r in rows if r["status"] == "retried"] == ["0"]
    runs = _nodes_txt(trial0)
    assert runs[0] == lost and lost not in runs[1:]
    assert len(set(runs)) >= 2  # trial 0 ran on more than one node
    key = "lost/trial_0/checkpoints/epoch.txt"
    assert s3_server[1].get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"50"


def test_object_storage_that_cannot_be_reached_is_one_line_before_anything(s3_server, tmp_path):
    from simtune.core.backends.ray import RayBackend

    def fn(config, reporter):
        reporter(epoch=1, loss=0.0)

    missing = s3_uri(s3_server[0], "x").replace(BUCKET, "no-such-bucket")
    with pytest.raises(ValueError, match=r"^backend.storage='s3://no-such-bucket/x\?.*': bucket "
                                         r"'no-such-bucket' not found; create it first$"):
        RayBackend(fn, storage=missing, local_dir=tmp_path / "copy")
    with pytest.raises(ValueError, match=r"^backend.storage='nope://x' is not reachable: .*; fix "
                                         r"the URI or its credentials$"):
        RayBackend(fn, storage="nope://x", local_dir=tmp_path / "copy")
    assert not (tmp_path / "copy").exists()
