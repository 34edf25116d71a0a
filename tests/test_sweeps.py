"""Real sweeps through Hydra launchers (joblib, submitit_local, Ray), their reruns and analysis.

Each test runs experiments/run.py -m as a subprocess on the closed-form synthetic
benchmark with a small virtual budget, then checks the run directories it wrote.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from simtune.core.rundir import config_difference
from simtune.experiments.sweeps.progress import sweep_size
from tests.helpers import sweep

ROOT = Path(__file__).resolve().parents[1]


def output(proc: subprocess.CompletedProcess) -> str:
    """Everything a sweep printed (Hydra logs to stdout, errors go to stderr)."""
    return proc.stdout + proc.stderr


def runs_in(sweep_dir: Path) -> dict[str, dict]:
    """subdir name -> metadata of every run directory of a sweep."""
    return {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/metadata.json")}


def test_sweep_size_and_config_difference() -> None:
    assert sweep_size(["scheduler=random,asha", "seed=range(10)", "benchmark=synthetic"]) == 20
    assert sweep_size(["seed=0"]) == 1
    assert config_difference({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 2}}) is None
    assert config_difference({"b": {"c": 2}}, {"b": {"c": 2, "d": 0}}) == "b.d"


@pytest.mark.slow
def test_joblib_sweep_analysis_and_rerun_skips(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    args = ["hydra/launcher=joblib", "scheduler=random,asha", "seed=0,1",
            f"hydra.sweep.dir={sweep_dir}"]
    proc = sweep(args, tmp_path)
    runs = runs_in(sweep_dir)
    assert sorted(runs) == sorted(
        f"benchmark=synthetic,scheduler={s},seed={k},stop.max_wallclock=300"
        for s in ("random", "asha") for k in (0, 1))
    assert all(m["complete"] is True for m in runs.values())
    assert {(m["scheduler"]["name"], m["seed"]) for m in runs.values()} == {
        ("random", 0), ("random", 1), ("asha", 0), ("asha", 1)}
    assert "run 4/4 done" in output(proc) and "sweep done: 4 runs, 4 complete" in output(proc)
    progress = json.loads((sweep_dir / "progress.json").read_text())
    assert progress == {"total": 4, "done": 4, "complete": 4, "skipped": 0, "held": 0,
                        "failed": 0}

    out = tmp_path / "analysis"
    ana = subprocess.run([sys.executable, str(ROOT / "analysis" / "plot_results.py"),
                          str(sweep_dir), "--out", str(out), "--x", "trials"],
                         capture_output=True, text=True, timeout=300)
    assert ana.returncode == 0, ana.stderr
    assert "4 runs, 1 task(s), schedulers: asha, random" in ana.stdout
    table = (out / "regret_table.md").read_text()
    assert "| asha | " in table and "| random | " in table
    tasks = pd.read_csv(out / "tasks.csv")
    assert tasks.loc[0, "optimum"] == pytest.approx(0.397887, abs=1e-6)  # Branin's minimum
    assert tasks.loc[0, "optimum_source"] == "metadata optimum"
    assert (out / "summary.png").stat().st_size > 10_000

    mtimes = {p: p.stat().st_mtime_ns for p in sweep_dir.glob("*/results.csv")}
    again = sweep(args, tmp_path)
    assert output(again).count("already holds a complete run of this config") == 4
    assert "is launching" not in output(again)  # left out before the launcher saw them
    assert "sweep done: 4 runs, 0 complete, 4 skipped" in output(again)
    assert {p: p.stat().st_mtime_ns for p in sweep_dir.glob("*/results.csv")} == mtimes


@pytest.mark.slow
def test_failing_run_does_not_stop_the_sweep(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = sweep(["benchmark.task=bogus,branin", f"hydra.sweep.dir={sweep_dir}"], tmp_path,
                 check=False)
    assert proc.returncode == 1
    bad = sweep_dir / "benchmark.task=bogus,benchmark=synthetic,stop.max_wallclock=300"
    good = sweep_dir / "benchmark.task=branin,benchmark=synthetic,stop.max_wallclock=300"
    reason = (bad / "failed.txt").read_text()
    assert reason.count("\n") == 1
    assert reason.startswith("ValueError: benchmark 'synthetic' has no task 'bogus'")
    assert json.loads((good / "metadata.json").read_text())["complete"] is True
    assert not (good / "failed.txt").exists()
    assert "1 complete, 0 skipped (already complete), 1 failed" in output(proc)
    assert f"error: 1 of 2 runs failed; reasons in {bad / 'failed.txt'}" in proc.stderr


@pytest.mark.slow
def test_submitit_local_sweep(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = sweep(["hydra/launcher=submitit_local", "seed=0,1", f"hydra.sweep.dir={sweep_dir}"],
                 tmp_path)
    runs = runs_in(sweep_dir)
    assert sorted(m["seed"] for m in runs.values()) == [0, 1]
    assert all(m["complete"] is True for m in runs.values())
    assert "Submitit 'local' sweep output dir" in output(proc)
    assert any((sweep_dir / ".submitit").iterdir())  # the jobs went through submitit


@pytest.mark.slow
@pytest.mark.ray
def test_ray_local_sweep(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_ray_launcher",
                        reason='opt-in: pip install -e ".[ray-launcher]" (pins cloudpickle<3)')
    sweep_dir = tmp_path / "sweep"
    proc = sweep(["hydra/launcher=ray_cluster", "seed=0,1", f"hydra.sweep.dir={sweep_dir}"],
                 tmp_path)
    runs = runs_in(sweep_dir)
    assert sorted(m["seed"] for m in runs.values()) == [0, 1]
    assert all(m["complete"] is True for m in runs.values())
    assert "Started a local Ray instance" in output(proc)
    assert "sweep done: 2 runs, 2 complete" in output(proc)


def test_slurm_launcher_config_composes(tmp_path: Path) -> None:
    # no SLURM here: check that conf/hydra/launcher/slurm.yaml builds on the plugin's schema
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "run.py"), "hydra/launcher=slurm",
         "hydra.launcher.partition=gpu", "--cfg", "hydra", "--package", "hydra.launcher"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "SlurmLauncher" in proc.stdout
    for line in ("partition: gpu", "cpus_per_task: 1", "mem_gb: 4", "timeout_min: 120"):
        assert line in proc.stdout
