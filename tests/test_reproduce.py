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
        "FAMILIES": "synthetic lcbench bogus mlp_sklearn", "OUT": str(out),
        "RESULTS": str(results), "N_JOBS": "2", "SIMTUNE_CACHE": str(tmp_path / "cache"),
    })
    proc = subprocess.run(["bash", str(ROOT / "experiments" / "reproduce.sh")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)
    # lcbench has no raw files here and bogus is no benchmark: both left out, status 1
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "reproduce: lcbench left out: raw files needed" in proc.stderr
    assert "reproduce: benchmark bogus is not registered; left out" in proc.stderr
    for family, task in (("synthetic", "branin"), ("mlp_sklearn", "digits")):
        runs = sorted((out / family).glob(f"benchmark.task={task},*"))
        assert len(runs) == 4  # 2 schedulers x 2 seeds, first task only
        assert all((run / "results.csv").is_file() for run in runs)
        md = (results / family / "regret_table.md").read_text()
        assert "| asha |" in md and "| random |" in md
    pooled = (results / "regret_table.md").read_text()
    assert "1 = median first-reported value" in pooled
    assert (results / "summary.png").read_bytes()[:4] == b"\x89PNG"
    timings = (out / "timings.txt").read_text().split("\n")
    assert [line.split()[0] for line in timings if line] == ["synthetic", "mlp_sklearn", "all"]
