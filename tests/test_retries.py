"""retries=N (core/retries.py) and keep_checkpoints=best:K (core/keep_checkpoints.py), with
real trial processes: experiments/examples/crash_once.py crashes once per trial at step 3."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from simtune.analysis.run_view import fates, run_figure
from simtune.core.keep_checkpoints import KeepCheckpoints, parse_keep
from simtune.core.problem import problem_from_config
from simtune.core.rundir import open_run
from simtune.core.stopping import StoppingCriterion
from simtune.core.tuner import Tuner
from simtune.experiments.assemble import assemble

ROOT = Path(__file__).resolve().parents[1]
CRASH_ONCE = ["benchmark=custom", "scheduler=random",
              "benchmark.training=experiments/examples/crash_once.py:train",
              "benchmark.space=experiments/examples/crash_once_space.yaml",
              "benchmark.metric=loss", "benchmark.mode=min", "benchmark.max_fidelity=6",
              "stop.max_wallclock=null", "progress=false"]


def run(out: Path, *args: str, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    """experiments/run.py on crash_once.py with `args`, into `out`."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "run.py"), *CRASH_ONCE, *args,
         f"hydra.run.dir={out}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, **(env or {})},
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def rows_of(out: Path) -> dict[int, pd.DataFrame]:
    df = pd.read_csv(out / "results.csv")
    return {int(t): rows for t, rows in df.groupby("trial_id")}


def test_every_trial_survives_its_crash_with_one_retry(tmp_path):
    """The done-when of issue 23 (3), as a user types it: every trial reaches its last
    step, none fails; each retry is one row "retried" at the step it had reached, and
    the curve goes on from its checkpoint without a repeated row."""
    out = tmp_path / "run"
    run(out, "backend=python", "retries=1", "stop.max_trials=3", "n_workers=2")
    check_one_retry_each(rows_of(out), 3)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["complete"] is True and meta["n_failed"] == 0
    # run.png: the curves go on through the retries, marked where they restarted
    fig = run_figure(out)
    assert sorted(fates(pd.read_csv(out / "results.csv"))) == ["completed"] * 3
    curves = [line for line in fig.axes[1].lines if line.get_linestyle() != "None"]
    assert len(curves) == 3 and all(pd.notna(c.get_ydata()).all() for c in curves)
    assert [c.get_xdata().tolist() for c in curves] == [[1, 2, 3, 4, 5, 6]] * 3
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "retried (3): o where it restarted" in labels


def check_one_retry_each(trials: dict[int, pd.DataFrame], n: int) -> None:
    assert sorted(trials) == list(range(n))
    for tid, rows in trials.items():
        assert rows["status"].tolist() == ["running"] * 2 + ["retried"] + ["running"] * 3 + [
            "completed"], tid
        assert rows["epoch"].tolist() == [1, 2, 2, 3, 4, 5, 6]  # the retry's row at 2


def test_local_backend_retries_the_script(tmp_path):
    """backend=local runs crash_once.py as a script: the same, through the Python API."""
    tuner = tune(tmp_path, retries=1, backend="local")
    check_one_retry_each(rows_of(tmp_path), 2)
    assert tuner.retries.counts == {0: 1, 1: 1}


def tune(out: Path, *, retries: int = 0, max_trials: int = 2, scheduler: str = "random",
         callbacks=(), backend: str = "python", fidelity: str = "epoch",
         **scheduler_args) -> Tuner:
    """crash_once.py on `backend` from Python, `Tuner(..., retries=retries)`; `fidelity`:
    the problem's (crash_once.py reports `epoch`)."""
    problem = problem_from_config({
        "name": "custom", "training": "experiments/examples/crash_once.py:train",
        "space": "experiments/examples/crash_once_space.yaml", "metric": "loss",
        "mode": "min", "fidelity": fidelity, "max_fidelity": 6}, base=ROOT)
    parts = assemble(problem, scheduler, seed=0, stop=StoppingCriterion(max_trials=max_trials),
                     n_workers=2, scheduler_args=scheduler_args, backend=backend,
                     training="experiments/examples/crash_once.py:train", out_dir=out)
    session = open_run(out, fidelity=fidelity, metrics=["loss"],
                       hyperparameters=list(problem.space))
    tuner = Tuner(scheduler=parts.scheduler, backend=parts.backend, stop=parts.stop,
                  n_workers=2, results=session.writer, progress=False, callbacks=callbacks,
                  retries=retries)
    tuner.run()
    return tuner


def test_without_retries_the_crash_fails_the_trial(tmp_path):
    """retries=0, the default: the old behaviour, every trial fails at step 3."""
    tune(tmp_path)
    for rows in rows_of(tmp_path).values():
        assert rows["status"].tolist() == ["running", "running", "failed"]


def test_a_report_without_the_fidelity_is_not_retried(tmp_path, caplog):
    """crash_once.py reports `epoch`, the problem's fidelity is `round`: a retry would break
    the report protocol again, so retries=2 leave each trial failed at its first report,
    the reason its error, and no "retried" row."""
    with caplog.at_level(logging.WARNING):
        tuner = tune(tmp_path, retries=2, fidelity="round")
    assert tuner.retries.counts == {}
    for rows in rows_of(tmp_path).values():
        assert rows["status"].tolist() == ["failed"]
    errors = [t.extra["error"] for t in tuner.trials.values()]
    assert len(errors) == 2 and all("report 1 lacks the fidelity 'round'" in e for e in errors)
    assert not [r for r in caplog.records if "retry" in r.getMessage()]


def test_a_retry_from_an_older_checkpoint_repeats_no_row(tmp_path, monkeypatch):
    """The crash comes after step 3 is reported, before its checkpoint: the retry starts
    from step 2's checkpoint and reports step 3 again, which is dropped."""
    monkeypatch.setenv("SIMTUNE_CRASH_AFTER_REPORT", "1")
    tune(tmp_path, retries=2)
    for rows in rows_of(tmp_path).values():
        assert rows["status"].tolist() == ["running"] * 3 + ["retried"] + ["running"] * 2 + [
            "completed"]
        assert rows["epoch"].tolist() == [1, 2, 3, 3, 4, 5, 6]  # the retry row at 3


def test_retries_run_out_and_a_resume_keeps_the_count(tmp_path):
    """crash_once.py crashes at step 3 every time. The run is interrupted (SIGTERM) while
    the retry's process waits at a gate; the resumed run knows the one retry allowed is
    used: the next crash fails the trial, with no second "retried" row."""
    out, gate = tmp_path / "run", tmp_path / "gate"
    env = {**os.environ, "SIMTUNE_CRASH_ALWAYS": "1", "SIMTUNE_CRASH_GATE": str(gate)}
    args = ["backend=python", "retries=1", "stop.max_trials=1", "n_workers=1"]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "experiments" / "run.py"), *CRASH_ONCE, *args,
         f"hydra.run.dir={out}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        results = out / "results.csv"
        while not (results.exists() and ",retried," in results.read_text()):
            assert proc.poll() is None, proc.stderr.read()[-3000:] if proc.stderr else ""
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert json.loads((out / "metadata.json").read_text())["complete"] is False
    gate.touch()
    run(out, *args, env={k: env[k] for k in ("SIMTUNE_CRASH_ALWAYS", "SIMTUNE_CRASH_GATE")})
    rows = rows_of(out)[0]
    assert rows["status"].tolist() == ["running", "running", "retried", "failed"]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["resumed"] == 1 and meta["n_failed"] == 1


@pytest.mark.parametrize("asha_type", ["stopping", "promotion"])
def test_keep_checkpoints_keeps_the_best_and_the_paused(tmp_path, monkeypatch, caplog,
                                                         asha_type):
    """keep_checkpoints=best:2: at the end, the checkpoints left are those of the 2 best
    trials (highest fidelity, then lowest loss) and of the trials paused at the end
    (ASHA's promotion variant pauses them); the others' are gone (ASHA's stopping
    variant stops them); one line says the disk use."""
    monkeypatch.setenv("SIMTUNE_CRASH_AT", "0")
    caplog.set_level(logging.INFO, logger="simtune.checkpoints")
    keep = KeepCheckpoints(best=parse_keep("best:2"))
    tune(tmp_path, max_trials=9, scheduler="asha", type=asha_type, callbacks=[keep])
    trials = rows_of(tmp_path)
    assert len(trials) == 9
    top = sorted(trials, key=lambda t: (-trials[t]["epoch"].max(),
                                        trials[t]["loss"].iloc[-1], t))[:2]
    paused = {t for t, rows in trials.items() if rows["decision"].iloc[-1] == "pause"}
    assert bool(paused - set(top)) == (asha_type == "promotion")
    kept = {t for t in trials if (tmp_path / "trials" / f"trial_{t}" / "checkpoints").exists()}
    assert kept == set(top) | paused and keep.deleted == set(trials) - kept
    assert (keep.freed > 0) == (asha_type == "stopping")
    lines = [r.getMessage() for r in caplog.records if r.name == "simtune.checkpoints"]
    assert len(lines) == 1
    assert f"{len(kept)} trials keep theirs" in lines[0] and f"{9 - len(kept)} deleted" in lines[0]
