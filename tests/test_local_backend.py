"""LocalBackend specifics: GPU rotation (pure functions), PBT checkpoint copies, bad input."""

from __future__ import annotations

import json
import os
import sys
import textwrap

import pytest

from simtune.core.backends.local import LocalBackend, parse_nvidia_smi, pick_gpus
from simtune.core.trial import Failure, Trial
from tests.helpers import reports

QUERY = "0\n1\n2\n3\n"  # nvidia-smi --query-gpu=index --format=csv,noheader
LISTING = textwrap.dedent(
    """\
    GPU 0: Tesla T4 (UUID: GPU-1b2c3d4e-0000-1111-2222-333344445555)
    GPU 1: Tesla T4 (UUID: GPU-9f8e7d6c-0000-1111-2222-333344445555)
    """
)


def test_parse_nvidia_smi_outputs():
    assert parse_nvidia_smi(QUERY) == [0, 1, 2, 3]
    assert parse_nvidia_smi(LISTING) == [0, 1]
    assert parse_nvidia_smi("") == []
    assert parse_nvidia_smi("NVIDIA-SMI has failed because it couldn't communicate") == []


def test_pick_gpus_takes_the_least_busy():
    gpus = [0, 1, 2, 3]
    assert pick_gpus(gpus, {}, 1) == [0]
    assert pick_gpus(gpus, {0: 1}, 1) == [1]
    assert pick_gpus(gpus, {0: 2, 1: 1, 2: 1, 3: 2}, 2) == [1, 2]
    assert pick_gpus(gpus, {0: 1, 1: 1, 2: 1, 3: 0}, 2) == [0, 3]
    with pytest.raises(ValueError, match="gpus_per_trial=5 but this machine has 4 GPU"):
        pick_gpus(gpus, {}, 5)


GPU_SCRIPT = textwrap.dedent(
    """
    import os, pathlib, time
    from simtune.core.report import run_script

    def train(config, reporter):
        gate = pathlib.Path(config["gate"])  # trials with a gate run until it exists
        while config["gate"] and not gate.exists():
            time.sleep(0.02)
        reporter(epoch=1, gpu=float(os.environ["CUDA_VISIBLE_DEVICES"]))

    if __name__ == "__main__":
        run_script(train)
    """
)


@pytest.fixture
def fake_gpus(tmp_path, monkeypatch):
    """A fake `nvidia-smi` on PATH listing GPUs 0-3; CUDA_VISIBLE_DEVICES unset."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "nvidia-smi"
    rows = "".join(f"{i}, GPU-{i}{i}{i}{i}-aaaa\n" for i in range(4))
    exe.write_text(f"#!/bin/sh\nprintf '{rows}'\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    script = tmp_path / "gpu.py"
    script.write_text(GPU_SCRIPT)
    return script


def _start(backend, trial_id, gate=""):
    backend.start(Trial(trial_id, {"gate": gate}))


def _wait_for(backend, trial_ids):
    seen = {}
    while not set(trial_ids) <= set(seen):
        for ev in backend.next_events(until=60):
            seen[ev.trial_id] = ev
    return seen


@pytest.mark.parametrize("max_fidelity", [1, None])  # completion by the last report or the exit
def test_a_completed_trial_gives_its_gpu_back(fake_gpus, tmp_path, max_fidelity):
    backend = LocalBackend(str(fake_gpus), root=tmp_path / "t", max_fidelity=max_fidelity)
    gate = tmp_path / "gate"
    for i in range(3):  # trials 0-2 hold GPUs 0-2 until the gate opens
        _start(backend, i, str(gate))
    _start(backend, 3)  # takes GPU 3 and completes
    assert _wait_for(backend, [3])[3].metrics["gpu"] == 3.0
    _start(backend, 4)  # GPU 3 is free again: the least busy (not GPU 0, shared)
    _start(backend, 5, str(gate))  # every GPU busy once: shares GPU 0
    assert _wait_for(backend, [4])[4].metrics["gpu"] == 3.0
    gate.touch()
    seen = _wait_for(backend, [0, 1, 2, 5])
    backend.close()
    assert {i: seen[i].metrics["gpu"] for i in (0, 1, 2, 5)} == {0: 0.0, 1: 1.0, 2: 2.0, 5: 0.0}
    assert backend.metadata()["gpus"] == [0, 1, 2, 3]


def test_stopped_paused_and_failed_trials_give_their_gpus_back(fake_gpus, tmp_path):
    backend = LocalBackend(str(fake_gpus), root=tmp_path / "t", max_fidelity=1)
    gate = str(tmp_path / "never")
    for i in range(4):
        _start(backend, i, gate)
    backend.stop(1)
    backend.pause(2)
    _start(backend, 4)
    _start(backend, 5)
    got = {i: ev.metrics["gpu"] for i, ev in _wait_for(backend, [4, 5]).items()}
    backend.start(Trial(6, {}))  # no "gate": KeyError, the trial fails
    assert isinstance(_wait_for(backend, [6])[6], Failure)
    _start(backend, 7)  # GPUs 1 and 2 are free (4 and 5 completed): the failure freed none
    got[7] = _wait_for(backend, [7])[7].metrics["gpu"]
    backend.close()
    assert got == {4: 1.0, 5: 2.0, 7: 1.0}


def test_cuda_visible_devices_restricts_the_pool(fake_gpus, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    backend = LocalBackend(str(fake_gpus), root=tmp_path / "t", max_fidelity=1)
    gate = str(tmp_path / "never")
    _start(backend, 0, gate)
    _start(backend, 1, gate)
    _start(backend, 2)  # both busy once: the first of the pool, GPU 3
    got = _wait_for(backend, [2])[2].metrics["gpu"]
    backend.close()
    assert (got, backend.metadata()["gpus"]) == (3.0, [3, 1])
    with pytest.raises(ValueError, match=r"gpus_per_trial=3 but 2 GPU\(s\) are available"):
        LocalBackend(str(fake_gpus), gpus_per_trial=3)


def test_visible_pool_reads_cuda_visible_devices_as_cuda_does():
    from simtune.core.backends._gpus import visible_pool

    table = [(0, "GPU-aa"), (1, "GPU-bb"), (2, "GPU-cc")]
    assert visible_pool(table, None) == [0, 1, 2]
    assert visible_pool(table, "2,0") == [2, 0]
    assert visible_pool(table, "GPU-bb,0") == ["GPU-bb", 0]
    assert visible_pool(table, "1,7,2") == [1]  # CUDA stops at the first unknown device
    assert visible_pool(table, "") == [] and visible_pool(table, "-1") == []


def test_checkpoint_of_copies_the_source_checkpoint(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(
        "import pathlib\nfrom core.report import run_script\n"
        "def train(config, reporter, checkpoint_dir):\n"
        "    p = pathlib.Path(checkpoint_dir) / 'w.txt'\n"
        "    w = float(p.read_text()) if p.exists() else 0.0\n"
        "    p.write_text(str(w + config['step']))\n"
        "    reporter(epoch=1, w=w + config['step'])\n"
        "if __name__ == '__main__':\n    run_script(train)\n"
    )
    backend = LocalBackend(str(script), root=tmp_path / "t", max_fidelity=1)
    backend.start(Trial(0, {"step": 1.5}))
    first = backend.next_events(until=30)
    backend.start(Trial(1, {"step": 10.0}, checkpoint_of=0))
    second = backend.next_events(until=30)
    backend.close()
    assert [e.metrics["w"] for e in first + second] == [1.5, 11.5]
    assert (backend.checkpoint_dir(0) / "w.txt").read_text() == "1.5"  # the source is untouched
    assert json.loads((backend.trial_dir(1) / "config.json").read_text()) == {"step": 10.0}


def test_bad_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="training script 'nope.py' not found"):
        LocalBackend("nope.py")
    with pytest.raises(ValueError, match="grace_period must be a non-negative"):
        LocalBackend([sys.executable, "-c", "pass"], grace_period=-1)
    backend = LocalBackend([sys.executable, "-c", "pass"], root=tmp_path)
    with pytest.raises(ValueError, match="trial 0 is not paused"):
        backend.resume(Trial(0, {}))
    with pytest.raises(ValueError, match="trial 3 is not running"):
        backend.stop(3)
    assert backend.next_events(until=1) == []  # nothing runs: no waiting


BRANIN_TRAIN = textwrap.dedent(
    """
    import time
    from simtune.blackboxes.synthetic import BraninCurves
    from simtune.core.report import run_script

    def train(config, reporter, checkpoint_dir=None):
        curve = BraninCurves().curve(config)
        for epoch, loss in zip(curve.fidelities, curve.metrics["loss"]):
            time.sleep(0.002)
            reporter(epoch=epoch, loss=loss)

    if __name__ == "__main__":
        run_script(train)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["local", "python"])
def test_run_py_trains_for_real_with_the_simulated_schema(tmp_path, backend):
    import os
    import subprocess
    from pathlib import Path

    from simtune.blackboxes.synthetic import BraninCurves

    root = Path(__file__).resolve().parents[1]
    script = tmp_path / "branin_train.py"
    script.write_text(BRANIN_TRAIN)
    out = tmp_path / "run"
    env = {**os.environ, "SIMTUNE_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, str(root / "experiments" / "run.py"), f"backend={backend}",
         "benchmark=synthetic", f"+benchmark.training={script}:train", "scheduler=asha",
         "stop.max_wallclock=12", "n_workers=2", "progress=false", f"hydra.run.dir={out}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["complete"] and meta["backend"]["name"] == backend
    assert meta["backend"]["max_fidelity"] == 81 and meta["backend"]["fidelity"] == "epoch"
    df = reports(out / "results.csv")
    assert list(df.columns) == ["trial_id", "time", "epoch", "loss", "decision", "status",
                                "config_x1", "config_x2"]
    assert df["trial_id"].nunique() >= 2 and (df["time"] <= 12 + 5).all()
    bb = BraninCurves()
    row = df.iloc[-1]  # a real report equals the curve the table would give
    config = {"x1": row["config_x1"], "x2": row["config_x2"]}
    assert row["loss"] == pytest.approx(bb.evaluate(config, fidelity=int(row["epoch"]))["loss"])
    assert (out / "trials" / "trial_0" / "config.json").exists()


# -- taking over the trials of an interrupted run ---------------------------------------------
EPOCHS = textwrap.dedent(
    """
    import os, pathlib, time
    from simtune.core.report import run_script

    def train(config, reporter, checkpoint_dir):
        ckpt = pathlib.Path(checkpoint_dir) / "epoch.txt"
        done = int(ckpt.read_text()) if ckpt.exists() else 0
        (pathlib.Path(checkpoint_dir) / "pid").write_text(str(os.getpid()))
        for epoch in range(done + 1, config["epochs"] + 1):
            time.sleep(0.05)
            ckpt.write_text(str(epoch))
            reporter(epoch=epoch, loss=config["x"] / epoch, resumed_from=done)
            if epoch == int(os.environ.get("TOY_HANG_AFTER", "0")):
                time.sleep(600)  # still training when its tuner is killed

    if __name__ == "__main__":
        run_script(train)
    """
)

INTERRUPTED_TUNER = textwrap.dedent(
    """
    import os, signal, sys
    from simtune.core.backends.local import LocalBackend
    from simtune.core.trial import Trial

    backend = LocalBackend(sys.argv[1], root=sys.argv[2], max_fidelity=5,
                           env={"TOY_HANG_AFTER": "2"})
    backend.start(Trial(0, {"epochs": 5, "x": 2.0}))
    while True:
        if any(ev.fidelity >= 2 for ev in backend.next_events(until=60)):
            os.kill(os.getpid(), signal.SIGKILL)  # interrupted: no cleanup runs
    """
)


def _collect(backend, n, until=60):
    events = []
    while len(events) < n:
        new = backend.next_events(until=until)
        assert new, f"no more events after {events}"
        events += new
    return events


def test_recover_then_resume_continues_from_the_checkpoint(tmp_path):
    import os
    import signal
    import subprocess
    from pathlib import Path

    script, tuner, root = tmp_path / "epochs.py", tmp_path / "tuner.py", tmp_path / "trials"
    script.write_text(EPOCHS)
    tuner.write_text(INTERRUPTED_TUNER)
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = subprocess.run([sys.executable, str(tuner), str(script), str(root)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    ckpt = root / "trial_0" / "checkpoints"
    try:  # what the interrupted tuner's trial is left with (it hangs after epoch 2)
        os.killpg(int((ckpt / "pid").read_text()), signal.SIGKILL)
    except ProcessLookupError:
        pass
    assert (ckpt / "epoch.txt").read_text() == "2"

    backend = LocalBackend(str(script), root=root, max_fidelity=5)
    trial = Trial(0, {"x": 2.0, "epochs": 5})  # the same config, keys in another order
    backend.recover(trial)
    assert (ckpt / "epoch.txt").read_text() == "2"  # nothing was deleted
    backend.resume(trial)
    events = _collect(backend, 3)
    backend.close()
    assert [e.fidelity for e in events] == [3, 4, 5]
    assert all(e.metrics["resumed_from"] == 2 for e in events) and events[-1].last
    assert events[0].metrics["loss"] == pytest.approx(2.0 / 3)


def test_recover_of_a_trial_that_left_nothing_starts_from_scratch(tmp_path):
    script = tmp_path / "epochs.py"
    script.write_text(EPOCHS)
    backend = LocalBackend(str(script), root=tmp_path / "trials", max_fidelity=3)
    trial = Trial(4, {"epochs": 3, "x": 1.0})
    backend.recover(trial)
    backend.resume(trial)
    events = _collect(backend, 3)
    backend.close()
    assert [e.fidelity for e in events] == [1, 2, 3]
    assert json.loads((backend.trial_dir(4) / "config.json").read_text()) == trial.config


def leftover(tmp_path, config: str, epoch: int, max_fidelity: int):
    """A LocalBackend on a root where an interrupted run left trial 0 at `epoch`."""
    script = tmp_path / "epochs.py"
    script.write_text(EPOCHS)
    root = tmp_path / "trials"
    (root / "trial_0" / "checkpoints").mkdir(parents=True)
    (root / "trial_0" / "config.json").write_text(config)
    (root / "trial_0" / "checkpoints" / "epoch.txt").write_text(str(epoch))
    return LocalBackend(str(script), root=root, max_fidelity=max_fidelity), root


def test_a_trial_id_used_for_another_config_is_refused(tmp_path):
    backend, root = leftover(tmp_path, '{"epochs": 5, "x": 2.0}\n', 2, 5)
    for call in (backend.recover, backend.start):
        with pytest.raises(ValueError, match="trial_0 holds another configuration"):
            call(Trial(0, {"epochs": 5, "x": 3.0}))
    assert (root / "trial_0" / "config.json").read_text() == '{"epochs": 5, "x": 2.0}\n'
    assert (root / "trial_0" / "checkpoints" / "epoch.txt").read_text() == "2"
    with pytest.raises(ValueError, match="trial 0 is not paused"):
        backend.resume(Trial(0, {"epochs": 5, "x": 3.0}))


def test_start_keeps_the_checkpoint_of_the_same_config(tmp_path):
    backend, _ = leftover(tmp_path, '{"epochs": 4, "x": 2.0}\n', 3, 4)
    backend.start(Trial(0, {"epochs": 4, "x": 2.0}))
    events = _collect(backend, 1)
    backend.close()
    assert [(e.fidelity, e.metrics["resumed_from"]) for e in events] == [(4, 3)]


def test_constructors_write_nothing(tmp_path):
    from simtune.core.backends.python import PythonBackend

    script = tmp_path / "epochs.py"
    script.write_text(EPOCHS)
    LocalBackend(str(script), root=tmp_path / "a" / "trials")
    PythonBackend(json.dumps, root=tmp_path / "b" / "trials")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epochs.py"]


ARGPARSE_SCRIPT = textwrap.dedent(
    """
    import argparse, json, os, sys
    from simtune.core.report import run_script

    def train(config, reporter):
        exact = config == json.loads(os.environ["EXPECTED"])
        reporter(epoch=1, exact=float(exact))

    if __name__ == "__main__" and sys.argv[1] == "own":  # parses argv itself, as before
        p = argparse.ArgumentParser()
        for name in ("--id", "--cat", "--lr", "--checkpoint-dir"):
            p.add_argument(name)
        a = p.parse_args(sys.argv[2:])
        ok = (a.id, a.cat, a.lr) == ("007", "1", "0.1") and os.path.isdir(a.checkpoint_dir)
        print("[simtune]", json.dumps({"epoch": 1, "exact": float(ok)}))
    elif __name__ == "__main__":
        run_script(train, sys.argv[2:])
    """
)


@pytest.mark.parametrize("mode", ["run_script", "own"])
def test_config_values_keep_their_types(tmp_path, mode):
    script = tmp_path / "types.py"
    script.write_text(ARGPARSE_SCRIPT)
    config = {"id": "007", "cat": "1", "lr": 0.1}
    command = [sys.executable, str(script), mode]
    backend = LocalBackend(command, root=tmp_path / "t", max_fidelity=1,
                           env={"EXPECTED": json.dumps(config)})
    backend.start(Trial(0, config))
    events = _collect(backend, 1)
    backend.close()
    assert events[0].metrics == {"exact": 1.0}, (backend.trial_dir(0) / "stderr.txt").read_text()


@pytest.mark.slow
def test_run_py_killed_with_sigkill_loses_no_report(tmp_path):
    """backend=local, the tuner killed with -9 mid-run and the command run again: every
    trial's epochs 1..50 recorded exactly once (reports its trials made after their tuner
    died reach their output through the watchdog, and the rerun recovers them)."""
    import subprocess
    import time

    from tests.test_ray_backend import (
        ROOT,
        _rows,
        kill_test_run,
        rerun_records_every_epoch_once,
    )

    args, env, out = kill_test_run("local", tmp_path)
    for rows in (20, 60, 100):  # killed three times, each mid-epoch somewhere
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while _rows(out / "results.csv") < rows and proc.poll() is None:
            assert time.monotonic() < deadline, f"no {rows} rows in 300 s"
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.kill()
        proc.wait()
    rerun_records_every_epoch_once(args, env, out)
