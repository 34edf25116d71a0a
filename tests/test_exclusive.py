"""One writer per run directory, a results file protected against edits, a full disk.

Real processes on real files: experiments/run.py runs as a subprocess, a second process
holds the lock (and is killed with -9), results.csv is edited by hand, a small tmpfs (as
root; else a file-size limit) fills up.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simtune.core.runlock import LOCK_FILE, RunLock, RunLocked

ROOT = Path(__file__).resolve().parents[1]
RUN = [sys.executable, str(ROOT / "experiments" / "run.py")]
# ~10,000 rows in a second or two: long enough to be interrupted or overlapped
LONG = ["benchmark=synthetic", "scheduler=random", "stop.max_wallclock=6000", "progress=false"]
HOLD = ("import sys; from simtune.core.runlock import RunLock; RunLock.acquire(sys.argv[1]); "
        "print('held', flush=True); sys.stdin.read()")


def env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "SIMTUNE_CACHE": str(tmp / "cache"), "PYTHONPATH": str(ROOT)}


def run(tmp: Path, out: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*RUN, *LONG, *args, f"hydra.run.dir={out}"], cwd=tmp,
                          env=env(tmp), capture_output=True, text=True, timeout=300, **kw)


def start(tmp: Path, out: Path, *args: str) -> subprocess.Popen:
    """The long run in the background, at a low priority: on a loaded machine the test
    still signals it mid-run (its ~9,000 rows take well under a second)."""
    return subprocess.Popen([*RUN, *LONG, *args, f"hydra.run.dir={out}"], cwd=tmp,
                            env=env(tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_low_priority_with_sigint)


def _low_priority_with_sigint() -> None:
    """In the child: nice 10, and SIGINT handled even if the test runs as a background job
    (whose shell made its children ignore SIGINT)."""
    os.nice(10)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error:" in line or "Traceback" in line]


def snapshot(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def wait_for_rows(path: Path, proc: subprocess.Popen, n: int = 1000) -> None:
    """Until `path` has `n` rows (the run is well under way); fails if the run ended."""
    while not path.exists() or path.read_bytes().count(b"\n") < n:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)


@pytest.fixture(scope="module")
def lone(tmp_path_factory) -> bytes:
    """results.csv of the long run made alone."""
    tmp = tmp_path_factory.mktemp("lone")
    proc = run(tmp, tmp / "run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return (tmp / "run" / "results.csv").read_bytes()


def test_a_held_directory_is_refused_naming_the_holder_until_it_dies(tmp_path, lone):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out / LOCK_FILE)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=env(tmp_path))
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = run(tmp_path, out)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert errors(proc.stderr) == [line for line in proc.stderr.splitlines() if line]
        [line] = errors(proc.stderr)
        assert f"is being written by another process (pid {holder.pid} on " in line
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # nothing written
    finally:
        holder.kill()  # -9: the OS releases its lock
        holder.wait()
    proc = run(tmp_path, out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "results.csv").read_bytes() == lone
    assert not (out / LOCK_FILE).exists()  # a writer that ends removes its lock file


def test_two_identical_commands_at_once_write_the_run_once(tmp_path, lone):
    out = tmp_path / "run"
    first, second = start(tmp_path, out), start(tmp_path, out)
    ends = [(p.wait(timeout=300), p.communicate()[1]) for p in (first, second)]
    codes = sorted(code for code, _ in ends)
    assert codes in ([0, 2], [0, 0]), ends
    for code, stderr in ends:
        if code == 2:  # started while the other wrote
            [line] = [ln for ln in stderr.splitlines() if ln.strip()]
            assert "is being written by another process (pid " in line
    assert (out / "results.csv").read_bytes() == lone
    assert '"resumed"' not in (out / "metadata.json").read_text()


def test_two_sweeps_into_one_directory_run_each_run_once(tmp_path):
    sweep = [*RUN, "-m", "benchmark=synthetic", "stop.max_wallclock=3000", "progress=false",
             "scheduler=random,asha", "seed=0,1,2", f"hydra.sweep.dir={tmp_path / 'sweep'}",
             "hydra.launcher.n_jobs=2"]
    procs = [subprocess.Popen(sweep, cwd=tmp_path, env=env(tmp_path), stderr=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        _, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr[-3000:]
    runs = sorted((tmp_path / "sweep").glob("*/metadata.json"))
    assert len(runs) == 6
    for meta in runs:
        text = meta.read_text()
        assert '"complete": true' in text and '"resumed"' not in text, meta
        rows = (meta.parent / "results.csv").read_text().splitlines()
        assert len(rows) == len(set(rows)), meta  # no row written twice
        assert not (meta.parent / "failed.txt").exists()


def test_a_deleted_or_changed_row_is_refused_in_one_line(tmp_path):
    finished, interrupted = tmp_path / "finished", tmp_path / "interrupted"
    assert run(tmp_path, finished).returncode == 0
    proc = start(tmp_path, interrupted, "stop.max_wallclock=600000")  # never ends by itself
    wait_for_rows(interrupted / "results.csv", proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert '"complete": false' in (interrupted / "metadata.json").read_text()
    lines = (finished / "results.csv").read_bytes().splitlines(True)
    (finished / "results.csv").write_bytes(b"".join(lines[:500] + lines[501:]))  # deleted
    path = interrupted / "results.csv"
    data = path.read_bytes()
    row = data.splitlines(True)[700]
    cells = row.split(b",")
    cells[3] = b"0.25"  # another metric value, same length or not
    path.write_bytes(data.replace(row, b",".join(cells), 1))
    for out in (finished, interrupted):
        before = snapshot(out)
        proc = run(tmp_path, out)
        assert proc.returncode == 2, proc.stderr[-2000:]
        [line] = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert f"{out / 'results.csv'} was changed after simtune wrote it" in line
        assert snapshot(out) == before  # nothing rewritten


def test_sigterm_says_how_to_resume_like_sigint(tmp_path, lone):
    out = tmp_path / "run"
    proc = start(tmp_path, out)
    wait_for_rows(out / "results.csv", proc)
    proc.terminate()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143
    [line] = [ln for ln in stderr.splitlines() if ln.strip()]
    assert line.startswith(f"interrupted (SIGTERM): {out} holds an incomplete run; "
                           "resume it with: python ")
    command = shlex.split(line.split("resume it with: ", 1)[1])  # the command it printed
    proc = subprocess.run([sys.executable, *command[1:]], cwd=tmp_path, env=env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "results.csv").read_bytes() == lone


@pytest.fixture
def small_disk(tmp_path):
    """A directory on a 256 KB file system (tmpfs, as root) and how to give it more space;
    without root, a 250 KB file-size limit in the child instead."""
    mount = tmp_path / "disk"
    mount.mkdir()
    ok = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True).returncode == 0
    state = {"limit": not ok}

    def limit() -> None:
        if state["limit"]:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a core dump
            resource.setrlimit(resource.RLIMIT_FSIZE, (250_000, 250_000))

    def free() -> None:
        if ok:
            subprocess.run(["mount", "-o", "remount,size=16m", str(mount)], check=True)
        state["limit"] = False

    yield mount, limit, free
    if ok:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_one_line_and_a_rerun_after_freeing_space_completes(
        tmp_path, lone, small_disk):
    mount, limit, free = small_disk
    out = mount / "run"
    for _ in range(2):  # the run, then a rerun on the disk still full
        proc = run(tmp_path, out, preexec_fn=limit)
        assert proc.returncode == 1, proc.stderr[-2000:]
        [line] = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert line.startswith("error: ") and "on the file system at " in line, line
        assert "bytes needed" in line and "rerun the same command to resume" in line
    left = sorted(p.name for p in out.iterdir())
    assert {"metadata.json", "results.csv"} <= set(left) <= {"metadata.json", "results.csv",
                                                               "run.log"}, left
    written = (out / "results.csv").read_bytes()
    assert written.endswith(b"\n") and lone.startswith(written)  # whole rows, readable
    free()
    proc = run(tmp_path, out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "results.csv").read_bytes() == lone


def test_tabulate_refuses_a_checkpoint_another_process_writes(tmp_path):
    checkpoint = tmp_path / "t.h5.jsonl"
    with RunLock.acquire(checkpoint.with_name(checkpoint.name + ".lock"), what="x"):
        with pytest.raises(RunLocked, match=rf"pid {os.getpid()} on "):
            RunLock.acquire(checkpoint.with_name(checkpoint.name + ".lock"), what="x")
        proc = subprocess.run(
            [sys.executable, "-m", "simtune.blackboxes", "tabulate",
             "experiments/training/mlp_sklearn.py:train", "--grid", "--seeds", "0",
             "--name", "x", "--task", "digits", "--objective", "val_accuracy=max",
             "--max-fidelity", "1", "--out", str(tmp_path / "t.h5"),
             "--space", "simtune.blackboxes.sources.mlp_sklearn:mlp_sklearn_space"],
            cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"{checkpoint} is being written by another process (pid {os.getpid()}" \
        in proc.stderr
    assert not checkpoint.exists()


SPAM = """
import os, sys, time
from pathlib import Path
from simtune.core.report import run_script
def fit(config, reporter, checkpoint_dir=None):
    ckpt = Path(checkpoint_dir) / "round"
    start = int(ckpt.read_text()) if ckpt.exists() else 0
    with open(os.environ["STARTS"], "a") as f:
        f.write(f"{start}\\n")
    for r in range(start + 1, 4):
        ckpt.write_text(str(r))
        reporter(round=r, f1=r / 10)
        if start == 0 and r == 2:  # the first process fills the disk with its stderr
            sys.stderr.write("x" * 2_000_000)
            sys.stderr.flush()
            time.sleep(60)
if __name__ == "__main__":
    run_script(fit)
"""


def test_a_trial_whose_output_fills_the_disk_resumes_from_its_checkpoint(tmp_path, small_disk):
    mount, limit, free = small_disk
    out = mount / "run"
    (tmp_path / "fit.py").write_text(SPAM)
    (tmp_path / "space.yaml").write_text("x: {type: uniform, low: 0, high: 1}\n")
    args = [*RUN, "benchmark=custom", "benchmark.training=fit.py:fit",
            "benchmark.space=space.yaml", "benchmark.metric=f1", "benchmark.mode=max",
            "benchmark.fidelity=round", "benchmark.max_fidelity=3", "backend=local",
            "scheduler=random", "stop.max_trials=1", "n_workers=1", "progress=false",
            f"hydra.run.dir={out}"]
    starts = tmp_path / "starts.txt"
    run_env = {**env(tmp_path), "STARTS": str(starts)}
    proc = subprocess.run(args, cwd=tmp_path, env=run_env, capture_output=True, text=True,
                          timeout=300, preexec_fn=limit)
    assert proc.returncode == 1, proc.stderr[-2000:]
    [line] = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "on the file system at " in line, line
    free()
    proc = subprocess.run(args, cwd=tmp_path, env=run_env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert starts.read_text() == "0\n2\n"  # the rerun went on from the checkpoint of round 2
    rows = (out / "results.csv").read_text().splitlines()
    assert not any(",failed," in row for row in rows), rows
    assert rows[-1].split(",")[2:4] == ["3", "0.3"]
