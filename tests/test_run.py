"""End to end through Hydra: the commands a user types, as subprocesses."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = [sys.executable, str(ROOT / "experiments" / "run.py")]


def _run(args, cwd, check=True):
    # a cache of its own: other tests leave partial (3-architecture) NATS tables behind
    env = {**os.environ, "SIMTUNE_CACHE": str(Path(cwd) / "cache")}
    proc = subprocess.run([*RUN, *args, "progress=false"], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"run.py failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.mark.slow
def test_multirun_two_schedulers_two_seeds(tmp_path):
    sweep = tmp_path / "sweep"
    _run(["-m", "scheduler=random,tpe", "benchmark=nasbench201", "seed=0,1",
          f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    runs = sorted(p.parent for p in sweep.glob("*/metadata.json"))
    assert len(runs) == 4
    seen = set()
    for run in runs:
        meta = json.loads((run / "metadata.json").read_text())
        assert meta["complete"] is True
        assert (meta["benchmark"], meta["task"], meta["metric"], meta["mode"]) == (
            "nasbench201", "cifar10", "val_accuracy", "max")
        assert meta["n_workers"] == 4 and meta["backend"]["name"] == "simulated"
        assert meta["versions"]["numpy"] and meta["stop"]["max_wallclock"] == 43200
        seen.add((meta["scheduler"]["name"], meta["seed"]))
        df = pd.read_csv(run / "results.csv")
        assert list(df.columns[:3]) == ["trial_id", "time", "epoch"]
        assert {"val_accuracy", "decision", "status", "config_op0", "config_op5"} <= set(df.columns)
        assert df["time"].is_monotonic_increasing and df["time"].max() <= 43200
        reports = df[df["decision"].notna()]
        assert (reports["epoch"] == 200).all()  # final-epoch table
        ends = df[df["decision"].isna()]  # trials the budget stopped before their report
        assert (ends["status"] == "stopped").all() and (ends["time"] == 43200).all()
        # NAS-Bench-201 cifar10 validation accuracies lie within [0, 100], best ~91.6
        assert reports["val_accuracy"].between(0, 100).all()
        assert df["val_accuracy"].max() <= meta["optimum"]["val_accuracy"] <= 100
        assert len(df) > 50  # 12 h / ~2,000 s per trial x 4 workers
    assert seen == {("random", 0), ("random", 1), ("tpe", 0), ("tpe", 1)}


@pytest.mark.slow
def test_allow_single_fidelity_runs_it_and_the_analysis_marks_it(tmp_path):
    """asha on NAS-Bench-201's final-epoch table: refused, unless allow_single_fidelity=true;
    then metadata.json says so, the run is the random search it is, and the figures'
    label says '(1 fidelity)'."""
    common = ["benchmark=nasbench201", "stop.max_wallclock=20000"]
    refused = _run(["scheduler=asha", *common, f"hydra.run.dir={tmp_path / 'no'}"],
                   cwd=tmp_path, check=False)
    assert refused.returncode == 2 and "allow_single_fidelity=true runs it" in refused.stderr
    assert not (tmp_path / "no").exists()
    _run(["scheduler=asha", *common, "allow_single_fidelity=true",
          f"hydra.run.dir={tmp_path / 'runs' / 'asha'}"], cwd=tmp_path)
    _run(["scheduler=random", *common, f"hydra.run.dir={tmp_path / 'runs' / 'random'}"],
         cwd=tmp_path)
    meta = json.loads((tmp_path / "runs" / "asha" / "metadata.json").read_text())
    assert meta["allow_single_fidelity"] is True and meta["fidelities"] == [200]
    assert "allow_single_fidelity" not in json.loads(
        (tmp_path / "runs" / "random" / "metadata.json").read_text())
    asha, rand = (pd.read_csv(tmp_path / "runs" / n / "results.csv") for n in ("asha", "random"))
    assert (asha["epoch"].dropna() == 200).all()
    cols = ["trial_id", "time", "val_accuracy", *[f"config_op{i}" for i in range(6)]]
    pd.testing.assert_frame_equal(asha[cols], rand[cols])  # random search, in effect
    proc = subprocess.run([sys.executable, str(ROOT / "analysis" / "plot_results.py"),
                           str(tmp_path / "runs"), "--out", str(tmp_path / "fig")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = pd.read_csv(tmp_path / "fig" / "runs.csv")
    assert sorted(runs["label"]) == ["asha (1 fidelity)", "random"]
    assert sorted(runs["family"]) == ["multi-fidelity, random search", "single-fidelity"]


@pytest.mark.slow
def test_same_seed_byte_identical_results(tmp_path):
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        _run(["benchmark=synthetic", "scheduler=asha", "seed=3", "stop.max_wallclock=4000",
              f"hydra.run.dir={out}"], cwd=tmp_path)
        outs.append((out / "results.csv").read_bytes())
    assert outs[0] == outs[1]
    assert outs[0].count(b"\n") > 100


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("scheduler=bogus", "error: scheduler=bogus: no such scheduler; available: asha, asha_"),
        ("benchmark=bogus", "error: benchmark=bogus: no such benchmark; available: custom,"),
        ("benchmark.task=mnist", "has no task 'mnist'; tasks: digits, breast_cancer, wine"),
        ("+scheduler.etta=2", "scheduler 'asha' has no parameter 'etta'"),
        ("stop.max_wallclock=-5", "stop.max_wallclock must be a positive number"),
    ],
)
def test_bad_input_one_clear_line(tmp_path, override, expected):
    proc = _run([override, f"hydra.run.dir={tmp_path / 'out'}"], cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_scheduler_lists_valid_names(tmp_path):
    proc = _run(["scheduler=bogus"], cwd=tmp_path, check=False)
    assert "asha" in proc.stderr and "random" in proc.stderr


@pytest.mark.slow
def test_a_run_of_an_older_simtune_is_refused_and_an_empty_run_runs_again(tmp_path):
    """metadata.json of an older simtune lacks stop.max_failures_before_report: another
    configuration, refused in one line; and a run an older simtune called complete
    although it made no valid report runs again."""
    out = tmp_path / "run"
    args = ["scheduler=random", "stop.max_trials=8", f"hydra.run.dir={out}"]
    _run(args, cwd=tmp_path)
    path = out / "metadata.json"
    meta = json.loads(path.read_text())
    older = json.loads(json.dumps(meta))
    del older["config"]["stop"]["max_failures_before_report"]
    path.write_text(json.dumps(older))
    before = (out / "results.csv").read_bytes()
    again = _run(args, cwd=tmp_path, check=False)
    assert again.returncode == 2
    assert "another configuration (stop.max_failures_before_report: None -> 3)" in again.stderr
    assert (out / "results.csv").read_bytes() == before
    path.write_text(json.dumps({**meta, "n_reports": 0}))  # complete, with nothing in it
    rerun = _run(args, cwd=tmp_path)
    assert "skipped" not in rerun.stdout + rerun.stderr
    assert (out / "superseded" / "0" / "results.csv").read_bytes() == before
    assert (out / "results.csv").read_bytes() == before  # the same seed, the same run
    assert json.loads(path.read_text())["complete"] is True
