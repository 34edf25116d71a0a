"""experiments/reproduce.sh end to end on a small slice: sweeps, left-out families, analyses."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_reproduce_slice_with_a_missing_family(tmp_path):
    out, results = tmp_path / "multirun", tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMTUNE_LCBENCH")}
    env.update({
        "PYTHON": sys.executable, "SEEDS": "2", "SCHEDULERS": "random,asha", "MAX_TASKS": "1",
        "FAMILIES": "synthetic lcbench bogus mlp_sklearn nasbench201", "OUT": str(out),
        "RESULTS": str(results), "N_JOBS": "2", "SIMTUNE_CACHE": str(tmp_path / "cache"),
    })
    proc = subprocess.run(["bash", str(ROOT / "experiments" / "reproduce.sh")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=1800)
    # lcbench has no raw files here and bogus is no benchmark: both left out, status 1
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "reproduce: lcbench left out: raw files needed" in proc.stderr
    assert "reproduce: benchmark bogus is not registered; left out" in proc.stderr
    for family, task in (("synthetic", "branin"), ("mlp_sklearn", "digits")):
        for kind, scheduler in (("single_fidelity", "random"), ("multi_fidelity", "asha")):
            runs = sorted((out / family / kind).glob(f"benchmark.task={task},*"))
            assert len(runs) == 2  # 2 seeds, first task only
            assert all(f"scheduler={scheduler}," in run.name for run in runs)
            assert all((run / "results.csv").is_file() for run in runs)
        md = (results / family / "regret_table.md").read_text()
        assert "| asha |" in md and "| random |" in md
    # NAS-Bench-201 offline has the final epoch only: asha would be random search there
    assert "reproduce: nasbench201 has one fidelity (no learning curves): asha left out" \
        in proc.stderr
    assert not (out / "nasbench201" / "multi_fidelity").exists()
    assert len(list((out / "nasbench201" / "single_fidelity").glob("*seed=*"))) == 2
    # pooled: the single-fidelity schedulers on every table; multi_fidelity/: all
    # schedulers on the tables with learning curves
    pooled = (results / "regret_table.md").read_text()
    assert "1 = median first-reported value" in pooled
    assert "| random |" in pooled and "| asha |" not in pooled
    assert (results / "summary.png").read_bytes()[:4] == b"\x89PNG"
    curves = (results / "multi_fidelity" / "tasks.csv").read_text()
    assert "synthetic" in curves and "mlp_sklearn" in curves and "nasbench201" not in curves
    assert "| asha |" in (results / "multi_fidelity" / "regret_table.md").read_text()
    timings = (out / "timings.txt").read_text().split("\n")
    assert [line.split()[0] for line in timings if line] == [
        "synthetic", "mlp_sklearn", "nasbench201", "all"]


def test_default_schedulers_come_from_the_declared_kinds(tmp_path):
    """No SCHEDULERS given: the single-objective schedulers of the registry, split by
    multi_fidelity (the old rule, "constructor takes metric", dropped bohb, dehb,
    hyperband, mobster, pasha and sync_sh, and kept moasha and morea)."""
    env = {**os.environ, "PYTHON": sys.executable, "FAMILIES": "bogus",
           "OUT": str(tmp_path / "multirun"), "RESULTS": str(tmp_path / "results")}
    proc = subprocess.run(["bash", "-x", str(ROOT / "experiments" / "reproduce.sh")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1  # the only family is no benchmark
    assert ("SINGLE=bo,grid,random,rea,tpe,bore,cqr,zero_shot,quantile_based,bounding_box"
            in proc.stderr)
    assert ("MULTI=asha,bohb,dehb,hyperband,hypertune,hypertune_hyperband,median_stopping,"
            "mobster,asha_bore,asha_cqr,pasha,pbt,sync_hyperband,sync_sh") in proc.stderr


def test_a_slice_never_writes_into_the_committed_results(tmp_path):
    """A quick slice (FIRST_TASK_ONLY=1, other FAMILIES, SEEDS...) without RESULTS puts its
    analysis beside its runs; only the whole comparison defaults to docs/results."""
    out = tmp_path / "multirun"
    env = {**os.environ, "PYTHON": sys.executable, "FAMILIES": "bogus", "SEEDS": "1",
           "FIRST_TASK_ONLY": "1", "OUT": str(out)}
    env.pop("RESULTS", None)
    before = {p: p.stat().st_mtime_ns for p in (ROOT / "docs" / "results").rglob("*")}
    proc = subprocess.run(["bash", str(ROOT / "experiments" / "reproduce.sh")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1  # the only family is no benchmark
    assert f"reproduce: runs into {out}, analysis into {out}/analysis" in proc.stderr
    after = {p: p.stat().st_mtime_ns for p in (ROOT / "docs" / "results").rglob("*")}
    assert after == before
