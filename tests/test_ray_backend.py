"""backend=ray on the session's real local Ray instance: resources, recovery, run.py.

The contract every real backend passes runs on ray in test_backend_contract.py; here is
what is Ray's own: the CPUs a trial holds, trials waiting for free ones, taking over the
trials of a tuner killed with SIGKILL, and an ASHA run of run.py.
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
from collections import defaultdict
from pathlib import Path

import pytest

from simtune.core.backends.python import load_function
from simtune.core.trial import Failure, Report, Trial
from tests.ray_cluster import NUM_CPUS, gcs_address, ray_fixture  # noqa: F401
from tests.test_backend_contract import TOY, alive, collect, wait_dead

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def toy(tmp_path):
    script = tmp_path / "toy_script.py"
    script.write_text(TOY)
    return load_function(f"{script}:toy_train")


def make(toy, tmp_path, **kwargs):
    from simtune.core.backends.ray import RayBackend

    kwargs.setdefault("max_fidelity", 100)
    kwargs.setdefault("grace_period", 1.0)
    return RayBackend(toy, storage=tmp_path / "trials", **kwargs)


def free_cpus(ray, expected: float, timeout: float = 20.0) -> float:
    """Ray's count of free CPUs once it equals `expected` (it is refreshed asynchronously)."""
    end = time.monotonic() + timeout
    while True:
        free = ray.available_resources().get("CPU", 0.0)
        if free == expected or time.monotonic() > end:
            return free
        time.sleep(0.1)


def first_pid(backend, trial_id: int, timeout: float = 20.0) -> int:
    path = backend.checkpoint_dir(trial_id) / "pid.0"
    end = time.monotonic() + timeout
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < end, f"trial {trial_id} never started"
        time.sleep(0.05)
    return int(path.read_text())


def test_stop_and_pause_end_the_remote_process_and_free_its_cpus(ray_cluster, toy, tmp_path):
    ray = ray_cluster
    assert free_cpus(ray, NUM_CPUS) == NUM_CPUS
    backend = make(toy, tmp_path, num_cpus=1)
    for tid in (0, 1):
        backend.start(Trial(tid, {"epochs": 100, "sleep": 0.1}))
    pids = [first_pid(backend, tid) for tid in (0, 1)]
    assert free_cpus(ray, 0) == 0  # each running trial holds one CPU
    backend.stop(0)
    assert wait_dead(pids[0]) and alive(pids[1])
    assert free_cpus(ray, 1) == 1
    backend.pause(1)
    assert wait_dead(pids[1])
    assert free_cpus(ray, NUM_CPUS) == NUM_CPUS
    assert backend.next_events(until=backend.time() + 5) == []  # nothing runs
    backend.close()


def test_a_trial_stopped_before_its_actor_started_never_runs(ray_cluster, toy, tmp_path):
    ray = ray_cluster
    backend = make(toy, tmp_path, num_cpus=1)
    for tid in range(NUM_CPUS):  # the cluster is full
        backend.start(Trial(tid, {"epochs": 100, "sleep": 0.1}))
    pids = [first_pid(backend, tid) for tid in range(NUM_CPUS)]
    backend.start(Trial(NUM_CPUS, {"epochs": 100, "sleep": 0.1}))  # waits for a CPU
    backend.stop(NUM_CPUS)
    backend.start(Trial(NUM_CPUS + 1, {"epochs": 100, "sleep": 0.1}))  # waits too
    for tid in range(NUM_CPUS):  # CPUs free up while the two waiting actors are stopped
        backend.stop(tid)
    backend.pause(NUM_CPUS + 1)
    assert all(wait_dead(p) for p in pids)
    assert free_cpus(ray, NUM_CPUS) == NUM_CPUS
    time.sleep(1.0)  # a launch that was still on its way would have started by now
    for tid in (NUM_CPUS, NUM_CPUS + 1):
        assert not (backend.checkpoint_dir(tid) / "pid.0").exists()
    assert backend.next_events(until=backend.time() + 2) == []
    backend.close()


def test_a_trial_waits_for_free_cpus_and_events_come_in_time_order(ray_cluster, toy, tmp_path):
    # waiting for a CPU (> 2 s here) is not hanging: the hang clock starts with the process
    backend = make(toy, tmp_path, num_cpus=1, max_fidelity=4, hang_timeout=2.0)
    for tid in range(NUM_CPUS + 1):  # one more than the cluster has CPUs for
        backend.start(Trial(tid, {"x": 1.0 + tid, "epochs": 4, "sleep": 0.5}))
    events = collect(backend, until=60)
    backend.close()
    assert all(isinstance(e, Report) for e in events), events
    times = [e.time for e in events]
    assert times == sorted(times)
    by_trial = defaultdict(list)
    for e in events:
        by_trial[e.trial_id].append(e)
    assert {t: [e.fidelity for e in es] for t, es in by_trial.items()} == {
        t: [1, 2, 3, 4] for t in range(NUM_CPUS + 1)}
    first_done = min(es[-1].time for t, es in by_trial.items() if t < NUM_CPUS)
    assert by_trial[NUM_CPUS][0].time > first_done  # it got a CPU only when one was freed


LIMITS = textwrap.dedent(
    """
    import time


    def forever(config, reporter):
        for epoch in range(1, 10 ** 6):
            reporter(epoch=epoch, loss=1.0)
            time.sleep(0.05)


    def stuck(config, reporter):
        while True:
            reporter(epoch=3, loss=1.0)
            time.sleep(0.01)
    """
)


@pytest.mark.parametrize("name, kwargs, expected", [
    ("forever", {"max_trial_seconds": 1}, "ran longer than 1 s (max_trial_seconds)"),
    ("stuck", {}, "no progress: 10 reports in a row without epoch rising above 3"),
])
def test_the_trial_limits_of_backend_local_fail_a_ray_trial(ray_cluster, tmp_path, name,
                                                            kwargs, expected):
    script = tmp_path / "limits.py"
    script.write_text(LIMITS)
    fn = load_function(f"{script}:{name}")
    backend = make(fn, tmp_path, num_cpus=1, **kwargs)
    backend.start(Trial(0, {}))
    events = collect(backend, until=60)
    backend.close()
    assert isinstance(events[-1], Failure), events
    assert expected in events[-1].reason.splitlines()[0]
    assert all(isinstance(e, Report) for e in events[:-1])
    assert free_cpus(ray_cluster, NUM_CPUS) == NUM_CPUS  # its actor is gone


def test_max_trial_seconds_counts_from_the_start_of_the_process_not_the_wait(
        ray_cluster, toy, tmp_path):
    from ray.util.placement_group import placement_group, remove_placement_group

    held = placement_group([{"CPU": 1}] * NUM_CPUS)  # the cluster is full
    ray_cluster.get(held.ready())
    backend = make(toy, tmp_path, num_cpus=1, max_fidelity=3, max_trial_seconds=5)
    backend.start(Trial(0, {"epochs": 3, "sleep": 0.05}))
    assert backend.next_events(until=backend.time() + 7) == []  # waited longer: no failure
    remove_placement_group(held)  # its CPUs are free: the trial starts
    events = collect(backend, until=backend.time() + 30)
    backend.close()
    assert [(type(e), e.fidelity, e.last) for e in events] == [
        (Report, 1, False), (Report, 2, False), (Report, 3, True)]


def test_resources_a_cluster_lacks_and_bad_settings_are_named(ray_cluster, toy, tmp_path):
    from simtune.core.backends.ray import RayBackend

    with pytest.raises(ValueError, match=r"backend.num_cpus must be a number >= 0.*-1"):
        RayBackend(toy, num_cpus=-1)
    with pytest.raises(ValueError, match=r"backend.address='nowhere' is not a Ray address"):
        RayBackend(toy, address="nowhere")
    with pytest.raises(ValueError, match=r"backend.num_gpus .* not gpus_per_trial"):
        RayBackend(toy, gpus_per_trial=1)
    with pytest.raises(ValueError, match=r"backend.num_gpus=1 but no node .* more than 0 GPU"):
        RayBackend(toy, num_gpus=1, storage=tmp_path / "trials")
    assert ray_cluster.is_initialized()  # the session's instance stays up


KILLED_TUNER = textwrap.dedent(
    """
    import sys
    from simtune.core.backends.python import load_function
    from simtune.core.backends.ray import RayBackend
    from simtune.core.trial import Trial

    script, root, address = sys.argv[1:]
    backend = RayBackend(load_function(script + ":toy_train"), storage=root, address=address,
                         max_fidelity=1000)
    backend.start(Trial(0, {"epochs": 1000, "sleep": 0.1}))
    while True:
        backend.next_events()
    """
)


def test_recover_takes_over_a_trial_of_a_tuner_killed_with_sigkill(ray_cluster, toy, tmp_path):
    script = tmp_path / "toy_script.py"  # the file `toy` was loaded from
    tuner_py = tmp_path / "tuner.py"
    tuner_py.write_text(KILLED_TUNER)
    root = tmp_path / "trials"
    proc = subprocess.Popen(
        [sys.executable, str(tuner_py), str(script), str(root), gcs_address(ray_cluster)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ckpt = root / "trial_0" / "checkpoints"
    deadline = time.monotonic() + 60
    while not ((ckpt / "epoch.txt").exists() and int((ckpt / "epoch.txt").read_text() or 0) >= 3):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    pid = int((ckpt / "pid.0").read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert wait_dead(pid, 30.0), "the trial process outlived its killed tuner"
    saved = int((ckpt / "epoch.txt").read_text())
    assert saved >= 3
    # the cluster it joined by address is the user's: its watchdog left it alone
    assert all(node["Alive"] for node in ray_cluster.nodes())
    assert free_cpus(ray_cluster, NUM_CPUS) == NUM_CPUS

    backend = make(toy, tmp_path, max_fidelity=saved + 2)
    with pytest.raises(ValueError, match=r"trial_0 holds another configuration .* than trial 0"):
        backend.recover(Trial(0, {"epochs": 7, "sleep": 0.1}))
    trial = Trial(0, {"epochs": 1000, "sleep": 0.1}, fidelity=2)  # as if 1 and 2 were recorded
    backend.recover(trial)
    backend.recover_reports(trial)  # those it made after 2: in its output on storage
    assert backend.next_events(until=backend.time() + 2) == []  # taken over as paused
    fresh = Trial(1, {"epochs": 2, "sleep": 0.01})  # nothing was left of it: from scratch
    backend.recover(fresh)
    backend.resume(trial)
    backend.resume(fresh)
    events = collect(backend, until=60)
    backend.close()
    # first what its output holds above 2, then its new process from the checkpoint on (the
    # kill may have fallen between its checkpoint and its report line: `saved` never said)
    assert [e.fidelity for e in events if e.trial_id == 0] in (
        [*range(3, saved + 1), saved + 1, saved + 2], [*range(3, saved), saved + 1, saved + 2])
    # below max_fidelity, its exit repeats the last report as final (as on backend=python)
    assert [(e.fidelity, e.last) for e in events if e.trial_id == 1] == [
        (1, False), (2, False), (2, True)]
    assert (ckpt / f"pid.{saved}").exists()  # the new process started from the checkpoint
    assert json.loads((root / "trial_1" / "config.json").read_text()) == fresh.config


@pytest.mark.slow
def test_run_py_asha_on_mlp_sklearn_through_ray(ray_cluster, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "experiments/run.py", "backend=ray", "benchmark=mlp_sklearn",
           "benchmark.task=wine",  # its smallest task: 0.4 CPU s per 50 epochs
           "scheduler=asha", "n_workers=2", "stop.max_trials=8", "stop.max_wallclock=null",
           f"backend.address={gcs_address(ray_cluster)}", f"hydra.run.dir={out}",
           "progress=false"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    fidelities = defaultdict(set)
    for row in rows:
        fidelities[row["trial_id"]].add(int(row["epoch"]))
    assert len(fidelities) == 8
    assert all(len(f) >= 1 for f in fidelities.values())
    assert sum(len(f) > 1 for f in fidelities.values()) >= 2  # promoted past the first rung
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["backend"]["name"] == "ray" and meta["backend"]["num_cpus"] == 1
    assert (out / "trials" / "trial_0" / "checkpoints").is_dir()  # storage: the run dir


RAY_TRAINING = """
import time
from pathlib import Path

from simtune.core.report import run_script


def train(config, reporter, checkpoint_dir=None):
    ckpt = Path(checkpoint_dir) / "epoch.txt"
    done = int(ckpt.read_text()) if ckpt.exists() else 0
    for epoch in range(done + 1, 51):
        time.sleep(0.04)
        (ckpt.parent / "tmp").write_text(str(epoch))
        (ckpt.parent / "tmp").replace(ckpt)  # checkpoint first (atomically), then report
        reporter(epoch=epoch, val_accuracy=epoch / 50, val_logloss=1.0 / epoch,
                 test_accuracy=0.5)


if __name__ == "__main__":
    run_script(train)
"""


def _descendants(pid: int) -> dict[int, str]:
    """The processes below `pid` (pid -> command line)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[ppid].append(int(entry.name))
    found, todo = {}, [pid]
    while todo:
        for child in children[todo.pop()]:
            try:
                found[child] = (Path("/proc") / str(child) / "cmdline").read_bytes().decode(
                    errors="replace").replace("\0", " ")
            except OSError:
                continue
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """True if `pid` runs (a zombie left to a container's init that does not reap is not)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.slow
def test_run_py_killed_with_sigkill_takes_its_ray_instance_along_and_loses_no_report(tmp_path):
    pytest.importorskip("ray", reason='backend=ray is an extra: pip install -e ".[ray]"')
    args, env, out = kill_test_run("ray", tmp_path)
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while _rows(out / "results.csv") < 40 and proc.poll() is None:
        assert time.monotonic() < deadline, "no 40 rows in 300 s"
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    tree = _descendants(proc.pid)  # its watchdog, the Ray instance it started, the trials
    assert any("raylet" in cmd for cmd in tree.values()), tree
    proc.kill()
    proc.wait()
    end = time.monotonic() + 10
    while any(_alive(pid) for pid in tree) and time.monotonic() < end:
        time.sleep(0.1)
    assert {pid: cmd[:80] for pid, cmd in tree.items() if _alive(pid)} == {}

    rerun_records_every_epoch_once(args, env, out)


def kill_test_run(backend: str, tmp_path: Path) -> tuple[list[str], dict[str, str], Path]:
    """The kill -9 tests' run.py command (4 trials of RAY_TRAINING's 50 epochs on `backend`,
    2 workers), its environment and its run directory."""
    script = tmp_path / "train.py"
    script.write_text(RAY_TRAINING)
    out = tmp_path / "run"
    args = [sys.executable, "experiments/run.py", f"backend={backend}", "benchmark=mlp_sklearn",
            "scheduler=random", f"benchmark.training={script}:train", "stop.max_trials=4",
            "n_workers=2", "stop.max_wallclock=null", f"hydra.run.dir={out}", "progress=false"]
    return args, {**os.environ, "SIMTUNE_CACHE": str(tmp_path / "cache")}, out


def rerun_records_every_epoch_once(args: list[str], env: dict[str, str], out: Path) -> None:
    """Run the killed command again: it completes, and every trial trained to its end once
    with every report recorded once."""
    again = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((out / "metadata.json").read_text())["complete"] is True
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    for trial_id in range(4):
        mine = [r for r in rows if r["trial_id"] == str(trial_id)]
        assert [int(r["epoch"]) for r in mine] == list(range(1, 51)), trial_id
        assert [r["status"] for r in mine] == ["running"] * 49 + ["completed"], trial_id


def _rows(path: Path) -> int:
    try:
        return max(path.read_bytes().count(b"\n") - 1, 0)
    except OSError:
        return 0
