"""Small real blackboxes and runners shared by the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from simtune.blackboxes.blackbox import TabularBlackbox
from simtune.core.backends.simulated import SimulatedBackend
from simtune.core.rundir import open_run
from simtune.core.schedulers import make_scheduler
from simtune.core.seeds import run_rngs
from simtune.core.space import Space, choice
from simtune.core.stopping import StoppingCriterion
from simtune.core.tuner import Tuner


def toy_table(seeds_missing: bool = False) -> TabularBlackbox:
    """6 configs x 2 seeds x 4 epochs with exact, hand-checkable numbers.

    Config i has per-epoch time (i + 1) seconds and loss 10 * (i + 1) / epoch; seed 1
    adds 0.5. With `seeds_missing`, configs 0 and 1 lack seed 1.
    """
    space = Space({"i": choice(list(range(6)))})
    configs = [{"i": i} for i in range(6)]
    epochs = np.arange(1, 5)
    loss = np.empty((6, 2, 4))
    elapsed = np.empty((6, 2, 4))
    for i in range(6):
        for s in range(2):
            loss[i, s] = 10.0 * (i + 1) / epochs + 0.5 * s
            elapsed[i, s] = (i + 1) * epochs
    if seeds_missing:
        loss[:2, 1] = np.nan
        elapsed[:2, 1] = np.nan
    return TabularBlackbox.from_arrays(
        name="toy",
        task="t",
        space=space,
        configs=configs,
        seeds=[0, 1],
        fidelities=epochs.tolist(),
        objectives={"loss": "min"},
        values={"loss": loss, "elapsed_time": elapsed},
        source="test",
    )


def context(blackbox, rng: np.random.Generator, candidates=None) -> dict:
    """What experiments/run.py hands every scheduler about `blackbox` (the transfer-learning
    ones: two small synthetic source tasks, `synthetic_sources`)."""
    metric, mode = next(iter(blackbox.objectives.items()))
    return {
        "space": blackbox.space,
        "metric": metric,
        "mode": mode,
        "objectives": dict(blackbox.objectives),
        "fidelities": blackbox.fidelities,
        "rng": rng,
        "candidates": candidates,
        # a test's own curve object without `evaluate` has no sources to offer
        "transfer": synthetic_sources(blackbox, metric) if hasattr(blackbox, "evaluate") else None,
    }


def synthetic_sources(blackbox, metric: str, n: int = 8):
    """Two source tasks of `n` configurations of `blackbox` (its table's rows or random
    points, from a fixed seed): "a" with their values at the last fidelity, "b" with the
    same values shifted by one configuration (related, another best)."""
    from simtune.core.schedulers.transfer.data import SourceTask, TransferData

    rng = np.random.default_rng(12345)
    if hasattr(blackbox, "configs"):
        rows = blackbox.configs()
        configs = [rows[i] for i in rng.choice(len(rows), min(n, len(rows)), replace=False)]
    else:
        configs = blackbox.space.sample(rng, n)
    last = blackbox.fidelities[-1]
    values = np.array([blackbox.evaluate(c, fidelity=last)[metric] for c in configs])
    return TransferData(metric, (SourceTask("synthetic-a", configs, values),
                                 SourceTask("synthetic-b", configs, np.roll(values, 1))))


def simulate(
    blackbox,
    scheduler: str,
    seed: int,
    out: Path,
    n_workers: int = 4,
    candidates=None,
    params: dict | None = None,
    tuner_args: dict | None = None,
    **stop,
) -> Tuner:
    """Run `scheduler` on `blackbox` in simulation, results into `out` (`tuner_args`: more
    arguments of the Tuner, e.g. stoppers)."""
    rng_s, rng_b = run_rngs(seed)
    sched = make_scheduler(scheduler, context(blackbox, rng_s, candidates), **(params or {}))
    writer = open_run(
        out,
        fidelity=blackbox.fidelity_name,
        metrics=list(blackbox.objectives),
        hyperparameters=list(blackbox.space),
    ).writer
    tuner = Tuner(
        scheduler=sched,
        backend=SimulatedBackend(blackbox, rng=rng_b),
        stop=StoppingCriterion(**stop),
        n_workers=n_workers,
        results=writer,
        progress=False,
        **(tuner_args or {}),
    )
    tuner.run()
    return tuner


def reports(path: Path):
    """The report rows of a results.csv: without the rows of failures and of trials the
    run's end stopped, which have no decision."""
    import pandas as pd

    df = pd.read_csv(path)
    return df[df["decision"].notna()].reset_index(drop=True)


def run_py(args: list[str], cwd: Path, out: Path, **env: str) -> subprocess.CompletedProcess:
    """One `run.py` run with `args` into `out`, from `cwd`, with a cache of its own and
    `env` added to the environment."""
    return subprocess.run(
        [sys.executable, str(Path(__file__).resolve().parents[1] / "experiments" / "run.py"),
         *args, "progress=false", f"hydra.run.dir={out}"], cwd=cwd, capture_output=True,
        text=True, timeout=300,
        env={**os.environ, "SIMTUNE_CACHE": str(cwd / "cache"), **env})


SWEEP = [sys.executable, str(Path(__file__).resolve().parents[1] / "experiments" / "run.py"),
         "-m"]
SMALL_SWEEP = ["benchmark=synthetic", "stop.max_wallclock=300", "progress=false"]


def sweep(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """`run.py -m` on the synthetic benchmark (300 s budget) plus `args`, in `cwd` with a
    cache of its own; an AssertionError quoting stderr if it fails and `check`."""
    env = {**os.environ, "SIMTUNE_CACHE": str(cwd / "cache")}
    proc = subprocess.run([*SWEEP, *SMALL_SWEEP, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"sweep failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def bowl_space() -> Space:
    """A 20 x 20 grid on [0, 1]^2 (400 configurations): a finite space for the searchers."""
    grid = [round(i / 19, 4) for i in range(20)]
    return Space({"x": choice(grid), "y": choice(grid)})


def bowl(config: dict) -> float:
    """A closed-form function to minimize on bowl_space: its minimum 0 at (0.3, 0.7)."""
    return (config["x"] - 0.3) ** 2 + (config["y"] - 0.7) ** 2


def drive(searcher, n: int, value=bowl) -> list[dict]:
    """Ask `searcher` for `n` configurations, one at a time, each observed (fidelity 1) at
    `value(config)` and ended before the next; the configurations in order."""
    configs = []
    for trial_id in range(n):
        config = searcher.suggest()
        searcher.on_start(trial_id, config)
        searcher.observe(trial_id, 1, value(config))
        searcher.on_end(trial_id)
        configs.append(config)
    return configs
