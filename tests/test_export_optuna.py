"""analysis/export.py --optuna: a finished run (or a sweep) as Optuna studies in a journal."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import run_py

ROOT = Path(__file__).resolve().parents[1]
EXPORT = [sys.executable, str(ROOT / "analysis" / "export.py")]


@pytest.fixture(scope="module")
def asha_run(tmp_path_factory) -> Path:
    """ASHA on mlp_sklearn digits (the shipped table), simulated, 20 trials, via run.py."""
    tmp = tmp_path_factory.mktemp("asha")
    out = tmp / "run"
    proc = run_py(["scheduler=asha", "benchmark=mlp_sklearn", "stop.max_trials=20"], tmp, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def load(file: Path, name: str):
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(file)))
    return optuna.load_study(study_name=name, storage=storage)


def test_every_trial_with_its_state_params_and_intermediate_values(asha_run, tmp_path):
    from optuna.trial import TrialState

    file = tmp_path / "study.log"
    proc = subprocess.run([*EXPORT, str(asha_run), "--optuna", str(file)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "study run: 20 trials" in proc.stdout
    study = load(file, "run")
    results = pd.read_csv(asha_run / "results.csv")
    meta = json.loads((asha_run / "metadata.json").read_text())
    assert study.direction.name == "MAXIMIZE" and study.metric_names == ["val_accuracy"]
    assert len(study.trials) == results["trial_id"].nunique() == 20
    states = {"completed": TrialState.COMPLETE, "stopped": TrialState.PRUNED}
    for trial in study.trials:
        tid = trial.user_attrs["simtune_trial_id"]
        rows = results[results["trial_id"] == tid]
        reported = rows[rows["val_accuracy"].notna()]
        assert trial.state == states[rows["status"].iloc[-1]]
        assert trial.intermediate_values == pytest.approx(
            dict(zip(reported["epoch"].astype(int), reported["val_accuracy"], strict=True)))
        assert trial.params == {k.removeprefix("config_"): v for k, v in
                                rows.iloc[0].items() if k.startswith("config_")}
        if trial.state == TrialState.COMPLETE:
            assert trial.value == pytest.approx(reported["val_accuracy"].iloc[-1])
    assert {t.state for t in study.trials} == {TrialState.COMPLETE, TrialState.PRUNED}
    assert study.best_value == pytest.approx(meta["best"]["value"])
    widths = study.trials[0].distributions["width"]
    assert list(widths.choices) == [16, 64, 256]  # the space's categories, from metadata


def test_a_sweep_is_one_study_per_run(asha_run, tmp_path):
    from simtune.analysis.export import export_optuna

    sweep = tmp_path / "sweep"
    for name in ("seed=0", "seed=1"):
        shutil.copytree(asha_run, sweep / name)
    file = tmp_path / "sweep.log"
    assert export_optuna(sweep, file) == [("seed=0", 20), ("seed=1", 20)]
    assert len(load(file, "seed=1").trials) == 20


def test_bad_input_is_one_line_and_writes_nothing(asha_run, tmp_path, capsys):
    from simtune.analysis.export import main

    existing = tmp_path / "taken.log"
    existing.write_text("mine\n")
    proc = subprocess.run([*EXPORT, str(asha_run), "--optuna", str(existing)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "exists" in proc.stderr and existing.read_text() == "mine\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty), "--optuna", str(tmp_path / "new.log")]) == 2
    assert "holds no run" in capsys.readouterr().err
    assert not (tmp_path / "new.log").exists()


def test_analysis_imports_no_hydra_scheduler_backend_tuner_or_experiments():
    forbidden = ("hydra", "omegaconf", "simtune.core.schedulers", "simtune.core.backends",
                 "simtune.core.tuner", "simtune.experiments")
    modules = sorted(p.stem for p in (ROOT / "analysis").glob("*.py") if p.stem != "__init__")
    code = (f"import sys, importlib\n"
            f"for m in {modules!r}: importlib.import_module('simtune.analysis.' + m)\n"
            f"print([m for m in sys.modules if m.split('.')[0] in {forbidden!r} "
            f"or m.startswith({forbidden!r})])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
    assert "export" in modules
