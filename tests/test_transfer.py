"""Transfer learning (zero_shot, bounding_box, quantile_based): where the source data comes
from, and what each method does with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simtune.blackboxes import repository
from simtune.blackboxes.blackbox import TabularBlackbox
from simtune.core.schedulers import create, make_scheduler
from simtune.core.schedulers.transfer.bounding_box import bounding_space, in_space, top_configs
from simtune.core.schedulers.transfer.data import SourceTask, TransferData
from simtune.core.space import Space, choice, uniform
from simtune.experiments.sources import transfer_data
from tests.helpers import context, simulate

ROOT = Path(__file__).resolve().parents[1]
SPACE = Space({"x": uniform(0.0, 1.0), "y": uniform(0.0, 1.0), "act": choice(["a", "b", "c"])})


def _f(config: dict, shift: float) -> float:
    """A smooth task: its best near x = y = 0.3 + shift, act "b"."""
    penalty = {"a": 0.3, "b": 0.0, "c": 0.6}[config["act"]]
    return (config["x"] - 0.3 - shift) ** 2 + (config["y"] - 0.3 - shift) ** 2 + penalty


def _sources(n: int = 200) -> TransferData:
    """Two tasks correlated with _f(., 0), shifted a little each way."""
    rng = np.random.default_rng(1)
    tasks = []
    for name, shift in (("s1", 0.05), ("s2", -0.05)):
        configs = SPACE.sample(rng, n)
        tasks.append(SourceTask(name, configs, np.array([_f(c, shift) for c in configs])))
    return TransferData("loss", tuple(tasks))


def _suggest(name: str, n: int, seed: int = 0, **args) -> list[dict]:
    sched = create(name, space=SPACE, metric="loss", mode="min", seed=seed, **args)
    out = []
    for trial_id in range(n):
        s = sched.suggest(trial_id)
        out.append(s.config)
    return out


def test_the_tuned_task_is_never_among_the_sources():
    bb = repository.load_shared("mlp_sklearn", "digits")
    data = transfer_data(bb, None, "val_accuracy")
    assert [t.name for t in data.tasks] == ["breast_cancer", "wine"]
    assert all(c["dataset"] == "digits" for t in data.tasks for c in t.configs)  # its constants
    with pytest.raises(ValueError, match="^sources: digits is the task being tuned; learn from "
                                         "other tasks .breast_cancer, wine. or earlier runs$"):
        transfer_data(bb, ["wine", "digits"], "val_accuracy")


@pytest.mark.parametrize("sources, message", [
    (["nope"], "^sources: 'nope' is neither a task of mlp_sklearn .breast_cancer, wine. nor "
               "a run directory$"),
    ([], "^sources: the list is empty"),
])
def test_bad_sources_are_refused_in_one_line(sources, message):
    bb = repository.load_shared("mlp_sklearn", "digits")
    with pytest.raises(ValueError, match=message):
        transfer_data(bb, sources, "val_accuracy")


def test_a_family_without_another_task_is_refused():
    bb = TabularBlackbox.from_arrays(
        name="lonely", task="t", space=Space({"i": choice([0, 1])}), configs=[{"i": 0}, {"i": 1}],
        seeds=[0], fidelities=[1], objectives={"loss": "min"},
        values={"loss": np.ones((2, 1, 1)), "elapsed_time": np.ones((2, 1, 1))})
    with pytest.raises(ValueError, match="^sources: benchmark lonely has no other task to learn "
                                         "from; name earlier runs"):
        transfer_data(bb, None, "loss")


def test_run_py_refuses_bad_sources_with_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "run.py"), "scheduler=zero_shot",
         "benchmark=mlp_sklearn", "scheduler.sources=[digits]", f"hydra.run.dir={out}",
         "progress=false"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].endswith("sources: digits is the task being tuned; learn from other tasks "
                              "(breast_cancer, wine) or earlier runs"), lines
    assert "Traceback" not in proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_zero_shot_first_configurations_are_the_sources_best():
    """Tasks that share their configurations: the first is the best sum of quantiles, the
    second the one that covers what the first leaves (Wistuba et al.'s greedy)."""
    configs = [{"x": x, "y": 0.5, "act": "a"} for x in (0.1, 0.2, 0.3, 0.4)]
    data = TransferData("loss", (SourceTask("t1", configs, [1.0, 2.0, 3.0, 4.0]),
                                 SourceTask("t2", configs, [3.0, 1.0, 4.0, 2.0])))
    # quantiles t1: .125 .375 .625 .875; t2: .625 .125 .875 .375 -> sums 0.75, 0.5, 1.5, 1.25
    first = _suggest("zero_shot", 5, transfer=data)
    assert [c["x"] for c in first[:2]] == [0.2, 0.1]  # then t1 has its best: 0.1
    assert [c["x"] for c in first[2:4]] == [0.4, 0.3]  # greedy again over those left
    assert first[4] not in configs  # the portfolio is used up: random search


def test_bounding_box_never_leaves_the_box():
    table = _table()
    data = TransferData("loss", tuple(
        SourceTask(f"s{k}", table.configs(), np.roll(_values(table), k)) for k in (3, 7)))
    box = bounding_space(table.space, top_configs(data, 1.0, 2))
    assert 1 < box.size() < table.space.size()
    ctx = {**context(table, np.random.default_rng(0)), "transfer": data}
    for searcher in ("random", "bo"):
        sched = make_scheduler("bounding_box", ctx, top_k=2, searcher=searcher)
        n = 0
        for trial_id in range(200):
            s = sched.suggest(trial_id)
            if s is None:
                break
            assert in_space(box, s.config), s.config
            n += 1
        assert n == box.size()  # every configuration of the box, then nothing


def _table() -> TabularBlackbox:
    space = Space({k: choice([0, 1, 2, 3]) for k in ("a", "b", "c")})
    configs = space.grid()
    loss = np.array([[[_values_of(c)]] for c in configs])
    return TabularBlackbox.from_arrays(
        name="box", task="t", space=space, configs=configs, seeds=[0], fidelities=[1],
        objectives={"loss": "min"}, values={"loss": loss, "elapsed_time": np.ones_like(loss)})


def _values_of(c: dict) -> float:
    return float((c["a"] - 1) ** 2 + (c["b"] - 2) ** 2 + c["c"])


def _values(table: TabularBlackbox) -> np.ndarray:
    return np.array([_values_of(c) for c in table.configs()])


def test_quantile_based_early_suggestions_beat_random():
    """On a task correlated with its sources, the first 5 suggestions are better than random
    search's, over 5 seeds."""
    data = _sources()
    ours, rand = [], []
    for seed in range(5):
        ours += [_f(c, 0.0) for c in _suggest("quantile_based", 5, seed, transfer=data)]
        rand += [_f(c, 0.0) for c in _suggest("random", 5, seed)]
    assert np.mean(ours) < 0.5 * np.mean(rand), (np.mean(ours), np.mean(rand))


def test_python_api_learns_from_earlier_runs(tmp_path):
    """From Python, sources are earlier runs' directories (read with load_run)."""
    table = _table()
    simulate(table, "random", 0, tmp_path / "earlier", n_workers=1, max_trials=20)
    sched = create("zero_shot", space=table.space, metric="loss", mode="min", seed=0,
                   sources=[str(tmp_path / "earlier")])
    import pandas as pd

    rows = pd.read_csv(tmp_path / "earlier" / "results.csv")
    best = rows.loc[rows["loss"].idxmin()]
    first = sched.suggest(0).config
    assert first == {k: int(best[f"config_{k}"]) for k in "abc"}
    with pytest.raises(ValueError, match=r"^sources: .*nowhere is not a directory; name earlier"):
        create("zero_shot", space=table.space, metric="loss", seed=0,
               sources=[str(tmp_path / "nowhere")])
    with pytest.raises(ValueError, match=r"^zero_shot: no source data; give sources="):
        create("zero_shot", space=table.space, metric="loss", seed=0)
