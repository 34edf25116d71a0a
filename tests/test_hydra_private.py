"""What simtune uses of Hydra's private API (experiments/sweeps/hydra_private.py), pinned.

Each test calls one private name the way the sweeper, the sweep composer or the command
line check calls it; a Hydra release that moves, renames or changes one fails here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from omegaconf import OmegaConf

from simtune.experiments.sweeps import hydra_private
from simtune.experiments.sweeps.hydra_private import (
    ConfigRepository,
    apply_overrides,
    create_config_search_path,
    get_args_parser,
    get_overrides_dirname,
)

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


def parse(*overrides: str) -> list:
    return OverridesParser.create().parse_overrides(list(overrides))


def test_the_private_names_come_from_hydra_internal() -> None:
    for name in hydra_private.__all__:
        value = getattr(hydra_private, name)
        if name != "apply_overrides":
            assert value.__module__.startswith("hydra._internal."), (name, value.__module__)
    with pytest.raises(AttributeError):
        hydra_private.BasicLauncher  # noqa: B018


def test_apply_overrides_sets_and_adds_values_in_place() -> None:
    cfg = OmegaConf.create({"seed": 0, "stop": {"max_trials": 5}})
    OmegaConf.set_struct(cfg, True)
    assert apply_overrides(parse("seed=3", "stop.max_trials=9", "+note=x"), cfg) is None
    assert OmegaConf.to_container(cfg) == {"seed": 3, "stop": {"max_trials": 9}, "note": "x"}


def test_get_overrides_dirname_joins_and_excludes_keys() -> None:
    overrides = parse("seed=3", "scheduler=asha", "progress=false")
    name = get_overrides_dirname(overrides=overrides, exclude_keys=["progress"], item_sep=",",
                                 kv_sep="=")
    assert name == "scheduler=asha,seed=3"


def test_get_args_parser_separates_flags_from_overrides() -> None:
    known, rest = get_args_parser().parse_known_args(["-m", "seed=1", "--cfg", "job", "n=2"])
    assert known.multirun and known.cfg == "job"
    assert [*known.overrides, *rest] == ["seed=1", "n=2"]


def test_config_repository_lists_group_options_of_conf_and_plugins() -> None:
    Plugins.instance()  # plugins register their config groups (the joblib launcher)
    repository = ConfigRepository(create_config_search_path(str(CONF)))
    assert {"asha", "random"} <= set(repository.get_group_options("scheduler"))
    assert {"basic", "joblib"} <= set(repository.get_group_options("hydra/launcher"))
    assert repository.group_exists("scheduler") and not repository.group_exists("seed")


def test_basic_sweeper_splits_a_sweep_into_batches_of_jobs() -> None:
    sweeper = hydra_private.BasicSweeper(max_batch_size=2, params={"n_workers": "1"})
    assert sweeper._parse_config() == ["n_workers=1"]
    sweeper.overrides = sweeper.split_arguments(parse("seed=0,1,2", "scheduler=asha"),
                                                sweeper.max_batch_size)
    batches = []
    while not sweeper.is_done():
        batches.append(sweeper.get_job_batch())
    assert batches == [[["seed=0", "scheduler=asha"], ["seed=1", "scheduler=asha"]],
                       [["seed=2", "scheduler=asha"]]]
    for attribute in ("config", "launcher", "hydra_context"):  # set by setup(), read by sweep()
        assert getattr(sweeper, attribute) is None


def test_the_sweeper_taken_before_hydra_scans_its_plugins_still_works() -> None:
    """As run.py does: its command line check takes private names, then Hydra's plugin
    scan executes basic_sweeper.py again, then the sweeper subclasses BasicSweeper."""
    script = (
        "from simtune.experiments.sweeps import hydra_private\n"
        "before = hydra_private.BasicSweeper\n"
        "from hydra.core.plugins import Plugins\n"
        "Plugins.instance()\n"
        "from simtune.experiments.sweeps.sweeper import SkippingSweeper\n"
        "sweeper = SkippingSweeper(max_batch_size=None)\n"
        "print(before is hydra_private.BasicSweeper,"
        "      isinstance(sweeper, hydra_private.BasicSweeper))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["False", "True"]  # the scan made a new class; the sweeper is built on it


def test_hydra_internal_is_imported_by_hydra_private_alone() -> None:
    found = [str(path.relative_to(ROOT)) for folder in ("core", "blackboxes", "analysis",
                                                         "experiments")
             for path in sorted((ROOT / folder).rglob("*.py"))
             if "hydra._internal" in path.read_text(encoding="utf-8")]
    assert found == ["experiments/sweeps/hydra_private.py"]
