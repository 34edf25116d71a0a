"""analysis/: run discovery, loading, curves on a common grid, and the CLI on synthetic runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simtune.analysis.curves import fraction_grid, run_curves
from simtune.analysis.load import AnalysisError, best_so_far, find_runs, load_runs, regret
from simtune.analysis.plot_results import main

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
              metric: str = "val_accuracy", task: str = "cifar10",
              args: dict | None = None) -> Path:
    """A run directory with exactly the schema the Tuner writes."""
    run_dir.mkdir(parents=True)
    meta = {
        "scheduler": {"name": scheduler, "args": {"eta": 3} if args is None else args},
        "benchmark": "nasbench201",
        "task": task,
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

    assert df.loc[df.run_dir == run0.run_dir.iloc[0], "trials"].tolist() == [1.0, 2.0, 3.0]
    incomplete = df[~df["complete"]]
    assert incomplete["run_dir"].nunique() == 1 and incomplete["seed"].tolist() == [3]


def test_trials_count_distinct_trials_in_time_order(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", "asha", 0, True, [(1.0, 50.0)])
    (run / "results.csv").write_text(
        "trial_id,time,epoch,val_accuracy\n0,1.0,1,50\n1,2.0,1,60\n0,3.0,3,70\n2,4.0,1,40\n"
        "1,5.0,3,80\n")
    df = load_runs([tmp_path])
    assert df["trials"].tolist() == [1.0, 2.0, 2.0, 3.0, 3.0]
    assert df["best_so_far"].tolist() == [50.0, 60.0, 70.0, 70.0, 80.0]


def complete_runs(runs_root: Path):
    df = load_runs([runs_root])
    return df[df["complete"]]


def test_run_curves_median_reference_hand_computed(runs_root: Path) -> None:
    # first reports of the complete runs: 80, 70, 88, 60, 85, 50 -> median 75; normalized
    # regret = (95 - best) / 20, clipped to 1 for runs worse than the median first report
    curves, tasks = run_curves(complete_runs(runs_root), "time", np.array([0.25, 1.0]),
                               reference="median")
    assert tasks.iloc[0].reference == 75.0
    at = curves.set_index(["scheduler", "seed", "fraction"])["norm_regret"]
    assert at[("asha", 1, 1.0)] == pytest.approx(3 / 20)  # best 92
    assert at[("asha", 0, 0.25)] == pytest.approx(5 / 20)  # at 5 s best 90
    assert at[("random", 0, 0.25)] == 1.0  # best 60 < the median first report: clipped
    assert at[("random", 2, 1.0)] == pytest.approx(15 / 20)
    with pytest.raises(AnalysisError, match="--reference must be one of worst, median"):
        run_curves(complete_runs(runs_root), "time", np.array([1.0]), reference="best")


def test_run_curves_normalized_regret_hand_computed(runs_root: Path) -> None:
    # complete runs: budget = last report = 20 s; optimum 95 (metadata); reference = the
    # worst first report = 50 (random seed 2); normalized regret = (95 - best) / 45
    curves, tasks = run_curves(complete_runs(runs_root), "time", np.array([0.25, 1.0]))
    info = tasks.iloc[0]
    assert (info.budget, info.optimum, info.reference) == (20.0, 95.0, 50.0)
    assert info.optimum_source == "metadata optimum" and info.n_runs == 6
    at = curves.set_index(["scheduler", "seed", "fraction"])["norm_regret"]
    assert at[("asha", 1, 1.0)] == pytest.approx(3 / 45)  # best 92
    assert at[("random", 0, 0.25)] == pytest.approx(35 / 45)  # at 5 s best 60
    assert at[("random", 2, 0.25)] == pytest.approx(1.0)  # at 5 s best 50 = reference
    assert at[("random", 2, 1.0)] == pytest.approx(15 / 45)
    assert ((curves.norm_regret >= 0) & (curves.norm_regret <= 1)).all()
    x = curves.set_index(["scheduler", "seed", "fraction"])["x"]
    assert x[("asha", 0, 0.25)] == 5.0


def test_run_curves_without_optimum_use_best_found(runs_root: Path) -> None:
    df = complete_runs(runs_root).assign(optimum=np.nan)
    curves, tasks = run_curves(df, "trials", np.array([1.0]))
    assert tasks.iloc[0].optimum == 92.0 and tasks.iloc[0].optimum_source == "best value found"
    assert tasks.iloc[0].budget == 3.0  # most trials of a run
    assert curves.norm_regret.min() == 0.0


def test_fraction_grid_log_for_time_linear_for_trials(runs_root: Path) -> None:
    df = complete_runs(runs_root)
    grid, is_log = fraction_grid(df, "time", 10)
    assert not is_log and grid[-1] == 1.0 and len(grid) == 10  # first report at 5% of 20 s
    df = df.assign(time=df["time"] ** 3)  # first report now at 1/8000 of the budget
    grid, is_log = fraction_grid(df, "time", 10)
    assert is_log and grid[0] == pytest.approx(1 / 8000) and grid[-1] == pytest.approx(1.0)
    assert not fraction_grid(df, "trials", 10)[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "analysis/plot_results.py", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)


def test_cli_end_to_end(runs_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli(str(runs_root), "--out", str(out), "--agg", "median",
                   "--budget-fractions", "1.0", "0.25")
    assert proc.returncode == 0, proc.stderr
    for name in ("tasks.png", "summary.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / name).with_suffix(".pdf").read_bytes()[:4] == b"%PDF"
    md = (out / "regret_table.md").read_text()
    # medians of (95 - best) / 45: asha at 5 s and 20 s: bests 90, 92, 88 -> 5/45;
    # random at 5 s: 60, 85, 50 -> 35/45; at 20 s: 75, 85, 80 -> 15/45
    assert "| scheduler | 25% budget | 100% budget |" in md
    assert "| asha | **0.111** [" in md and "| random | 0.778 [" in md
    assert "0.333 [" in md and "than random" in md  # random is the default baseline
    assert md in proc.stdout
    assert r"\begin{tabular}{lcc}" in (out / "regret_table.tex").read_text()
    assert "1 of 8 runs are incomplete (complete=false: interrupted or crashed) and left out" \
        in proc.stderr
    assert "1 of 8 runs have no reports and are left out: " in proc.stderr
    runs = pd.read_csv(out / "runs.csv").set_index("seed")
    assert runs.loc[4, "left_out"] == "no reports" and runs.loc[4, "n_reports"] == 0
    assert runs.loc[3, "left_out"] == "incomplete"
    assert runs["left_out"].isna().sum() == 6  # used: "" reads back as NaN
    assert "no critical-difference diagram: it needs >= 3 tasks" in proc.stderr
    assert not (out / "critical_difference.png").exists()
    assert "n too small" in (out / "per_task_table.md").read_text()  # 3 seeds per task


def test_include_incomplete_uses_the_interrupted_run(runs_root: Path, tmp_path: Path,
                                                     capsys) -> None:
    out = tmp_path / "out"
    assert main([str(runs_root), "--out", str(out), "--include-incomplete"]) == 0
    assert "1 of 8 runs are incomplete (complete=false: interrupted or crashed) and used " \
        "up to their last report" in capsys.readouterr().err
    runs = pd.read_csv(out / "runs.csv").set_index("seed")
    assert pd.isna(runs.loc[3, "left_out"]) and not runs.loc[3, "complete"]
    assert runs.loc[4, "left_out"] == "no reports"  # still no reports: still left out


def test_cli_median_reference(runs_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main([str(runs_root), "--out", str(out), "--reference", "median", "--agg", "median",
                 "--budget-fractions", "1.0"]) == 0
    md = (out / "regret_table.md").read_text()
    # at 20 s, (95 - best) / 20: asha bests 90, 92, 88 -> median 0.25; random 75, 85, 80 -> 0.75
    assert "| asha | **0.250** [" in md and "| random | 0.750 [" in md
    assert "1 = median first-reported value of the task, clipped at 1" in md
    again = tmp_path / "again"
    assert main([str(runs_root), "--out", str(again), "--reference", "median", "--agg",
                 "median", "--budget-fractions", "1.0"]) == 0
    for name in ("summary.pdf", "tasks.pdf", "summary.png", "regret_table.md"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_different_metrics_need_metric_flag(tmp_path: Path, capsys) -> None:
    write_run(tmp_path / "a", "asha", 0, True, [(1.0, 80.0)], metric="val_accuracy")
    write_run(tmp_path / "b", "asha", 1, True, [(1.0, 70.0)], metric="val_loss")
    out = tmp_path / "out"
    assert main([str(tmp_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "runs of nasbench201/cifar10 use different metrics ['val_accuracy', 'val_loss']" in err
    assert "--metric" in err
    assert main([str(tmp_path), "--out", str(out), "--metric", "val_loss"]) == 0
    assert (out / "regret_table.md").is_file()


@pytest.mark.parametrize(("kind", "message"), [
    ("missing", "does not exist"),
    ("empty", "no runs found below"),
    ("baseline", "--baseline 'bohb' has no runs; schedulers: asha, random"),
    ("fractions", "--budget-fractions must lie in (0, 1], got [0.5, 2.0]"),
])
def test_cli_errors_are_one_line(runs_root: Path, tmp_path: Path, kind: str,
                                 message: str, capsys) -> None:
    target = tmp_path / "nope"
    if kind == "empty":
        target.mkdir()
    extra = {"baseline": ["--baseline", "bohb"], "fractions": ["--budget-fractions", "0.5", "2"]}
    if kind in extra:
        target = runs_root
    assert main([str(target), "--out", str(tmp_path / "out"), *extra.get(kind, [])]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert message in lines[-1] and lines[-1].startswith("plot_results.py: error: ")
    assert all(line.startswith("note: ") for line in lines[:-1])
    assert not (tmp_path / "out" / "regret_table.md").exists()


def test_variants_are_not_pooled(tmp_path: Path) -> None:
    for seed in range(3):
        write_run(tmp_path / f"s{seed}", "asha", seed, True, [(1.0, 80.0), (5.0, 90.0)],
                  args={"eta": 3, "type": "stopping"})
        write_run(tmp_path / f"p{seed}", "asha", seed, True, [(1.0, 70.0), (5.0, 75.0)],
                  args={"eta": 3, "type": "promotion"})
        write_run(tmp_path / f"r{seed}", "random", seed, True, [(1.0, 60.0), (5.0, 85.0)])
    out = tmp_path / "out"
    assert main([str(tmp_path), "--out", str(out), "--agg", "median",
                 "--budget-fractions", "1.0"]) == 0
    md = (out / "regret_table.md").read_text()
    # worst first report 60: (95 - 90) / 35 and (95 - 75) / 35; eta is the same: not shown
    assert "| asha(type=stopping) | **0.143** [" in md
    assert "| asha(type=promotion) | 0.571 [" in md
    labels = pd.read_csv(out / "runs.csv").groupby("label").size().to_dict()
    assert labels == {"asha(type=promotion)": 3, "asha(type=stopping)": 3, "random": 3}


def test_zero_report_runs_are_reported_not_crashed_on(tmp_path: Path, capsys) -> None:
    write_run(tmp_path / "a", "asha", 0, True, [(1.0, 80.0)])
    empty = write_run(tmp_path / "b", "asha", 1, True, [])
    (empty / "results.csv").write_text("")  # not even a header
    nan = write_run(tmp_path / "c", "random", 0, True, [(1.0, 80.0)])
    (nan / "results.csv").write_text("trial_id,time,val_accuracy\n0,1.0,\n")  # no value
    out = tmp_path / "out"
    assert main([str(tmp_path), "--out", str(out), "--baseline", "asha"]) == 0
    err = capsys.readouterr().err
    assert "2 of 3 runs have no reports and are left out: " in err
    assert str(empty) in err and str(nan) in err
    assert main([str(tmp_path / "b"), "--out", str(out)]) == 2
    assert "all 1 runs below" in capsys.readouterr().err


def test_python_api_run_with_small_metadata(tmp_path: Path, capsys) -> None:
    """A run written through the Python API (core.rundir.open_run) with only what the user
    passed."""
    run = tmp_path / "api"
    run.mkdir()
    (run / "metadata.json").write_text(json.dumps({"metric": "loss", "mode": "min",
                                                   "complete": True}))
    (run / "results.csv").write_text(
        "trial_id,time,epoch,loss,decision,status,config_lr\n"
        "0,1.0,1,0.9,continue,running,0.1\n1,1.5,1,0.7,stop,stopped,0.01\n"
        "0,2.0,2,0.5,continue,completed,0.1\n")
    out = tmp_path / "out"
    assert main([str(tmp_path), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "1 run(s) have no 'task' in metadata.json; analysed as 'task=unknown'" in err
    assert (out / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # one run: its view
    (run / "metadata.json").write_text(json.dumps({"metric": "loss", "complete": True}))
    assert main([str(tmp_path), "--out", str(out)]) == 2
    assert "no key 'mode' (nor 'objectives') for metric 'loss'" in capsys.readouterr().err
    (run / "metadata.json").write_text(json.dumps({"complete": True}))
    assert main([str(tmp_path), "--out", str(out)]) == 2
    assert "no key 'metric'; name the objective with --metric" in capsys.readouterr().err


def test_run_view_fates(tmp_path: Path) -> None:
    from simtune.analysis.run_view import fates
    from simtune.analysis.run_view import main as run_view_main

    run = write_run(tmp_path / "r", "asha", 0, True, [])
    (run / "results.csv").write_text(
        "trial_id,time,epoch,val_accuracy,decision,status,config_lr\n"
        "0,1.0,1,50,continue,running,0.1\n1,1.5,1,40,stop,stopped,0.2\n"
        "2,1.7,1,60,pause,paused,0.3\n0,2.0,2,70,continue,completed,0.1\n"
        "3,2.5,1,65,continue,running,0.4\n")
    got = fates(pd.read_csv(run / "results.csv")).to_dict()
    assert got == {0: "completed", 1: "stopped", 2: "paused", 3: "running at the end"}
    assert run_view_main([str(run), "--out", str(tmp_path / "view")]) == 0
    assert (tmp_path / "view" / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_critical_difference_and_highlight_on_three_tasks(tmp_path: Path) -> None:
    for t, task in enumerate(["cifar10", "cifar100", "imagenet"]):
        for seed in range(2):
            for sched, acc in (("random", 70.0), ("asha", 80.0), ("bo", 85.0)):
                write_run(tmp_path / task / f"{sched}{seed}", sched, seed, True,
                          [(1.0, 60.0), (4.0, acc + t + seed)], task=task)
    out = tmp_path / "out"
    assert main([str(tmp_path), "--out", str(out), "--highlight", "bo"]) == 0
    assert (out / "critical_difference.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pairs = pd.read_csv(out / "pairwise.csv")
    assert len(pairs) == 3 and not pairs["significant"].any()  # 3 tasks: n too small
    assert main([str(tmp_path), "--out", str(out), "--highlight", "tpe"]) == 2


def write_mo_run(run_dir: Path, scheduler: str, seed: int, rows: list) -> Path:
    """A multi-objective run: f1 (min) and acc (max) optimized by the scheduler."""
    run_dir.mkdir(parents=True)
    meta = {"scheduler": {"name": scheduler, "args": {"metrics": None},
                          "details": {"derived": {"objectives": {"f1": "min", "acc": "max"}}}},
            "benchmark": "synthetic", "task": "toy", "metric": "f1", "mode": "min",
            "objectives": {"f1": "min", "acc": "max"}, "seed": seed, "complete": True}
    (run_dir / "metadata.json").write_text(json.dumps(meta))
    lines = ["trial_id,time,epoch,f1,acc,decision,status"]
    lines += [f"{i},{t},1,{f1},{acc},continue,completed" for i, (t, f1, acc) in enumerate(rows)]
    (run_dir / "results.csv").write_text("\n".join(lines) + "\n")
    return run_dir


def test_multiobjective_outputs_hand_computed(tmp_path: Path) -> None:
    # minimized: (f1, 1 - acc); all points lie in [0, 1]^2, so scaling is the identity
    # and the reference point is (1.1, 1.1), i.e. f1 = 1.1 and acc = -0.1.
    # All points (0, 1), (1, 0), (0.5, 0.5): hypervolume 0.05 + 0.30 + 0.11 = 0.46.
    write_mo_run(tmp_path / "a", "moasha", 0, [(1.0, 0.0, 0.0), (2.0, 1.0, 1.0)])
    write_mo_run(tmp_path / "b", "morea", 0, [(1.0, 0.5, 0.5)])
    out = tmp_path / "out"
    assert main([str(tmp_path), "--out", str(out), "--budget-fractions", "0.5", "1.0",
                 "--baseline", "moasha"]) == 0
    for name in ("pareto.png", "hypervolume.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / name).with_suffix(".pdf").read_bytes()[:4] == b"%PDF"
    task = pd.read_csv(out / "hypervolume_tasks.csv").iloc[0]
    assert task.reference_point == "1.1,-0.1" and task.objectives == "f1,acc"
    assert task.hypervolume_all_runs == pytest.approx(0.46)
    md = (out / "hypervolume_table.md").read_text()
    # moasha: at t <= 1 only (0, 1): 0.11 / 0.46; at the end (0, 1), (1, 0): 0.21 / 0.46
    assert "| moasha | 0.239 [0.239, 0.239] | 0.457 [0.457, 0.457] |" in md
    assert "| morea | 0.783 [0.783, 0.783] | 0.783 [0.783, 0.783] |" in md
    assert "reference point 1.1 in every scaled objective" in md


@pytest.mark.parametrize("details", [
    {"derived": {"objectives": {"f1": "min", "acc": "max"}}},  # metadata since 2026-12
    {"args": {"objectives": {"f1": "min", "acc": "max"}}},  # runs written before
])
def test_mo_objectives_read_from_either_metadata_shape(details):
    from simtune.analysis.mo import hv_objectives

    meta = {"scheduler": {"name": "moasha", "args": {"metrics": None}, "details": details}}
    assert hv_objectives(meta) == ["f1", "acc"]
    single = {"scheduler": {"name": "asha", "args": {}, "details": {"args": {"eta": 3}}}}
    assert hv_objectives(single) == []
