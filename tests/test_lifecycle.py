"""The run lifecycle: interrupted runs are incomplete, resume by replay, and lose nothing."""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from simtune.core.results import ReplayMismatch, ResultsWriter
from simtune.core.rundir import open_run
from simtune.core.schedulers import SCHEDULERS
from simtune.core.stopping import Ended, EndReason
from tests import lifecycle_driver

ROOT = Path(__file__).resolve().parents[1]


def _rows(path: Path) -> int:
    try:
        return max(path.read_bytes().count(b"\n") - 1, 0)
    except OSError:
        return 0


def _spawn(out: Path, scheduler: str, sleep: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.lifecycle_driver", str(out), scheduler, str(sleep)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # a test runner in the background may ignore SIGINT; the user's shell does not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _interrupt_at(out: Path, scheduler: str, rows: int, sig: int) -> bool:
    """Run until results.csv has `rows` rows and the run has appended one, then send
    `sig` (so it lands in the Tuner loop); False if the run ended first."""
    rows = max(rows, _rows(out / "results.csv") + 1)
    proc = _spawn(out, scheduler, sleep=0.002)
    deadline = time.monotonic() + 120
    while proc.poll() is None and _rows(out / "results.csv") < rows:
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{scheduler}: no {rows} rows after 120 s")
        time.sleep(0.002)
    if proc.poll() is not None:
        assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
        return False
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0, f"{scheduler}: the run ignored signal {sig}"
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["complete"] is False, f"{scheduler}: interrupted run marked complete"
    if sig != signal.SIGKILL:
        assert meta["end_reason"].startswith("interrupted"), meta["end_reason"]
    return True


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_interrupted_and_resumed_run_is_byte_identical(scheduler, tmp_path):
    reference = tmp_path / "reference"
    lifecycle_driver.run(reference, scheduler)
    expected = (reference / "results.csv").read_bytes()
    total = expected.count(b"\n") - 1
    assert total > 10
    # several random points, by three signals, the later ones possibly during the replay
    points = sorted(np.random.default_rng(sorted(SCHEDULERS).index(scheduler))
                    .choice(np.arange(1, total), size=3, replace=False))
    out = tmp_path / "interrupted"
    before, interrupted = b"", 0
    for rows, sig in zip(points, (signal.SIGKILL, signal.SIGINT, signal.SIGTERM), strict=True):
        if not _interrupt_at(out, scheduler, int(rows), sig):
            break
        interrupted += 1
        now = (out / "results.csv").read_bytes()
        complete_lines = now[: now.rfind(b"\n") + 1]
        assert complete_lines.startswith(before[: before.rfind(b"\n") + 1])  # nothing lost
        assert expected.startswith(complete_lines)
        before = now
    assert interrupted >= 2  # the last point may come too close to the end to be hit
    proc = _spawn(out, scheduler, sleep=0.0)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert (out / "results.csv").read_bytes() == expected
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["complete"] is True and meta["resumed"] >= 1


def _writer(out: Path, **kw) -> ResultsWriter:
    return open_run(out, fidelity="epoch", metrics=["loss"], hyperparameters=["lr"],
                    config={"seed": 0}, **kw).writer


def _die(w: ResultsWriter) -> None:
    """What the writer's process dying does to its files: they are closed, the OS drops
    the directory's lock, and nothing else happens."""
    os.close(w._fd)
    os.close(w._lock._fd)


def test_a_partial_last_line_is_dropped_and_rows_are_checked(tmp_path):
    w = _writer(tmp_path)
    w.write(0, 1.5, 1, {"loss": 0.25}, "continue", "running", {"lr": 0.1})
    w.write(1, 2.0, 1, {"loss": 3}, "stop", "stopped", {"lr": 0.2})
    os.write(w._fd, b"0,2.5,2,0.1")  # the process died while writing this row
    _die(w)
    session = open_run(tmp_path, fidelity="epoch", metrics=["loss"], hyperparameters=["lr"],
                       config={"seed": 0})
    w = session.writer
    text = (tmp_path / "results.csv").read_text()
    assert text.endswith("stopped,0.2\n")  # the partial line is gone
    assert session.resuming and w.replaying and w.n_recorded == 2
    events = session.events
    assert [(e.trial_id, e.time, e.fidelity, e.metrics) for e in events] == [
        (0, 1.5, 1, {"loss": 0.25}), (1, 2.0, 1, {"loss": 3})]
    w.write(0, 1.5, 1, {"loss": 0.25}, "continue", "running", {"lr": 0.1})
    with pytest.raises(ReplayMismatch, match="row 2 of results.csv was"):
        w.write(1, 2.0, 1, {"loss": 3.5}, "stop", "stopped", {"lr": 0.2})
    assert (tmp_path / "results.csv").read_text() == text  # checked, not rewritten


def test_a_run_ending_before_its_recorded_rows_is_not_complete(tmp_path):
    w = _writer(tmp_path)
    for i in range(3):
        w.write(i, float(i), 1, {"loss": 1.0}, "continue", "completed", {"lr": 0.1})
    _die(w)  # killed: metadata still says complete=false
    w = _writer(tmp_path)
    w.write(0, 0.0, 1, {"loss": 1.0}, "continue", "completed", {"lr": 0.1})
    with pytest.raises(ReplayMismatch, match="2 of its 3 recorded rows"):
        w.close(ended=Ended(EndReason.BUDGET), complete=True)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["complete"] is False
    assert _rows(tmp_path / "results.csv") == 3


def test_another_config_is_refused_and_resume_false_sets_it_aside(tmp_path):
    w = _writer(tmp_path)
    w.write(0, 1.0, 1, {"loss": 1.0}, "continue", "completed", {"lr": 0.1})
    w.close(ended=Ended(EndReason.BUDGET), complete=True)
    before = (tmp_path / "results.csv").read_bytes()
    with pytest.raises(ValueError, match="holds a complete run of this configuration"):
        _writer(tmp_path)
    with pytest.raises(ValueError, match=r"another configuration \(seed: 0 -> 1\)"):
        open_run(tmp_path, fidelity="epoch", metrics=["loss"], hyperparameters=["lr"],
                 config={"seed": 1})
    assert (tmp_path / "results.csv").read_bytes() == before
    w = open_run(tmp_path, fidelity="epoch", metrics=["loss"], hyperparameters=["lr"],
                 config={"seed": 1}, resume=False).writer
    assert (tmp_path / "superseded" / "0" / "results.csv").read_bytes() == before
    assert _rows(tmp_path / "results.csv") == 0


def test_an_interrupted_run_that_cannot_be_replayed_is_refused_before_anything_is_written(
        tmp_path):
    w = _writer(tmp_path)
    w.write(0, 1.0, 1, {"loss": 1.0}, "continue", "running", {"lr": 0.1})
    _die(w)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match="depend on the host's speed.*cannot be replayed"):
        _writer(tmp_path, replayable=False)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    session = open_run(tmp_path, fidelity="epoch", metrics=["loss"], hyperparameters=["lr"],
                       config={"seed": 0}, replayable=False, resume=False)
    assert not session.resuming and (tmp_path / "superseded" / "0" / "results.csv").exists()


def test_a_run_without_a_digest_is_refused_as_one_of_an_older_simtune(tmp_path):
    w = _writer(tmp_path)
    w.write(0, 1.0, 1, {"loss": 1.0}, "continue", "running", {"lr": 0.1})
    _die(w)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    del meta["results_sha256"], meta["results_bytes"]
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match="records no digest of results.csv: a run of an older"):
        _writer(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_resumed_session_replays_on_a_real_backend_and_redoes_a_simulated_one(tmp_path):
    from simtune.core.backends.python import PythonBackend
    from simtune.core.backends.replay import ReplayBackend
    from simtune.core.backends.simulated import SimulatedBackend
    from tests.helpers import toy_table

    w = _writer(tmp_path)
    w.write(0, 1.0, 1, {"loss": 1.0}, "continue", "running", {"lr": 0.1})
    _die(w)
    session = open_run(tmp_path, fidelity="epoch", metrics=["loss"], hyperparameters=["lr"],
                       config={"seed": 0})
    real = PythonBackend(lambda config, reporter: None, root=tmp_path / "trials")
    wrapped = session.backend(real)
    assert isinstance(wrapped, ReplayBackend) and wrapped.inner is real
    assert [(e.trial_id, e.fidelity) for e in wrapped.next_events()] == [(0, 1)]
    simulated = SimulatedBackend(toy_table(), rng=np.random.default_rng(0))
    assert session.backend(simulated) is simulated
    session.writer.close(ended=Ended(EndReason.INTERRUPTED))


def test_a_crash_in_the_loop_leaves_the_run_incomplete(tmp_path):
    from simtune.core.schedulers.fifo import FIFOScheduler

    class Crashes(FIFOScheduler):
        def on_report(self, trial, report):
            if trial.trial_id == 3:
                raise RuntimeError("boom")
            return super().on_report(trial, report)

    with pytest.raises(RuntimeError, match="boom"):
        lifecycle_driver_run_with(tmp_path, Crashes)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["complete"] is False
    assert meta["end_reason"] == "crashed: RuntimeError: boom"
    with open(tmp_path / "results.csv") as f:
        assert len(list(csv.reader(f))) > 1  # what was reported before the crash is there


def lifecycle_driver_run_with(out: Path, cls) -> None:
    from simtune.blackboxes import repository
    from simtune.core.backends.simulated import SimulatedBackend
    from simtune.core.schedulers.random import RandomSearcher
    from simtune.core.stopping import StoppingCriterion
    from simtune.core.tuner import Tuner

    bb = repository.load_shared("mlp_sklearn", "digits")
    sched = cls(searcher=RandomSearcher(bb.space, rng=np.random.default_rng(0)),
                metric="val_accuracy", mode="max")
    writer = open_run(out, fidelity=bb.fidelity_name, metrics=list(bb.objectives),
                      hyperparameters=list(bb.space)).writer
    Tuner(scheduler=sched, backend=SimulatedBackend(bb, rng=np.random.default_rng(1)),
          stop=StoppingCriterion(max_trials=10), n_workers=2, results=writer,
          progress=False).run()


# -- through run.py, as a user types it ----------------------------------------------------------
RUN = [sys.executable, str(ROOT / "experiments" / "run.py")]


def _run_py(args: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "SIMTUNE_CACHE": str(cwd / "cache")}
    return subprocess.run([*RUN, *args, "progress=false"], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=env, **kw)


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_run_py_sigint_then_rerun_equals_an_uninterrupted_run(tmp_path):
    args = ["scheduler=tpe", "benchmark=nasbench201", "stop.max_trials=400",
            "stop.max_wallclock=null"]
    ref = _run_py([*args, f"hydra.run.dir={tmp_path / 'ref'}"], tmp_path)
    assert ref.returncode == 0, ref.stderr[-2000:]
    out = tmp_path / "run"
    env = {**os.environ, "SIMTUNE_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen([*RUN, *args, f"hydra.run.dir={out}", "progress=false"],
                            cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    while _rows(out / "results.csv") < 100 and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["complete"] is False and meta["end_reason"] == "interrupted (SIGINT)"
    # the message names the exact command, with this directory: run it as printed
    command = shlex.split(err.strip().splitlines()[-1].split("resume it with: ", 1)[1])
    assert command[0] == "python" and command[-1] == f"hydra.run.dir={out}"
    again = subprocess.run([sys.executable, *command[1:]], cwd=tmp_path, capture_output=True,
                           text=True, timeout=600, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming the interrupted run" in again.stdout + again.stderr
    assert (out / "results.csv").read_bytes() == (tmp_path / "ref" / "results.csv").read_bytes()
    assert json.loads((out / "metadata.json").read_text())["complete"] is True
    # a complete run is skipped, and bad input against it changes nothing
    before = _snapshot(out)
    skip = _run_py([*args, f"hydra.run.dir={out}"], tmp_path)
    assert skip.returncode == 0 and "skipped" in skip.stdout + skip.stderr
    for bad in ("n_workers=0", "n_workers=-1", "n_workers=abc", "n_workers=1.5",
                "n_workers=true", "seed=abc", "seed=1.5", "seed=-1"):
        proc = _run_py([*args, bad, f"hydra.run.dir={out}"], tmp_path)
        assert proc.returncode == 2, (bad, proc.stderr[-500:])
        assert "Traceback" not in proc.stderr
        assert _snapshot(out) == before, bad
    other = _run_py([*args, "seed=5", f"hydra.run.dir={out}"], tmp_path)
    assert other.returncode == 2
    assert "another configuration (seed: 0 -> 5)" in other.stderr
    assert _snapshot(out) == before


FAILING = """
import sys
def train(config, reporter, checkpoint_dir=None):
    raise RuntimeError("this training always fails")
if __name__ == "__main__":
    sys.exit("this training always fails")
"""


@pytest.mark.slow
def test_a_run_whose_every_trial_fails_exits_non_zero(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text(FAILING)
    out = tmp_path / "run"
    proc = _run_py(["backend=local", "benchmark=mlp_sklearn", "scheduler=random",
                    f"benchmark.training={script}:train", "stop.max_trials=3", "n_workers=1",
                    "stop.max_wallclock=null", f"hydra.run.dir={out}"], tmp_path)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: run incomplete: no valid report: 3 trials failed and none "
                           "reported (stop.max_failures_before_report=3); first failure: trial 0")
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["complete"] is False and meta["end_reason"].startswith("no valid report")
    assert meta["best"] is None


# -- real backends: the tuner killed with SIGKILL, then the same command again ----------------
SLOW_TRAINING = """
import time
from pathlib import Path

from simtune.core.report import run_script


def train(config, reporter, checkpoint_dir=None):
    ckpt = Path(checkpoint_dir) / "epoch.txt"
    done = int(ckpt.read_text()) if ckpt.exists() else 0
    with open(Path(checkpoint_dir) / "starts.txt", "a") as f:
        f.write(f"{done + 1}\\n")  # the epoch each launch of this trial starts at
    score = config["learning_rate_init"] * 100 + config["n_layers"]
    for epoch in range(done + 1, 51):
        time.sleep(0.04)
        ckpt.write_text(str(epoch))  # checkpoint first, then report
        reporter(epoch=epoch, val_accuracy=score * epoch / 50, val_logloss=1.0 / epoch,
                 test_accuracy=0.5)


if __name__ == "__main__":
    run_script(train)
"""


def _alive_trials(trials: Path) -> list[int]:
    """Pids of processes whose working directory is a trial directory of this run."""
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(Path(os.readlink(proc / "cwd"))).startswith(str(trials)):
                    out.append(int(proc.name))
            except OSError:
                pass
    return out


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["python", "local"])
def test_real_run_killed_then_rerun_continues_from_checkpoints(backend, tmp_path):
    script = tmp_path / "slow_train.py"
    script.write_text(SLOW_TRAINING)
    out = tmp_path / "run"
    args = [f"backend={backend}", "benchmark=mlp_sklearn", "scheduler=asha",
            f"benchmark.training={script}:train", "stop.max_trials=8", "n_workers=2",
            "stop.max_wallclock=null", f"hydra.run.dir={out}", "progress=false"]
    env = {**os.environ, "SIMTUNE_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([*RUN, *args], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _rows(out / "results.csv") < 40 and proc.poll() is None:
        assert time.monotonic() < deadline, "no 40 rows in 120 s"
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.kill()
    proc.wait()
    before = (out / "results.csv").read_bytes()
    assert json.loads((out / "metadata.json").read_text())["complete"] is False
    time.sleep(2)
    assert _alive_trials(out / "trials") == []  # no trial outlives its tuner
    again = _run_py(args[:-1], tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    after = (out / "results.csv").read_bytes()
    assert after.startswith(before[: before.rfind(b"\n") + 1])  # nothing written is lost
    assert json.loads((out / "metadata.json").read_text())["complete"] is True
    import pandas as pd

    rows = pd.read_csv(out / "results.csv")
    n_before = before[: before.rfind(b"\n") + 1].count(b"\n") - 1
    for trial_id, trial in rows.groupby("trial_id"):
        configs = trial.filter(like="config_").drop_duplicates()
        assert len(configs) == 1, f"trial {trial_id} has two configurations"
        assert trial["epoch"].is_monotonic_increasing and trial["epoch"].is_unique
        assert trial["status"].iloc[:-1].eq("running").all()  # one end per trial
        starts = (out / "trials" / f"trial_{trial_id}" / "checkpoints" / "starts.txt")
        launches = [int(x) for x in starts.read_text().split()]
        pre = trial[trial.index < n_before]
        if len(pre) and pre["status"].iloc[-1] != "running":
            assert trial.index.max() < n_before, f"trial {trial_id} ran again after it ended"
        if len(pre) and pre["status"].iloc[-1] == "running" and len(trial) > len(pre):
            # it continued from its checkpoint, not from the first epoch
            assert len(launches) >= 2 and launches[-1] > 1, (trial_id, launches)


INTERRUPTING_TRAINING = """
import os
import signal
import time
from pathlib import Path

from simtune.core.report import run_script


def train(config, reporter, checkpoint_dir=None):
    ckpt = Path(checkpoint_dir) / "epoch.txt"
    done = int(ckpt.read_text()) if ckpt.exists() else 0
    for epoch in range(done + 1, 51):
        time.sleep(0.02)
        (ckpt.parent / "tmp").write_text(str(epoch))
        (ckpt.parent / "tmp").replace(ckpt)  # checkpoint first (atomically), then report
        reporter(epoch=epoch, val_accuracy=epoch / 50, val_logloss=1.0 / epoch,
                 test_accuracy=0.5)
        flag = Path(checkpoint_dir) / "interrupted"
        if epoch == 7 and os.environ["SIMTUNE_TRIAL_ID"] == "1" and not flag.exists():
            flag.touch()
            os.kill(os.getppid(), signal.SIGINT)  # Ctrl-C of the tuner, right after a report


if __name__ == "__main__":
    run_script(train)
"""


def _output_epochs(trial_dir: Path) -> list[int]:
    """The epochs of the reports a trial wrote to its output (stdout.txt)."""
    lines = (trial_dir / "stdout.txt").read_text().splitlines()
    return [json.loads(line.split(" ", 1)[1])["epoch"] for line in lines
            if line.startswith("[simtune] ")]


@pytest.mark.slow
def test_sigint_records_every_report_trials_made_and_the_rerun_goes_on_from_there(tmp_path):
    script = tmp_path / "interrupting_train.py"
    script.write_text(INTERRUPTING_TRAINING)
    out = tmp_path / "run"
    args = ["backend=local", "benchmark=mlp_sklearn", "scheduler=random",
            f"benchmark.training={script}:train", "stop.max_trials=4", "n_workers=2",
            "stop.max_wallclock=null", f"hydra.run.dir={out}"]
    env = {**os.environ, "SIMTUNE_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([*RUN, *args, "progress=false"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.returncode == 130, proc.stderr[-2000:]
    import pandas as pd

    rows = pd.read_csv(out / "results.csv")
    trials = out / "trials"
    assert (trials / "trial_1" / "checkpoints" / "interrupted").exists()
    for trial_dir in sorted(trials.glob("trial_*")):
        trial_id = int(trial_dir.name.split("_")[1])
        recorded = rows.loc[rows["trial_id"] == trial_id, "epoch"].tolist()
        written = _output_epochs(trial_dir)
        assert written == recorded, (trial_id, written, recorded)  # none lost, none skipped
        assert int((trial_dir / "checkpoints" / "epoch.txt").read_text()) == recorded[-1]
    assert 7 in rows.loc[rows["trial_id"] == 1, "epoch"].tolist()
    again = _run_py(args, tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    rows = pd.read_csv(out / "results.csv")
    assert json.loads((out / "metadata.json").read_text())["complete"] is True
    assert sorted(rows["trial_id"].unique()) == [0, 1, 2, 3]
    for trial_id, trial in rows.groupby("trial_id"):  # each from epoch 1 to 50, once
        assert trial["epoch"].tolist() == list(range(1, 51)), trial_id
        assert trial["status"].tolist() == ["running"] * 49 + ["completed"], trial_id


def test_a_run_of_an_older_simtune_is_refused_in_one_line(tmp_path):
    """A run written before a scheduler argument existed (here: bo's initial_design,
    dropped from its stored config) is another configuration: refused in one line that
    names the key and says to use a new directory; nothing in it changes."""
    args = ["scheduler=bo", "benchmark=synthetic", "stop.max_trials=12",
            "stop.max_wallclock=null", f"hydra.run.dir={tmp_path / 'run'}"]
    assert _run_py(args, tmp_path).returncode == 0
    meta_path = tmp_path / "run" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    assert meta["config"]["scheduler"].pop("initial_design") == "random"
    meta_path.write_text(json.dumps(meta))
    before = _snapshot(tmp_path / "run")
    again = _run_py(args, tmp_path)
    assert again.returncode == 2, again.stderr[-1500:]
    [line] = [ln for ln in again.stderr.splitlines() if ln.strip()]
    assert "another configuration (scheduler.initial_design: None -> 'random')" in line
    assert "use a new output directory" in line
    assert _snapshot(tmp_path / "run") == before
