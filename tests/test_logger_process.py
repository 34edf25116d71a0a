"""The child process a simulated run's loggers write from (core.loggers.process_writer),
under real signals: Ctrl-C to the whole process group, a SIGKILLed Tuner, a killed child."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from simtune.blackboxes import repository
from simtune.core.loggers import make_loggers
from simtune.core.loggers.process_writer import ProcessWriter
from simtune.core.rundir import open_run
from simtune.core.stopping import StoppingCriterion
from simtune.experiments.assemble import assemble
from tests.test_backend_contract import alive, wait_dead
from tests.test_loggers import mlflow_client, mlflow_runs, scalars

pytest.importorskip("tensorboardX")
pytest.importorskip("mlflow")
RUN_PY = Path(__file__).resolve().parents[1] / "experiments" / "run.py"
pytestmark = pytest.mark.skipif(not ProcessWriter.available(), reason="fork: Linux only")


def interactive() -> None:
    """In the child before exec: SIGINT as a terminal's process has it. (A shell without
    job control, as CI's may be, starts background commands with SIGINT ignored; the
    ignoring is inherited, and Python then keeps it.)"""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_run(out: Path, cwd: Path) -> subprocess.Popen:
    """run.py: a long simulated run (Branin, ASHA) with TensorBoard and MLflow, in a
    process group of its own, Ctrl-C as in a terminal."""
    return subprocess.Popen(
        [sys.executable, str(RUN_PY), "benchmark=synthetic", "scheduler=asha",
         "stop.max_trials=1000000", "progress=false", "logger=[tensorboard,mlflow]",
         f"hydra.run.dir={out}"], cwd=cwd, start_new_session=True, preexec_fn=interactive,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SIMTUNE_CACHE": str(cwd / "cache")})


def wait_for_rows(out: Path, proc: subprocess.Popen, n: int) -> None:
    """Until results.csv has `n` lines (the run is well under way)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        results = out / "results.csv"
        if results.exists() and results.read_text().count("\n") > n:
            return
        time.sleep(0.05)
    raise AssertionError("the run did not get going in 120 s")


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def test_ctrl_c_to_the_process_group_leaves_every_report_logged(tmp_path):
    """SIGINT to run.py's whole group (a terminal's Ctrl-C) reaches the logger children too:
    they ignore it, the Tuner ends the run, and every report results.csv holds is in the
    TensorBoard files and the MLflow database once."""
    out = tmp_path / "run"
    proc = start_run(out, tmp_path)
    wait_for_rows(out, proc, 400)
    loggers = [p for p in children_of(proc.pid) if alive(p)]
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "disabled" not in stderr, stderr[-3000:]
    assert len(loggers) >= 2 and not any(alive(p) for p in loggers)  # one child per logger
    rows = pd.read_csv(out / "results.csv")
    assert 400 <= len(rows) < 1_000_000
    _, children = mlflow_runs(out)
    client = mlflow_client(out)
    for trial_id, group in rows.groupby("trial_id"):
        steps = [int(e) for e in group["epoch"]]
        tb = [s for s, _, _ in scalars(out / "tensorboard" / f"trial_{trial_id}", "loss")]
        assert tb == steps, trial_id
        history = client.get_metric_history(children[trial_id].info.run_id, "loss")
        assert [m.step for m in history] == steps, trial_id
    assert not (out / "mlflow.db-wal").exists()  # folded back into mlflow.db


def test_a_killed_tuner_leaves_no_logger_process_behind(tmp_path):
    """SIGKILL to the Tuner's process alone: its logger children notice they have no
    parent and exit; what MLflow's child had committed reads back."""
    out = tmp_path / "run"
    proc = start_run(out, tmp_path)
    wait_for_rows(out, proc, 400)
    time.sleep(1.5)  # past MLflow's first commit of trials (every flush_every = 1 s)
    loggers = [p for p in children_of(proc.pid) if alive(p)]
    assert len(loggers) >= 2
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert all(wait_dead(p, 30.0) for p in loggers)
    _, children = mlflow_runs(out)
    assert children  # the trials committed before the kill


def test_a_writer_process_killed_mid_run_disables_its_logger_once(tmp_path, caplog):
    """The TensorBoard child SIGKILLed mid-run: one warning names the signal, the run
    completes, MLflow (its own child) logs every trial."""
    out = tmp_path / "run"
    loggers = make_loggers({"tensorboard": {}, "mlflow": {}})
    killed: list[int] = []

    class KillWriter(type(loggers[0])):  # a TensorBoard logger whose child is killed
        def on_report(self, trial, report, decision) -> None:
            super().on_report(trial, report, decision)
            writer = self._writer
            if not killed and trial.trial_id == 5 and writer._process is not None:
                os.kill(writer._process.pid, signal.SIGKILL)
                writer._process.join(10)
                killed.append(writer._process.pid)
                assert not self.sync(5)  # nobody to wait for: at once, and the warning

    tensorboard = KillWriter()
    bb = repository.load_shared("synthetic", "branin")
    run = assemble(bb, "asha", seed=0, stop=StoppingCriterion(max_trials=300), n_workers=4)
    session = open_run(out, fidelity=bb.fidelity_name, metrics=list(bb.objectives),
                       hyperparameters=list(bb.space))
    with caplog.at_level(logging.WARNING, logger="simtune.loggers"):
        summary = run.tuner(session=session, callbacks=[tensorboard, loggers[1]]).run()
    assert killed and summary.complete and summary.n_started == 300
    said = [r.getMessage() for r in caplog.records if r.name == "simtune.loggers"]
    assert said == [f"logger tensorboard disabled for the rest of the run: RuntimeError: its "
                    f"writer process ended (killed by signal {signal.SIGKILL.value}); what it "
                    "had not written is lost"], said
    assert tensorboard.disabled and not loggers[1].disabled
    assert sorted(mlflow_runs(out)[1]) == list(range(300))
