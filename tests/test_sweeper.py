"""hydra/sweeper=simtune: complete runs skipped before dispatch, safe run directory names,
and no worker outliving a sweep killed with SIGKILL.

The composition tests compose the project's own conf/ with Hydra; the sweep tests run
experiments/run.py -m as a subprocess on the synthetic benchmark, with real files and
real signals.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from simtune.experiments.sweeps.compose import SweepComposer
from simtune.experiments.sweeps.progress import SUBDIR_MAX, run_subdir
from simtune.experiments.sweeps.sweeper import job_config
from tests.helpers import SWEEP as RUN
from tests.helpers import sweep

ROOT = Path(__file__).resolve().parents[1]


def progress(sweep_dir: Path) -> dict:
    return json.loads((sweep_dir / "progress.json").read_text())


# --- run directory names ------------------------------------------------------------------

def test_safe_names_are_kept_and_unsafe_ones_cannot_leave_the_sweep_dir() -> None:
    for name in ("scheduler=asha,seed=3", "benchmark.task=branin,stop.max_wallclock=300",
                 "+x=[1,2],y={a:1},z=-1.5e3,w=a_b~c@d"):
        assert run_subdir(name) == name  # the names sweeps had before stay the same
    for name in ("+note=x/../../../../ESCAPED", "a/b", "..", ".", "/abs", "a\\b", "x\0y",
                 ".hidden=1", "note=" + "../" * 100, "note=é 中"):
        sub = run_subdir(name)
        assert "/" not in sub and "\0" not in sub and "\\" not in sub
        assert not sub.startswith(".") and len(sub.encode()) <= SUBDIR_MAX
        assert (Path("/sweep") / sub).resolve().parent == Path("/sweep")


def test_distinct_overrides_get_distinct_names() -> None:
    names = ["a/b", "a%2Fb", "a_b", "a%252Fb", ".a", "%2Ea", "a#b", "a%23b", "x=" + "y" * 300,
             "x=" + "y" * 301, "x=" + "y" * 300 + "/", "x=" + "/" * 300, "x=" + "%" * 300]
    subdirs = [run_subdir(name) for name in names]
    assert len(set(subdirs)) == len(names)
    assert subdirs == [run_subdir(name) for name in names]  # stable: same name, same dir
    assert run_subdir("x=" + "y" * 300).startswith("x=yyy")  # a long name stays readable


# --- composition in the sweep process ------------------------------------------------------

@pytest.fixture
def loader() -> Iterator:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        yield GlobalHydra.instance().config_loader()


def master(loader, overrides: list[str]) -> DictConfig:
    return loader.load_configuration("config", overrides, RunMode.MULTIRUN)


JOBS = [
    ["scheduler=asha", "seed=0", "stop.max_trials=5"],
    ["scheduler=asha", "seed=1", "stop.max_trials=6"],
    ["scheduler=random", "seed=0", "stop.max_trials=5"],
    ["scheduler=random", "seed=1", "stop.max_trials=6"],
    ["scheduler=random", "seed=2", "stop.max_trials=7"],
    ["scheduler=bo", "seed=0", "stop.max_trials=5"],  # a group of one job
]


class CountingComposer(SweepComposer):
    """Counts the jobs it hands to Hydra."""

    calls = 0

    def hydra(self, job):
        self.calls += 1
        return super().hydra(job)


def test_fast_composition_equals_hydras_for_every_job(loader, tmp_path: Path) -> None:
    base = master(loader, ["benchmark=synthetic", "+note=a,b/c", "scheduler=asha,random,bo",
                           f"hydra.sweep.dir={tmp_path}"])
    jobs = [[*job, "+note=b/c", "benchmark=synthetic"] for job in JOBS]
    composer = CountingComposer(loader, base)
    fast = list(composer.compose_all(jobs))
    # Hydra composed the first job of each scheduler and the bases of asha and random;
    # asha's second job and random's last two came from the fast path
    assert composer.calls == 3 + 2
    for job, cfg in zip(jobs, fast, strict=True):
        hydra = loader.load_sweep_config(base, job)
        assert OmegaConf.to_container(cfg) == OmegaConf.to_container(hydra), job
        assert job_config(cfg) == job_config(hydra), job
    out_dir, config = job_config(fast[4])
    assert out_dir == tmp_path / (
        "+note=b%2Fc,benchmark=synthetic,scheduler=random,seed=2,stop.max_trials=7")
    assert (config["seed"], config["stop"]["max_trials"], config["note"]) == (2, 7, "b/c")
    assert config["scheduler"]["name"] == "random" and "hydra" not in config


class WrongComposer(SweepComposer):
    """Its fast path is wrong: the check against Hydra must send every job to Hydra."""

    def _apply(self, base, overrides):
        cfg = super()._apply(base, overrides)
        cfg.seed = 12345
        return cfg


def test_a_fast_path_that_differs_from_hydra_is_not_used(loader, tmp_path: Path) -> None:
    base = master(loader, ["scheduler=asha,random", f"hydra.sweep.dir={tmp_path}"])
    configs = list(WrongComposer(loader, base).compose_all(JOBS[:5]))
    assert [cfg.seed for cfg in configs] == [0, 1, 0, 1, 2]


def test_the_sweeper_is_a_hydra_plugin_beside_the_launchers() -> None:
    from hydra.core.plugins import Plugins
    from hydra.plugins.launcher import Launcher
    from hydra.plugins.sweeper import Sweeper

    names = {f"{c.__module__}.{c.__name__}" for c in Plugins.instance().discover(Sweeper)}
    assert "hydra_plugins.simtune_sweeper.SimtuneSweeper" in names
    launchers = {c.__module__ for c in Plugins.instance().discover(Launcher)}
    assert "hydra_plugins.hydra_joblib_launcher.joblib_launcher" in launchers


# --- sweep reruns ------------------------------------------------------------------------

@pytest.mark.slow
def test_rerun_skips_complete_runs_without_touching_them(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    args = ["scheduler=random,asha", "seed=0,1", f"hydra.sweep.dir={sweep_dir}"]
    sweep(args, tmp_path)
    runs = sorted(p.parent for p in sweep_dir.glob("*/metadata.json"))
    assert len(runs) == 4
    incomplete, differs = runs[0], runs[1]
    meta = json.loads((incomplete / "metadata.json").read_text())
    (incomplete / "metadata.json").write_text(json.dumps({**meta, "complete": False}))
    meta = json.loads((differs / "metadata.json").read_text())
    meta["config"]["seed"] = 99
    (differs / "metadata.json").write_text(json.dumps(meta))
    untouched = {p: p.stat().st_mtime_ns for run in runs[2:] for p in run.rglob("*")}

    again = sweep(args, tmp_path, check=False)
    out = again.stdout + again.stderr
    for run in runs[2:]:
        assert f"(skipped): {run} already holds a complete run of this config" in out
    assert {p: p.stat().st_mtime_ns for p in untouched} == untouched  # not even .hydra/
    counts = progress(sweep_dir)
    assert (counts["total"], counts["done"], counts["skipped"]) == (4, 4, 2)
    # the incomplete run went to run.py (which resumes it); so did the one whose config differs
    assert "is launching 2 jobs" in out


@pytest.mark.slow
def test_traversal_values_stay_inside_the_sweep_dir(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "a" / "b" / "c" / "sweep"
    args = ["+note=x/../../../../ESCAPED,a/b", f"hydra.sweep.dir={sweep_dir}"]
    sweep(args, tmp_path)
    runs = sorted(p.parent for p in tmp_path.rglob("metadata.json"))
    assert [run.parent for run in runs] == [sweep_dir, sweep_dir]
    assert not list(tmp_path.rglob("ESCAPED*"))
    assert {json.loads((run / "metadata.json").read_text())["config"]["note"] for run in runs} \
        == {"x/../../../../ESCAPED", "a/b"}
    again = sweep(args, tmp_path)
    assert progress(sweep_dir)["skipped"] == 2, again.stdout  # the same names on a rerun


# --- kill -9 of the sweep process ----------------------------------------------------------

def session(sid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every live process in session ``sid``, from /proc."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rpartition(")")[2].split()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append((int(proc.name), cmdline))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
@pytest.mark.parametrize("launcher", [
    ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],  # loky workers: the sweep's children
    ["hydra/launcher=submitit_local"],  # jobs under a submitit controller: grandchildren
], ids=["joblib", "submitit_local"])
def test_no_worker_outlives_a_sweep_killed_with_sigkill(tmp_path: Path, launcher) -> None:
    sweep_dir = tmp_path / "sweep"
    # slow runs (a GP fit per trial, no budget but trials) so that the runs are busy
    cmd = [*RUN, "benchmark=synthetic", "scheduler=bo", "progress=false", "seed=0,1,2,3",
           "stop.max_trials=100000", "stop.max_wallclock=null", *launcher,
           f"hydra.sweep.dir={sweep_dir}"]
    env = {**os.environ, "SIMTUNE_CACHE": str(tmp_path / "cache")}
    with open(tmp_path / "sweep.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=log,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(sweep_dir.glob("*/results.csv"))) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "sweep.log").read_text()[-3000:]
            time.sleep(0.2)
        assert len(session(proc.pid)) >= 3  # the sweep and its workers
        proc.kill()
        proc.wait()
        killed = time.monotonic()
        while session(proc.pid) and time.monotonic() - killed < 5:
            time.sleep(0.1)
        assert session(proc.pid) == []
        started = [p.parent for p in sweep_dir.glob("*/results.csv")]
        for run in started:  # each worker said why it stopped, in its run's log
            assert f"the sweep process {proc.pid} is gone" in (run / "run.log").read_text()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
