"""Sim-to-real: does a scheduler's run on a table predict its run on real training?

For each scheduler x seed x n_workers it runs the scheduler twice on the same benchmark
with the same seed and budget: on the table (backend=simulated, also with
charge_decision_time for the model-based schedulers) and for real (backend=python, the
table's own training function), then compares the runs (analysis/sim2real_compare.py)
and draws the figures (analysis/sim2real_plots.py). docs/sim2real.md has the study.

The table's clock is CPU seconds of training. `--clock cpu` (default) gives both sides the
same compute: `stop.max_cost` = budget x n_workers CPU seconds of training, the simulator
counting the table's times, the real run the CPU time its trials measure
(experiments/training/timed.py, `cost_attribute=cpu_s`), with a wall-clock cap
(`--wall-cap`, x budget) so a loaded machine cannot stretch a run forever. `--clock wall`
gives the real run `budget` wall-clock seconds, the simulation `budget` virtual seconds.
The table is cut to one seed (`--train-seed`), the one the real training uses, so a real
report and the table cell of its (config, epoch) should be the same numbers.

    python experiments/sim2real.py --quick --out s2r_quick
    python experiments/sim2real.py --out s2r_full                # the committed study
    python experiments/sim2real.py --out s2r --seeds 5 --budget 30 --wall-cap 4  # ~2 h, idle
    python experiments/sim2real.py --out mine --table my.h5 --training my/train.py:train

A rerun with the same --out skips the runs that are complete.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the timed training function imports experiments.training
    sys.path.insert(0, str(ROOT))

TIMED = "experiments/training/timed.py:train"  # runs --training with clocks in its reports
TRAINING = "experiments/training/mlp_sklearn.py:train"  # what made the mlp_sklearn tables
SCHEDULERS = ("random", "asha", "hyperband", "bo", "mobster", "pbt")
MODEL_BASED = ("bo", "mobster", "bohb", "tpe", "dehb")
QUICK = {"schedulers": ["random", "asha"], "seeds": 2, "budget": 15.0, "wall_cap": 4.0}
# sim: the table, the same training-CPU budget as the real run (clock=cpu); sim_charged: the
# same with the scheduler's measured decision time charged to the virtual clock; simw and
# simw_charged: the table under a virtual wall-clock budget (`budget` seconds), where the
# charged decision time competes with training (model-based schedulers only)
SIDES = ("sim", "sim_charged", "simw", "simw_charged", "real")
CHARGED = ("sim_charged", "simw_charged")
PACKAGES = ("simtune", "numpy", "scipy", "scikit-learn", "pandas", "xarray", "matplotlib")


@dataclasses.dataclass(frozen=True)
class Study:
    """What one invocation runs: the grid of runs and their common budget."""

    task: str
    table: Path | None  # made by `python -m simtune.blackboxes tabulate`; None: mlp_sklearn
    training: str  # the function that made the table, "path/file.py:name" (absolute)
    schedulers: list[str]
    seeds: list[int]
    workers: list[int]
    budget: float  # virtual seconds per worker (clock=cpu: CPU seconds per worker)
    clock: str  # "cpu" | "wall"
    wall_cap: float  # clock=cpu: a real run ends after wall_cap x budget wall seconds
    train_seed: int
    max_trials: int | None
    out: Path

    def run_dir(self, side: str, scheduler: str, seed: int, workers: int) -> Path:
        return self.out / "runs" / side / f"{scheduler}-w{workers}-s{seed}"

    def sides(self, scheduler: str) -> list[str]:
        return [s for s in SIDES if s in ("sim", "real") or scheduler in MODEL_BASED]


def table(study: Study) -> Any:
    """The study's table (mlp_sklearn's of its task, or --table), cut to the seed the real
    training uses."""
    from simtune.blackboxes.blackbox import TabularBlackbox
    from simtune.blackboxes.sources.mlp_sklearn import load_mlp_sklearn

    full = TabularBlackbox.load(study.table) if study.table else load_mlp_sklearn(study.task)
    train_seed = study.train_seed
    if train_seed not in full.seeds:
        raise ValueError(f"--train-seed {train_seed}: the table has seeds {full.seeds}")
    return TabularBlackbox(full.ds.sel(seed=[train_seed]))


def stop_of(study: Study, side: str, workers: int) -> Any:
    """The budget of one run: the same compute on both sides (clock=cpu), or the same
    number of seconds on each side's clock (clock=wall)."""
    from simtune.core.stopping import StoppingCriterion

    trials = {"max_trials": study.max_trials}
    if study.clock == "wall" or side.startswith("simw"):
        return StoppingCriterion(max_wallclock=study.budget, **trials)
    cost = study.budget * workers
    if side == "real":
        return StoppingCriterion(max_cost=cost, cost_attribute="cpu_s",
                                 max_wallclock=study.wall_cap * study.budget, **trials)
    return StoppingCriterion(max_cost=cost, **trials)


def run_one(study: Study, bb: Any, side: str, scheduler: str, seed: int, workers: int) -> Path:
    """One run into its directory (skipped if complete there); returns the directory."""
    from simtune.core.results import run_metadata
    from simtune.core.rundir import RunComplete, open_run
    from simtune.experiments.assemble import assemble

    out = study.run_dir(side, scheduler, seed, workers)
    backend = "python" if side == "real" else "simulated"
    args: dict[str, Any] = {"charge_decision_time": True} if side in CHARGED else {}
    if side == "real":
        args = {"env": {"SIM2REAL_TRAIN": study.training,
                        "SIM2REAL_SEED": str(study.train_seed)}}
    run = assemble(bb, scheduler, seed=seed, stop=stop_of(study, side, workers),
                   n_workers=workers, backend=backend, backend_args=args,
                   training=str(ROOT / TIMED) if side == "real" else None, out_dir=out)
    config = {"side": side, "scheduler": scheduler, "seed": seed, "n_workers": workers,
              "task": bb.task, "table": str(study.table or ""), "training": study.training,
              "train_seed": study.train_seed, "budget": study.budget,
              "clock": study.clock, "wall_cap": study.wall_cap, "max_trials": study.max_trials}
    meta = run_metadata(scheduler=run.scheduler, scheduler_name=scheduler, scheduler_args={},
                        benchmark=bb, metric=run.objective[0], mode=run.objective[1],
                        seed=seed, n_workers=workers, backend=run.backend, stop=run.stop,
                        packages=PACKAGES)
    try:
        session = open_run(out, fidelity=bb.fidelity_name, metrics=run.metrics,
                           hyperparameters=list(bb.space), config=config,
                           replayable=side == "sim", metadata=meta | {"sim2real": config})
    except RunComplete:
        return out
    started = time.perf_counter()
    try:
        with LoadMonitor(study.out / "load.csv"):  # the load while runs run, not analysis
            run.tuner(session=session).run()
    finally:
        run.backend.close()
    print(f"  {side:11s} {scheduler:9s} w{workers} s{seed}: {time.perf_counter() - started:6.1f} s",
          flush=True)
    return out


class LoadMonitor:
    """Samples os.getloadavg() every `every` seconds in a thread while the runs go on,
    appending "unix time,1-min load" lines to `path` (kept across reruns of the study)."""

    def __init__(self, path: Path, every: float = 15.0) -> None:
        self.path, self.every = path, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @property
    def samples(self) -> list[tuple[float, float]]:
        lines = self.path.read_text().split() if self.path.exists() else []
        return [(float(t), float(x)) for t, x in (line.split(",") for line in lines)]

    def _loop(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while not self._stop.is_set():
            with open(self.path, "a") as f:
                f.write(f"{time.time():.1f},{os.getloadavg()[0]:.2f}\n")
            self._stop.wait(self.every)

    def __enter__(self) -> LoadMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def machine(load: list[tuple[float, float]]) -> dict[str, Any]:
    """Where the study ran: platform, CPU, cores, BLAS, the load seen during it, versions."""
    import numpy  # noqa: F401  (loads the BLAS that threadpoolctl reports)

    from simtune.core.provenance import machine as this_machine
    from simtune.core.provenance import versions

    loads = [x for _, x in load] or [os.getloadavg()[0]]
    return this_machine() | {
        "python": platform.python_version(),
        "load_1min": {"min": min(loads), "median": sorted(loads)[len(loads) // 2],
                      "max": max(loads), "n_samples": len(loads)},
        "versions": versions(PACKAGES),
    }


def run_study(study: Study) -> dict[str, Any]:
    """Every run of `study`, then the comparison, figures and summary.json in study.out."""
    from simtune.analysis.sim2real_compare import compare
    from simtune.analysis.sim2real_plots import plot_all

    bb = table(study)
    started = time.time()
    for workers in study.workers:
        for scheduler in study.schedulers:
            for seed in study.seeds:
                for side in study.sides(scheduler):
                    run_one(study, bb, side, scheduler, seed, workers)
    summary = compare(study, bb)
    summary["machine"] = machine(LoadMonitor(study.out / "load.csv").samples)
    summary["invocation_seconds"] = round(time.time() - started, 1)  # this call: runs skipped
    summary["figures"] = [str(p.relative_to(study.out)) for p in plot_all(study, bb, summary)]
    (study.out / "summary.json").write_text(
        json.dumps(_strict(summary), indent=1, default=float, allow_nan=False) + "\n")
    return summary


def _strict(value: Any) -> Any:
    """`value` with every NaN float (an undefined tau) as None: summary.json is strict JSON."""
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def parse(argv: list[str] | None = None) -> Study:
    """The study of the command line; bad values exit 2 with one line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, type=Path, help="directory of runs and results")
    p.add_argument("--quick", action="store_true",
                   help="random and asha, 2 seeds, budget 15 s, wall cap 4: a few minutes")
    p.add_argument("--task", default="digits", choices=["digits", "breast_cancer", "wine"],
                   help="the mlp_sklearn task (without --table)")
    p.add_argument("--table", type=Path, default=None,
                   help="your own table (.h5 of `python -m simtune.blackboxes tabulate`)")
    p.add_argument("--training", default=TRAINING,
                   help="the function that made the table, path/file.py:name")
    p.add_argument("--schedulers", nargs="+", default=list(SCHEDULERS))
    p.add_argument("--seeds", type=int, default=3, help="tuning seeds 0..N-1")
    p.add_argument("--workers", type=int, nargs="+", default=[2], help="n_workers values")
    p.add_argument("--budget", type=float, default=15.0,
                   help="seconds per worker on the table's clock (default 15)")
    p.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                   help="cpu: same training CPU seconds on both sides; wall: the real run "
                        "gets `budget` wall-clock seconds")
    p.add_argument("--wall-cap", type=float, default=10.0,
                   help="clock=cpu: a real run ends after this x budget wall seconds")
    p.add_argument("--train-seed", type=int, default=0, help="the table seed trained for real")
    p.add_argument("--max-trials", type=int, default=None, help="also stop after N trials")
    a = p.parse_args(argv)
    if a.quick:
        a.schedulers, a.seeds = QUICK["schedulers"], QUICK["seeds"]
        a.budget, a.wall_cap = QUICK["budget"], QUICK["wall_cap"]
    from simtune.core.schedulers import scheduler_names

    unknown = [s for s in a.schedulers if s not in scheduler_names()]
    bad = (f"unknown scheduler {unknown[0]!r}; use some of {', '.join(scheduler_names())}"
           if unknown else "--seeds must be >= 1" if a.seeds < 1
           else "--workers must be >= 1" if min(a.workers) < 1
           else "--budget and --wall-cap must be > 0" if min(a.budget, a.wall_cap) <= 0
           else "--max-trials must be >= 1" if a.max_trials is not None and a.max_trials < 1
           else None)
    if bad:
        p.exit(2, f"sim2real: {bad}\n")
    path = Path(a.training.rpartition(":")[0]).expanduser()
    path = path if path.is_absolute() or path.exists() else ROOT / path
    if not path.is_file() or not a.training.rpartition(":")[2]:
        p.exit(2, f"sim2real: --training {a.training!r}: write path/file.py:function\n")
    if a.table is not None and not a.table.is_file():
        p.exit(2, f"sim2real: --table {a.table} is not a file\n")
    training = f"{path.resolve()}:{a.training.rpartition(':')[2]}"
    return Study(task=a.task, table=a.table, training=training,
                 schedulers=list(a.schedulers), seeds=list(range(a.seeds)),
                 workers=list(a.workers), budget=a.budget, clock=a.clock, wall_cap=a.wall_cap,
                 train_seed=a.train_seed, max_trials=a.max_trials, out=a.out)


def main(argv: list[str] | None = None) -> int:
    study = parse(argv)
    summary = run_study(study)
    tau = summary["kendall_tau"]
    timing = summary["timing_error"]
    print(f"Kendall tau (sim vs real final regret): {tau['tau']} "
          f"[{tau['ci_low']}, {tau['ci_high']}] over {len(study.seeds)} seeds")
    print(f"timing: measured / table CPU per epoch median {timing['cpu_ratio_median']}, "
          f"wall {timing['wall_ratio_median']}; {study.out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
