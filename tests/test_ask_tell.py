"""AskTellScheduler: the documented example runs, and ask/tell drives a scheduler exactly as
the Tuner does (same suggestions, decisions, pauses and resumes)."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from simtune import AskTellScheduler, Problem, Space, create_scheduler, load_run, uniform
from simtune.analysis.load import read_run
from simtune.blackboxes.synthetic import BraninCurves
from tests.helpers import simulate

DOC = Path(__file__).resolve().parents[1] / "docs" / "python_api.md"


def _documented_example() -> str:
    """The python blocks of the doc's ask/tell section, in order, as one script."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Ask/tell", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2, "the ask/tell section shows a multi-fidelity and a BO example"
    return "\n".join(blocks)


def test_the_documented_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(_documented_example(), str(DOC), "exec"), {"__name__": "__main__"})
    told, read_back, bo_best = capsys.readouterr().out.strip().splitlines()
    assert told.startswith("Best(trial_id=") and "fidelity=9" in told
    best = load_run("lab_run").best()
    assert re.search(rf"trial_id={best.trial_id}, value={best.value!r}", told), (told, best)
    assert read_back.startswith(f"Best(trial_id={best.trial_id}, value={best.value!r}")
    assert set(eval(bo_best)) == {"lr", "layers"}  # noqa: S307 (a dict printed by the doc)

    rows = pd.read_csv("lab_run/results.csv")
    # 30 asks: each a new trial or a paused one resumed (it reported again after its pause)
    paused = rows.index[rows["decision"] == "pause"]
    resumed = [i for i in paused if (rows.loc[i + 1:, "trial_id"] == rows.loc[i, "trial_id"]).any()]
    assert resumed and rows["trial_id"].nunique() + len(resumed) == 30
    assert rows["epoch"].max() == 9 and (rows["status"] == "completed").any()
    meta = json.loads(Path("lab_run/metadata.json").read_text())
    assert meta["complete"] is True and meta["best"]["trial_id"] == best.trial_id
    run = read_run("lab_run")  # the analysis reads it as any run
    assert len(run) == rows["decision"].notna().sum() and run["scheduler"].iloc[0] == "asha"


def test_ask_tell_drives_hyperband_as_the_tuner_does(tmp_path):
    """One worker: the Tuner's rows and those of an ask/tell loop over the same curves are
    the same (but their clocks), pauses and resumes included."""
    bb = BraninCurves(max_fidelity=27)
    simulate(bb, "hyperband", 3, tmp_path / "tuner", n_workers=1, max_trials=30)
    problem = Problem(space=bb.space, metric="loss", mode="min", fidelity_name="epoch",
                      max_fidelity=27)
    hyperband = create_scheduler("hyperband", space=bb.space, metric="loss", mode="min",
                                 max_fidelity=27, seed=3)
    with AskTellScheduler(hyperband, problem=problem, run_dir=tmp_path / "at") as at:
        while (trial := at.ask()) is not None and trial.trial_id < 30:
            losses = bb.curve(trial.config).metrics["loss"]
            epoch = trial.fidelity or 0
            while trial.status == "running":
                epoch += 1
                decision = at.tell(trial, {"loss": losses[epoch - 1]}, fidelity=epoch)
                assert decision in ("continue", "stop", "pause")
    tuner = pd.read_csv(tmp_path / "tuner" / "results.csv").drop(columns="time")
    told = pd.read_csv(tmp_path / "at" / "results.csv").drop(columns="time")
    assert list(told["status"][told["trial_id"] == 30]) == ["stopped"]  # asked, never run
    told = told[told["trial_id"] < 30].astype(tuner.dtypes)  # the Tuner refused trial 30
    assert (tuner["decision"] == "pause").any() and len(tuner) > 100
    pd.testing.assert_frame_equal(told, tuner)


def _session(run_dir: Path | None = None) -> AskTellScheduler:
    space = Space({"x": uniform(0.0, 1.0)})
    problem = Problem(space=space, metric="loss", mode="min", objectives={"acc": "max"})
    tick = itertools.count()
    return AskTellScheduler(create_scheduler("random", space=space, metric="loss", seed=1),
                            problem=problem, run_dir=run_dir, clock=lambda: float(next(tick)))


def test_same_seed_same_tells_same_results_bytes(tmp_path):
    for name in ("a", "b"):
        with _session(tmp_path / name) as at:
            for _ in range(5):
                trial = at.ask()
                at.tell(trial, {"loss": trial.config["x"] ** 2, "acc": 1 - trial.config["x"]})
            failed = at.ask()
            at.fail(failed)
    first, second = ((tmp_path / n / "results.csv").read_bytes() for n in ("a", "b"))
    assert first == second
    rows = pd.read_csv(tmp_path / "a" / "results.csv")
    assert list(rows["status"]) == ["completed"] * 5 + ["failed"]
    assert load_run(tmp_path / "a").complete


def test_best_trial_by_another_objective_and_errors(tmp_path):
    at = _session()
    trials = [at.ask() for _ in range(3)]
    for trial, (loss, acc) in zip(trials, [(0.5, 0.9), (0.2, 0.7), (0.9, 0.1)], strict=True):
        at.tell(trial, {"loss": loss, "acc": acc}, fidelity=1)
    assert at.best_trial().trial_id == 1 and at.best_trial().value == 0.2
    assert at.best_trial("acc").trial_id == 0  # max, the problem's mode for acc
    assert at.best_trial("acc", mode="min").trial_id == 2
    with pytest.raises(ValueError, match="trial 0 is completed: tell only a trial"):
        at.tell(trials[0], {"loss": 0.1})  # fidelity 1 was the problem's max_fidelity
    with pytest.raises(ValueError, match="trial 7 was never asked for"):
        at.tell(7, {"loss": 0.1})
    fourth = at.ask()
    with pytest.raises(ValueError, match="lacks the metric 'loss'"):
        at.tell(fourth, {"acc": 0.3})
    assert fourth.status == "running" and at.best_trial("acc").trial_id == 0  # nothing recorded


def test_a_run_dir_that_holds_a_run_is_refused_untouched(tmp_path):
    with _session(tmp_path) as at:
        at.tell(at.ask(), {"loss": 0.4, "acc": 0.5})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(ValueError, match="holds a run already"):
        _session(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    bo = create_scheduler("bo", space={"x": uniform(0.0, 1.0)}, metric="loss", seed=0)
    with pytest.raises(ValueError, match="run_dir needs problem="):
        AskTellScheduler(bo, run_dir=tmp_path / "other")
    assert not (tmp_path / "other").exists()
