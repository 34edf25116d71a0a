"""Tests for analysis/: run discovery, best-so-far, resampling, summaries and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.load import AnalysisError, best_so_far, find_runs, load_runs, regret
from analysis.plot_results import main, quantiles, resample, summarize, time_grid

REPO_ROOT = Path(__file__).resolve().parent.parent
OPTIMUM = 95.0

# (scheduler, seed, complete, [(time, val_accuracy), ...]); trial ids are row numbers.
RUNS = [
    ("asha", 0, True, [(1.0, 80.0), (2.0, 90.0), (3.0, 85.0)]),
    ("asha", 1, True, [(2.0, 70.0), (4.0, 92.0)]),
    ("asha", 2, True, [(1.0, 88.0), (5.0, 86.0)]),
    ("random", 0, True, [(1.0, 60.0), (10.0, 75.0)]),
    ("random", 1, True, [(3.0, 85.0), (20.0, 70.0)]),
    ("random", 2, True, [(2.0, 50.0), (8.0, 80.0)]),
    ("random", 3, False, [(4.0, 91.0)]),  # crashed / still running
    ("asha", 4, True, []),  # header only
]


def write_run(run_dir: Path, scheduler: str, seed: int, complete: bool, rows: list,
              metric: str = "val_accuracy") -> Path:
    """A run directory with exactly the schema the Tuner writes."""
    run_dir.mkdir(parents=True)
    meta = {
        "scheduler": {"name": scheduler, "args": {"eta": 3}},
        "benchmark": "nasbench201",
        "task": "cifar10",
        "metric": metric,
        "mode": "max" if metric == "val_accuracy" else "min",
        "objectives": {"val_accuracy": "max", "val_loss": "min"},
        "fidelity_name": "epoch",
        "seed": seed,
        "n_workers": 4,
        "backend": "simulated",
        "optimum": {"val_accuracy": OPTIMUM},
        "stop": {"max_time": 100},
        "versions": {"simtune": "0.1.0"},
        "complete": complete,
    }
    (run_dir / "metadata.json").write_text(json.dumps(meta))
    lines = ["trial_id,time,epoch,val_accuracy,val_loss,decision,status,config_lr"]
    for i, (t, acc) in enumerate(rows):
        lines.append(f"{i},{t},1,{acc},{(100 - acc) / 100},continue,running,0.0{i + 1}")
    (run_dir / "results.csv").write_text("\n".join(lines) + "\n")
    return run_dir


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "multirun"
    for i, (sched, seed, complete, rows) in enumerate(RUNS):
        write_run(root / "2024-05-01" / "12-00-00" / str(i), sched, seed, complete, rows)
    decoy = root / "2024-05-01" / "12-00-00" / "decoy"  # metadata but no results.csv
    decoy.mkdir()
    (decoy / "metadata.json").write_text("{}")
    return root


def test_find_runs_finds_nested_runs_only(runs_root: Path) -> None:
    runs = find_runs([runs_root, runs_root / "2024-05-01"])  # overlapping dirs: no duplicates
    assert [r.name for r in runs] == [str(i) for i in range(len(RUNS))]
    assert all((r / "results.csv").is_file() for r in runs)


def test_find_runs_rejects_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match="does not exist"):
        find_runs([tmp_path / "nope"])


def test_best_so_far_max_and_min() -> None:
    got = best_so_far(np.array([np.nan, 3.0, 1.0, 4.0, 2.0]), "max")
    np.testing.assert_array_equal(got, [np.nan, 3.0, 3.0, 4.0, 4.0])
    got = best_so_far(np.array([5.0, 7.0, 2.0, np.nan, 3.0]), "min")
    np.testing.assert_array_equal(got, [5.0, 5.0, 2.0, 2.0, 2.0])
    with pytest.raises(ValueError, match="mode"):
        best_so_far(np.array([1.0]), "maximize")


def test_resample_is_a_step_function() -> None:
    times = np.array([1.0, 3.0, 3.0, 6.0])
    values = np.array([10.0, 8.0, 7.0, 5.0])
    grid = np.array([0.0, 0.999, 1.0, 2.0, 3.0, 5.9, 6.0, 100.0])
    got = resample(times, values, grid)
    np.testing.assert_array_equal(got, [np.nan, np.nan, 10.0, 10.0, 7.0, 7.0, 5.0, 5.0])
    assert np.isnan(resample(np.array([]), np.array([]), grid)).all()


def test_time_grid_log_only_beyond_two_decades() -> None:
    grid, is_log = time_grid(1.0, 1000.0, 4)
    assert is_log
    np.testing.assert_allclose(grid, [1.0, 10.0, 100.0, 1000.0])
    assert not time_grid(1.0, 50.0)[1]
    assert not time_grid(0.0, 1e5)[1]


def test_quantiles_count_unreported_runs_as_worst() -> None:
    curves = np.array([[1.0, 1.0], [2.0, np.nan], [np.nan, np.nan]])  # 3 runs x 2 times
    q25, q50, q75 = quantiles(curves, [0.25, 0.5, 0.75], lower_is_better=True)
    np.testing.assert_array_equal(q50, [2.0, np.nan])
    np.testing.assert_array_equal(q25, [1.5, np.nan])
    assert np.isnan(q75).all()
    q50_max = quantiles(-curves, [0.5], lower_is_better=False)[0]  # mode max, mirrored
    np.testing.assert_array_equal(q50_max, [-2.0, np.nan])


def test_load_runs_regret_uses_optimum(runs_root: Path) -> None:
    df = load_runs([runs_root])
    assert df["run_dir"].nunique() == len(RUNS) - 1  # header-only run has no rows
    assert set(df["scheduler"]) == {"asha", "random"}
    assert (df["optimum"] == OPTIMUM).all()
    np.testing.assert_allclose(df["regret"], OPTIMUM - df["best_so_far"])
    assert (df["regret"] >= 0).all()
    run0 = df[(df.scheduler == "asha") & (df.seed == 0)]
    assert run0["best_so_far"].tolist() == [80.0, 90.0, 90.0]
    assert run0["regret"].tolist() == [15.0, 5.0, 5.0]
    np.testing.assert_array_equal(regret(np.array([3.0, 2.0]), 1.0, "min"), [2.0, 1.0])


def test_summarize_final_values(runs_root: Path) -> None:
    table = summarize(load_runs([runs_root])).set_index("scheduler")
    # asha finals 90, 92, 88; random finals 75, 85, 80 and 91 (incomplete run)
    assert table.loc["asha", "n_runs"] == 3
    assert table.loc["asha", "best_median"] == 90.0
    assert table.loc["asha", "regret_median"] == 5.0
    assert table.loc["random", "n_runs"] == 4
    assert table.loc["random", "n_incomplete"] == 1
    assert table.loc["random", "best_median"] == 82.5
    assert table.loc["random", "regret_median"] == 12.5
    assert table.loc["random", "best_q25"] == pd.Series([75.0, 85, 80, 91]).quantile(0.25)


def test_different_metrics_need_metric_flag(tmp_path: Path, capsys) -> None:
    write_run(tmp_path / "a", "asha", 0, True, [(1.0, 80.0)], metric="val_accuracy")
    write_run(tmp_path / "b", "asha", 1, True, [(1.0, 70.0)], metric="val_loss")
    out = tmp_path / "fig.png"
    assert main([str(tmp_path), "--out", str(out)]) == 2
    assert "different metrics" in capsys.readouterr().err
    assert main([str(tmp_path), "--out", str(out), "--metric", "val_loss"]) == 0
    assert "val_loss" in capsys.readouterr().out
    assert out.stat().st_size > 0


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "analysis/plot_results.py", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_end_to_end(runs_root: Path, tmp_path: Path) -> None:
    png = tmp_path / "out" / "fig.png"
    proc = run_cli(str(runs_root), "--out", str(png))
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 1000
    assert "asha" in proc.stdout and "random" in proc.stdout
    assert "82.5" in proc.stdout  # random's median final best
    assert str(png) in proc.stdout
    assert "1 of 8 runs are incomplete" in proc.stderr
    assert "1 of 8 runs have no reports" in proc.stderr


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_cli_errors_are_one_line(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "nope"
    if kind == "empty":
        target.mkdir()
    proc = run_cli(str(target), "--out", str(tmp_path / "x.png"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert ("does not exist" if kind == "missing" else "no runs found") in lines[0]
    assert not (tmp_path / "x.png").exists()
