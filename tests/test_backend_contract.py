"""The contract every real backend passes, with real processes: local scripts, Python functions
and Python functions in Ray actors (on the session's real local Ray instance).

The toy workload counts epochs in a checkpoint file; its behaviour is picked by the
config key `kind` (ok, exit, signal, hang, malformed, huge, nofidelity, spawn, echo).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from simtune.core.backends.local import LocalBackend
from simtune.core.backends.python import PythonBackend, load_function
from simtune.core.rundir import open_run
from simtune.core.schedulers import make_scheduler
from simtune.core.schedulers.base import Scheduler
from simtune.core.space import Space, choice
from simtune.core.stopping import StoppingCriterion
from simtune.core.trial import Failure, Report, Start, Trial
from simtune.core.tuner import Tuner
from tests.ray_cluster import gcs_address, ray_fixture  # noqa: F401

TOY = textwrap.dedent(
    """
    import json, os, signal, subprocess, sys, time
    from pathlib import Path

    from simtune.core.report import run_script


    def toy_train(config, reporter, checkpoint_dir=None):
        \"\"\"Reports epoch 1..epochs with loss = x / epoch; checkpoints the epoch after each.\"\"\"
        kind = config.get("kind", "ok")
        ckpt = Path(checkpoint_dir) / "epoch.txt"
        done = int(ckpt.read_text()) if ckpt.exists() else 0
        print(f"starting {kind} from epoch {done}", file=sys.stderr, flush=True)
        if kind == "echo":
            (Path(checkpoint_dir) / "config.json").write_text(json.dumps(config))
        if kind == "spawn":  # a grandchild in the same process group
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            (Path(checkpoint_dir) / "child.pid").write_text(str(child.pid))
        (Path(checkpoint_dir) / f"pid.{done}").write_text(str(os.getpid()))
        for epoch in range(done + 1, int(config.get("epochs", 3)) + 1):
            time.sleep(float(config.get("sleep", 0.05)))
            if kind == "exit" and epoch == 2:
                print("something went wrong: bad lr", file=sys.stderr, flush=True)
                raise SystemExit(3)
            if kind == "signal" and epoch == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            if kind == "hang" and epoch == 2:
                time.sleep(600)
            if kind == "malformed" and epoch == 2:
                print('[simtune] {"epoch": 2, "loss": oops}', flush=True)
            if kind == "huge":
                sys.stdout.write(("x" * 1000 + "\\n") * 1000)
            if kind == "nofidelity":
                reporter(loss=1.0)
            ckpt.with_suffix(".tmp").write_text(str(epoch))
            ckpt.with_suffix(".tmp").replace(ckpt)  # atomically: a kill leaves a whole one
            reporter(epoch=epoch, loss=float(config.get("x", 1.0)) / epoch)


    if __name__ == "__main__":
        run_script(toy_train)
    """
)

KINDS = ["local", "python", "ray"]


def make_backend(kind: str, tmp_path: Path, **kwargs) -> LocalBackend:
    """The toy workload as a script (local) or as its function, pickled by value (python)."""
    kwargs.setdefault("max_fidelity", 3)
    kwargs.setdefault("grace_period", 1.0)
    root = tmp_path / "trials"
    script = tmp_path / "toy_script.py"
    script.write_text(TOY)
    if kind == "python":
        return PythonBackend(load_function(f"{script}:toy_train"), root=root, **kwargs)
    if kind == "ray":
        from simtune.core.backends.ray import RayBackend

        return RayBackend(load_function(f"{script}:toy_train"), storage=root, **kwargs)
    return LocalBackend(str(script), root=root, **kwargs)


def collect(backend, until: float = 30.0) -> list:
    """Every event until nothing runs (or the clock reaches `until`)."""
    out = []
    while True:
        events = backend.next_events(until=until)
        if not events:
            return out
        out += events


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too; a process ending while /proc is read raises ESRCH
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def wait_dead(pid: int, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(params=KINDS)
def kind(request):
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
    return request.param


def test_start_report_complete(kind, tmp_path):
    backend = make_backend(kind, tmp_path)
    backend.start(Trial(0, {"x": 6.0, "epochs": 3}))
    events = collect(backend)
    backend.close()
    assert [type(e) for e in events] == [Report] * 3
    assert [e.fidelity for e in events] == [1, 2, 3]
    assert [e.metrics["loss"] for e in events] == [6.0, 3.0, 2.0]
    assert [e.last for e in events] == [False, False, True]
    times = [e.time for e in events]
    assert times == sorted(times) and times[0] > 0.04  # each epoch sleeps 0.05 s
    tdir = backend.trial_dir(0)
    assert json.loads((tdir / "config.json").read_text()) == {"x": 6.0, "epochs": 3}
    assert (tdir / "stdout.txt").read_text().count("[simtune] ") == 3
    assert "starting ok from epoch 0" in (tdir / "stderr.txt").read_text()


def test_without_max_fidelity_the_last_report_is_marked_at_exit(kind, tmp_path):
    backend = make_backend(kind, tmp_path, max_fidelity=None)
    backend.start(Trial(0, {"x": 2.0, "epochs": 4}))
    events = collect(backend)
    backend.close()
    assert [(e.fidelity, e.last) for e in events] == [(1, False), (2, False), (3, False), (4, True)]


@pytest.mark.slow
def test_pause_then_resume_continues_from_checkpoint(kind, tmp_path):
    backend = make_backend(kind, tmp_path, max_fidelity=6)
    trial = Trial(0, {"x": 1.0, "epochs": 6, "sleep": 0.3})
    backend.start(trial)
    first = backend.next_events(until=20)
    assert [e.fidelity for e in first] == [1]
    pid = int((backend.checkpoint_dir(0) / "pid.0").read_text())
    backend.pause(0)
    assert wait_dead(pid), "paused trial still running"
    assert backend.next_events(until=20) == []  # nothing runs
    saved = int((backend.checkpoint_dir(0) / "epoch.txt").read_text())
    backend.resume(trial)
    rest = collect(backend)
    backend.close()
    assert (backend.checkpoint_dir(0) / f"pid.{saved}").exists()  # restarted from the checkpoint
    epochs = [e.fidelity for e in rest]
    assert epochs == list(range(saved + 1, 7)) and 1 <= saved < 6  # continued, not restarted
    assert rest[-1].last and not any(e.last for e in rest[:-1])


def test_stop_kills_the_trial_and_drops_its_reports(kind, tmp_path):
    backend = make_backend(kind, tmp_path, max_fidelity=20)
    backend.start(Trial(0, {"epochs": 20, "sleep": 0.1}))
    assert [e.fidelity for e in backend.next_events(until=20)] == [1]
    pid = int((backend.checkpoint_dir(0) / "pid.0").read_text())
    backend.stop(0)
    assert backend.next_events(until=20) == []
    assert wait_dead(pid)
    backend.close()


@pytest.mark.parametrize(
    "bad, expected",
    [
        ("exit", "exited with code 3"),
        ("signal", f"killed by signal {signal.SIGKILL.value}"),
        pytest.param("hang", "hung: no report for 5 s", marks=pytest.mark.slow),
        ("malformed", "malformed report on stdout line 2: report is not valid JSON"),
        ("huge", "wrote more than 200,000 bytes of output"),
        ("nofidelity", "report 1 lacks the fidelity 'epoch'"),
    ],
)
def test_failures_have_a_reason_and_the_stderr_tail(kind, tmp_path, bad, expected):
    backend = make_backend(kind, tmp_path, hang_timeout=5.0, max_output_bytes=200_000)
    backend.start(Trial(0, {"kind": bad, "epochs": 3}))
    t0 = time.monotonic()
    events = collect(backend)
    backend.close()
    assert time.monotonic() - t0 < 20  # no waiting on a dead or hung trial beyond its timeout
    *reports, failure = events
    assert isinstance(failure, Failure), events
    assert all(isinstance(e, Report) and not e.last for e in reports)
    first_line = failure.reason.splitlines()[0]
    assert first_line.startswith("trial 0: ") and expected in first_line, failure.reason
    assert f"starting {bad} from epoch 0" in failure.reason  # the stderr tail
    if bad == "exit":
        assert failure.reason.rstrip().endswith("something went wrong: bad lr")
    if bad == "huge":
        assert (backend.trial_dir(0) / "stdout.txt").stat().st_size <= 200_000


def test_config_values_reach_the_script_unchanged(kind, tmp_path):
    nasty = {
        "kind": "echo",
        "epochs": 1,
        "s": "a b  'c' \"d\" $HOME; rm -rf / | `id` && *.py > out",
        "dash": "--not-a-flag",
        "empty_looking": " 1 ",
        "lr": 0.1 + 0.2,
        "n": -7,
        "tiny": 1e-300,
        "flag": True,
    }
    backend = make_backend(kind, tmp_path, max_fidelity=1)
    backend.start(Trial(0, dict(nasty)))
    events = collect(backend)
    backend.close()
    assert [e.fidelity for e in events] == [1]
    got = json.loads((backend.checkpoint_dir(0) / "config.json").read_text())
    assert got == nasty
    assert not (backend.trial_dir(0) / "out").exists()  # nothing went through a shell


class _FixedScheduler(Scheduler):
    """Starts the given configs in order, then nothing; optionally interrupts on a report."""

    metric, mode = "loss", "min"

    def __init__(self, configs: list[dict], interrupt_at: int | None = None) -> None:
        self.configs = list(configs)
        self.interrupt_at = interrupt_at
        self.n_reports = 0
        self.reported: set[int] = set()

    def suggest(self, trial_id: int):
        return Start(self.configs[trial_id]) if trial_id < len(self.configs) else None

    def on_report(self, trial, report):
        self.n_reports += 1
        self.reported.add(trial.trial_id)
        n_trials = len(self.configs)
        if (
            self.interrupt_at is not None
            and self.n_reports >= self.interrupt_at
            and len(self.reported) == n_trials
        ):  # every trial is up and has spawned its child
            raise KeyboardInterrupt
        return super().on_report(trial, report)


def _pids(backend, n: int) -> list[int]:
    out = []
    for i in range(n):
        d = backend.checkpoint_dir(i)
        out += [int((d / "pid.0").read_text()), int((d / "child.pid").read_text())]
    return out


def test_no_orphans_after_the_budget_ends_the_run(kind, tmp_path):
    backend = make_backend(kind, tmp_path, max_fidelity=100)
    configs = [{"kind": "spawn", "epochs": 100, "sleep": 0.1}] * 2
    tuner = Tuner(
        scheduler=_FixedScheduler(configs),
        backend=backend,
        # a Ray actor may take seconds to start on a loaded machine: the budget still ends
        # the run while its trials train (100 epochs of 0.1 s each)
        stop=StoppingCriterion(max_wallclock=8.0 if kind == "ray" else 3.0),
        n_workers=2,
        progress=False,
    )
    summary = tuner.run()
    assert summary.reason == "budget reached" and summary.n_reports >= 2
    pids = _pids(backend, 2)
    assert all(wait_dead(p, 3.0) for p in pids), [p for p in pids if alive(p)]


def test_no_orphans_after_ctrl_c(kind, tmp_path):
    backend = make_backend(kind, tmp_path, max_fidelity=100)
    configs = [{"kind": "spawn", "epochs": 100, "sleep": 0.1}] * 2
    tuner = Tuner(
        scheduler=_FixedScheduler(configs, interrupt_at=3),
        backend=backend,
        stop=StoppingCriterion(max_wallclock=60),
        n_workers=2,
        progress=False,
    )
    with pytest.raises(KeyboardInterrupt):
        tuner.run()
    pids = _pids(backend, 2)
    assert all(wait_dead(p, 3.0) for p in pids), [p for p in pids if alive(p)]


@pytest.mark.slow
def test_the_tuner_goes_on_until_max_failures(kind, tmp_path):
    backend = make_backend(kind, tmp_path, max_fidelity=2)
    configs = [
        {"kind": "exit", "epochs": 2},
        {"kind": "ok", "epochs": 2},
        {"kind": "signal", "epochs": 2},
        {"kind": "ok", "epochs": 2},
    ]
    writer = open_run(
        tmp_path / "out", fidelity="epoch", metrics=["loss"], hyperparameters=["kind"]
    ).writer
    tuner = Tuner(
        scheduler=_FixedScheduler(configs),
        backend=backend,
        stop=StoppingCriterion(max_trials=4, max_failures=2),
        n_workers=1,
        results=writer,
        progress=False,
    )
    summary = tuner.run()
    assert summary.n_failed == 2 and summary.reason.startswith("2 trials failed")
    assert summary.n_started == 3  # the 4th trial never started
    statuses = [t.status.value for t in tuner.trials.values()]
    assert statuses == ["failed", "completed", "failed"]


# -- the same decisions in simulation and for real --------------------------------------------
def _toy_curve_table():
    from simtune.blackboxes.blackbox import TabularBlackbox

    space = Space({"i": choice(list(range(8)))})
    epochs = np.arange(1, 10)
    loss = np.array([[[(i % 5 + 1) * 10.0 / e + 0.1 * i for e in epochs]] for i in range(8)])
    elapsed = np.array([[[0.01 * (i + 1) * e for e in epochs]] for i in range(8)])
    return TabularBlackbox.from_arrays(
        name="toy",
        task="t",
        space=space,
        configs=[{"i": i} for i in range(8)],
        seeds=[0],
        fidelities=epochs.tolist(),
        objectives={"loss": "min"},
        values={"loss": loss, "elapsed_time": elapsed},
        source="test",
    )


TOY_CURVE = textwrap.dedent(
    """
    def toy_curve(config, reporter):
        i = config["i"]
        for e in range(1, 10):
            reporter(epoch=e, loss=(i % 5 + 1) * 10.0 / e + 0.1 * i)
    """
)  # the numbers of _toy_curve_table, computed


def _trace(backend, blackbox, seed: int) -> list[tuple]:
    from tests.helpers import context

    rng = np.random.default_rng(seed)
    sched = make_scheduler("asha", context(blackbox, rng), eta=3)
    out = []

    class Recorder:
        def __init__(self) -> None:
            pass

        def write(self, trial_id, time, fidelity, metrics, decision, status, config):
            out.append(
                (
                    trial_id,
                    config["i"],
                    fidelity,
                    round(metrics.get("loss", -1), 9),
                    decision,
                    status,
                )
            )

        def close(self, **final) -> None:
            pass

    Tuner(
        scheduler=sched,
        backend=backend,
        stop=StoppingCriterion(max_trials=7),
        n_workers=1,
        results=Recorder(),
        progress=False,
    ).run()
    return out


@pytest.mark.slow
def test_same_decisions_on_simulated_and_real_backends(kind, tmp_path):
    from simtune.core.backends.simulated import SimulatedBackend

    table = _toy_curve_table()
    simulated = _trace(SimulatedBackend(table, rng=np.random.default_rng(0)), table, seed=5)
    script = tmp_path / "toy_curve.py"
    script.write_text(TOY_CURVE + "\nif __name__ == '__main__':\n"
                      "    from simtune.core.report import run_script\n    run_script(toy_curve)\n")
    if kind == "python":
        backend = PythonBackend(load_function(f"{script}:toy_curve"), root=tmp_path / "trials",
                                max_fidelity=9)
    elif kind == "ray":
        from simtune.core.backends.ray import RayBackend

        backend = RayBackend(load_function(f"{script}:toy_curve"), storage=tmp_path / "trials",
                             max_fidelity=9)
    else:
        backend = LocalBackend(str(script), root=tmp_path / "trials", max_fidelity=9)
    real = _trace(backend, table, seed=5)
    assert real == simulated
    decisions = {row[4] for row in simulated}
    assert {"continue", "stop"} <= decisions  # ASHA did stop some trials
    assert len({row[0] for row in simulated}) == 7


TUNER = textwrap.dedent(
    """
    import signal
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
                return Start({"kind": "spawn", "epochs": 1000, "sleep": 0.1})

    # Ctrl-C as in an interactive shell, even if this test runs where SIGINT is ignored
    # (a disposition every child inherits, e.g. from a background job)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    kind, script, root, address = sys.argv[1:]
    if kind == "python":
        backend = PythonBackend(load_function(script + ":toy_train"), root=root,
                                max_fidelity=1000)
    elif kind == "ray":
        from simtune.core.backends.ray import RayBackend
        backend = RayBackend(load_function(script + ":toy_train"), storage=root,
                             max_fidelity=1000, address=address)
    else:
        backend = LocalBackend(script, root=root, max_fidelity=1000)
    Tuner(scheduler=Two(), backend=backend, stop=StoppingCriterion(max_wallclock=120),
          n_workers=2, progress=False).run()
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_no_orphans_when_the_tuner_process_is_interrupted(kind, tmp_path, sig):
    import subprocess

    script = tmp_path / "toy_script.py"
    script.write_text(TOY)
    tuner_py = tmp_path / "tuner.py"
    tuner_py.write_text(TUNER)
    root = tmp_path / "trials"
    address = gcs_address(__import__("ray")) if kind == "ray" else "-"
    proc = subprocess.Popen([sys.executable, str(tuner_py), kind, str(script), str(root), address],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    files = [root / f"trial_{i}" / "checkpoints" / n for i in (0, 1)
             for n in ("pid.0", "child.pid")]
    deadline = time.monotonic() + 30
    while not all(f.exists() and f.read_text() for f in files):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    pids = [int(f.read_text()) for f in files]
    assert all(alive(p) for p in pids)
    ignored = _ignored_signals(proc.pid)
    proc.send_signal(sig)  # Ctrl-C (or a kill) reaches the tuner only, not its trials
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the tuner ignored signal {sig} for 30 s (ignored: {ignored}); "
                    f"its stderr: {err[-2000:]}")
    assert proc.returncode != 0
    assert all(wait_dead(p, 3.0) for p in pids), [p for p in pids if alive(p)]


def _ignored_signals(pid: int) -> str:
    """The SigIgn mask of a process (Linux), to tell an ignored signal from a hang."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return "unknown"
    return next((line.split()[1] for line in lines if line.startswith("SigIgn")), "unknown")
