"""Trial processes of the local and python backends, with real processes and real signals:
nothing outlives the tuner (kill -9 included), a trial ends with its process, reports are
whole lines only, and per-trial limits fail a trial with a reason."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from simtune.core.backends._process import LineSplitter
from simtune.core.backends.local import LocalBackend
from simtune.core.trial import Failure, Report, Trial
from tests.test_backend_contract import alive, collect

REPO = Path(__file__).resolve().parents[1]

FAMILY = textwrap.dedent(
    """
    import os, pathlib, subprocess, sys, time
    from simtune.core.report import run_script

    SLEEP = [sys.executable, "-c", "import time; time.sleep(120)"]

    def train(config, reporter, checkpoint_dir):
        ckpt = pathlib.Path(checkpoint_dir)
        group = subprocess.Popen(SLEEP)  # in the trial's process group
        session = subprocess.Popen(SLEEP, start_new_session=True)  # escapes the group
        pids = [os.getpid(), group.pid, session.pid]
        (ckpt / "pids.tmp").write_text(" ".join(map(str, pids)))
        (ckpt / "pids.tmp").rename(ckpt / "pids")
        if config["kind"] == "silent":
            time.sleep(120)  # never prints a thing
        for epoch in range(1, 1000):
            reporter(epoch=epoch, loss=1.0 / epoch)
            time.sleep(0.2)

    if __name__ == "__main__":
        run_script(train)
    """
)

TUNER = textwrap.dedent(
    """
    import sys
    from simtune.core.backends.local import LocalBackend
    from simtune.core.backends.python import PythonBackend, load_function
    from simtune.core.schedulers.base import Scheduler
    from simtune.core.stopping import StoppingCriterion
    from simtune.core.trial import Start
    from simtune.core.tuner import Tuner

    class Two(Scheduler):
        metric, mode = "loss", "min"
        def suggest(self, trial_id):
            if trial_id < 2:
                return Start({"kind": ["silent", "chatty"][trial_id]})
        def on_report(self, trial, report):
            print("REPORTED", flush=True)
            return super().on_report(trial, report)

    kind, script, root = sys.argv[1:]
    if kind == "python":
        backend = PythonBackend(load_function(script + ":train"), root=root, max_fidelity=999)
    else:
        backend = LocalBackend(script, root=root, max_fidelity=999)
    Tuner(scheduler=Two(), backend=backend, stop=StoppingCriterion(max_wallclock=120),
          n_workers=2, progress=False).run()
    """
)


def survivors(pids: list[int], within: float = 5.0) -> list[int]:
    """The pids still alive after `within` seconds (returns as soon as all are dead)."""
    end = time.monotonic() + within
    while any(alive(p) for p in pids) and time.monotonic() < end:
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def start_tuner(tmp_path: Path, kind: str) -> tuple[subprocess.Popen, list[int], int]:
    """A tuner process with two trials (one silent), each with a child in its group and
    one in its own session; returns it, every trial pid and its watchdog's pid."""
    script, tuner, root = tmp_path / "family.py", tmp_path / "tuner.py", tmp_path / "trials"
    script.write_text(FAMILY)
    tuner.write_text(TUNER)
    proc = subprocess.Popen([sys.executable, str(tuner), kind, str(script), str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    line = proc.stdout.readline()  # after the first report: trials and watchdog are up
    assert line.startswith("REPORTED"), proc.communicate()
    files = [root / f"trial_{i}" / "checkpoints" / "pids" for i in (0, 1)]
    deadline = time.monotonic() + 60
    while not all(f.exists() for f in files):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    pids = [int(p) for f in files for p in f.read_text().split()]
    assert all(alive(p) for p in pids)
    return proc, pids, watchdog_of(proc.pid)


def watchdog_of(pid: int) -> int:
    """The pid of the watchdog process that tuner `pid` started (core/backends/_watchdog.py)."""
    for entry in Path("/proc").iterdir():
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and any(arg.endswith(b"_watchdog.py") for arg in cmdline):
            return int(entry.name)
    raise AssertionError(f"tuner {pid} has no watchdog")


@pytest.mark.parametrize("kind", ["local", "python"])
def test_kill_9_of_the_tuner_leaves_no_trial_process(tmp_path, kind):
    proc, pids, watchdog = start_tuner(tmp_path, kind)
    proc.kill()  # SIGKILL: no handler, no atexit, no finally runs in the tuner
    proc.communicate(timeout=30)
    assert survivors(pids + [watchdog]) == []


def test_trial_processes_die_with_the_tuner_even_without_the_watchdog(tmp_path):
    proc, pids, watchdog = start_tuner(tmp_path, "local")
    os.kill(watchdog, signal.SIGKILL)
    proc.kill()
    proc.communicate(timeout=30)
    trial_pids = pids[0::3]  # the trial processes themselves: PR_SET_PDEATHSIG
    assert survivors(trial_pids) == []
    for pid in pids:  # clean up what only the watchdog would have found
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def local(tmp_path: Path, body: str, **kwargs) -> LocalBackend:
    """A LocalBackend on a script whose train(config, reporter, checkpoint_dir) is `body`."""
    script = tmp_path / "train.py"
    script.write_text(
        "import json, os, pathlib, subprocess, sys, time\n"
        "from simtune.core.report import run_script\n"
        "def train(config, reporter, checkpoint_dir):\n"
        + textwrap.indent(textwrap.dedent(body), "    ")
        + "\nif __name__ == '__main__':\n    run_script(train)\n"
    )
    return LocalBackend(str(script), root=tmp_path / "trials", grace_period=1.0, **kwargs)


def test_a_child_holding_stdout_does_not_make_a_finished_trial_hang(tmp_path):
    backend = local(tmp_path, """
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                 start_new_session=config["session"])
        pathlib.Path(checkpoint_dir, "child").write_text(str(child.pid))
        reporter(epoch=1, loss=0.5)
        reporter(epoch=2, loss=0.25)  # and exit 0: the child keeps stdout and stderr open
    """, max_fidelity=None, hang_timeout=3.0)
    backend.start(Trial(0, {"session": False}))
    backend.start(Trial(1, {"session": True}))
    events = collect(backend)
    children = [int((backend.checkpoint_dir(i) / "child").read_text()) for i in (0, 1)]
    backend.close()
    assert all(isinstance(e, Report) for e in events), events
    assert sorted((e.trial_id, e.fidelity, e.last) for e in events) == [
        (0, 1, False), (0, 2, True), (1, 1, False), (1, 2, True)]
    assert survivors(children) == []  # what a trial leaves running ends with it


@pytest.mark.parametrize("before", [1 << 16, 70000])  # 64 KiB: a reader of 64 KiB pieces
def test_a_report_is_only_a_whole_line(tmp_path, before):
    backend = local(tmp_path, f"""
        sys.stdout.write("x" * {before} + '[simtune] {{"epoch": 1, "loss": -1.0}}' + "\\n")
        reporter(epoch=1, loss=5.0)
    """, max_fidelity=1)
    backend.start(Trial(0, {}))
    events = collect(backend)
    backend.close()
    assert [(type(e), e.fidelity, e.metrics["loss"]) for e in events] == [(Report, 1, 5.0)]


def test_line_splitter_never_yields_the_tail_of_a_long_line():
    splitter = LineSplitter(limit=8)
    got = splitter.feed(b"12345678901[simtune] x\nok\n[sim")
    got += splitter.feed(b"tune] y\n" + b"z" * 20) + splitter.feed(b"[simtune] w\nend")
    assert got == [(b"12345678", False), (b"ok\n", True), (b"[simtune", False),
                   (b"zzzzzzzz", False)]
    assert splitter.close() == [(b"end", False)]


@pytest.mark.parametrize("body, kwargs, expected", [
    ("for e in range(1, 10 ** 6):\n    reporter(epoch=e); time.sleep(0.05)",
     {"max_trial_seconds": 1}, "ran longer than 1 s (max_trial_seconds)"),
    ("while True:\n    reporter(epoch=3, loss=1.0); time.sleep(0.01)",
     {}, "no progress: 10 reports in a row without epoch rising above 3"),
    ("reporter(epoch=2.7, loss=1.0)", {}, "report 1 has epoch=2.7; report whole numbers"),
    ("reporter(epoch=float('nan'), loss=1.0)", {}, "report 1 has epoch=nan"),
    ("print('[simtune] {\"epoch\": 1}', end='')", {}, "report line not ended by a newline"),
])
def test_trial_limits_fail_the_trial_with_the_rule(tmp_path, body, kwargs, expected):
    backend = local(tmp_path, body, max_fidelity=100, **kwargs)
    backend.start(Trial(0, {}))
    events = collect(backend)
    backend.close()
    assert isinstance(events[-1], Failure), events
    assert expected in events[-1].reason.splitlines()[0]
    assert all(isinstance(e, Report) for e in events[:-1])


def test_max_trial_seconds_is_checked():
    with pytest.raises(ValueError, match="max_trial_seconds must be a non-negative number"):
        LocalBackend([sys.executable, "-c", "pass"], max_trial_seconds=-1)
    with pytest.raises(ValueError, match="max_trial_seconds must be a non-negative number"):
        LocalBackend([sys.executable, "-c", "pass"], max_trial_seconds="abc")


def test_make_backend_never_imports_the_local_training_file(tmp_path):
    import numpy as np

    from simtune.blackboxes.synthetic import BraninCurves
    from simtune.experiments.assemble import make_backend

    marker = tmp_path / "imported"
    script = tmp_path / "no_main_guard.py"
    script.write_text(f"def train(config, reporter): pass\nopen({str(marker)!r}, 'w')"
                      ".write('ran')\nraise SystemExit(9)\n")

    def make(training):
        return make_backend("local", {"hang_timeout": None}, BraninCurves(),
                            np.random.default_rng(0), training=training, out_dir=tmp_path / "run")

    backend = make(f"{script}:train")
    assert isinstance(backend, LocalBackend) and backend.command[-1] == str(script)
    assert not marker.exists() and not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="training script .*missing.py' not found"):
        make(f"{tmp_path / 'missing.py'}:train")
    json.dumps(backend.metadata())  # still describable without having run anything
    with pytest.raises(ValueError, match="no_main_guard.py has no function 'nope' .*: train"):
        make(f"{script}:nope")  # the file is read, not run, to find it
    assert not marker.exists()


def test_output_that_cannot_be_stored_fails_the_trial(tmp_path):
    backend = local(tmp_path, "reporter(epoch=1, loss=1.0)", max_fidelity=1)
    (backend.trial_dir(0) / "stdout.txt").mkdir(parents=True)  # not a file: cannot be written
    backend.start(Trial(0, {}))
    events = collect(backend)
    backend.close()
    assert [type(e) for e in events] == [Failure]
    assert "its output could not be stored" in events[0].reason


STEPS = textwrap.dedent(
    """
    import pathlib, time
    from simtune.core.report import run_script

    def train(config, reporter, checkpoint_dir):
        ckpt = pathlib.Path(checkpoint_dir) / "epoch.txt"
        for epoch in (1, 2, 3):
            if epoch > 1:
                ckpt.write_text(str(epoch))  # checkpoint first, then report
            print("step", epoch, flush=True)
            time.sleep(config["pause"])  # a SIGTERM arrives here
            reporter(epoch=epoch, loss=1.0 / epoch)
        time.sleep(120)

    if __name__ == "__main__":
        run_script(train)
    """
)


@pytest.mark.parametrize(("step", "reports"), [(1, []), (2, [1, 2])])
def test_sigterm_after_a_checkpoint_lets_its_report_out_first(tmp_path, step, reports):
    """Epoch 1 has no checkpoint: SIGTERM ends the trial at once. Epoch 2 checkpointed:
    the trial makes its report of epoch 2 (no later one), then dies of the SIGTERM."""
    script = tmp_path / "steps.py"
    script.write_text(STEPS)
    argv = [sys.executable, str(script), "--pause", "1.0", "--checkpoint-dir", str(tmp_path)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    lines = []
    while not lines or lines[-1] != f"step {step}\n":
        lines.append(proc.stdout.readline())
        assert lines[-1], lines
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    said = [json.loads(line.split(" ", 1)[1])["epoch"] for line in [*lines, *out.splitlines()]
            if line.startswith("[simtune] ")]
    assert (said, proc.returncode) == (reports, -signal.SIGTERM)


DYING_TUNER = textwrap.dedent(
    """
    import os, pathlib, signal, sys, time
    from simtune.core.backends.local import LocalBackend
    from simtune.core.trial import Trial

    backend = LocalBackend(sys.argv[1], root=sys.argv[2], max_fidelity=99)
    backend.start(Trial(0, {"pause": 1.5}))
    ready = pathlib.Path(sys.argv[2], "trial_0", "checkpoints", "epoch.txt")
    while not ready.exists() or ready.read_text() != "2":
        backend.next_events(until=backend.time() + 0.05)
    os.kill(os.getpid(), signal.SIGKILL)  # between the trial's checkpoint 2 and its report
    """
)


def test_a_report_the_trial_makes_after_its_tuner_died_reaches_its_output(tmp_path):
    """The tuner dies with SIGKILL while its trial is between checkpoint 2 and report 2:
    the trial makes the report (SIGTERM at its tuner's death), and the watchdog, holding
    the pipe, appends it to stdout.txt, where a resumed run recovers it."""
    script, tuner, root = tmp_path / "steps.py", tmp_path / "tuner.py", tmp_path / "trials"
    script.write_text(STEPS)
    tuner.write_text(DYING_TUNER)
    proc = subprocess.run([sys.executable, str(tuner), str(script), str(root)],
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    stdout = root / "trial_0" / "stdout.txt"
    deadline = time.monotonic() + 30
    while '"epoch": 2' not in stdout.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    said = [json.loads(line.split(" ", 1)[1])["epoch"] for line in stdout.read_text().splitlines()
            if line.startswith("[simtune] ")]
    assert said == [1, 2]
