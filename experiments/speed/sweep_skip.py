"""Milliseconds per skipped run when a finished sweep is run again (docs/sweeps.md).

    python experiments/speed/sweep_skip.py [--seeds 60] [--schedulers random] \
        [--sweeper simtune basic] [--repeat 3]

Runs a sweep of ``--schedulers`` x ``--seeds`` runs (synthetic benchmark, small budget)
once in a temporary directory, then runs the same command again, which skips every run:
the whole sweep, and the same sweep cut to one run (the first scheduler, ``seed=0``).
The cost of one skipped run is the slope (T_all - T_one) / (runs - 1), free of the ~1 s
Python and Hydra start-up both pay; each scheduler is a config group, which the simtune
sweeper composes with Hydra twice (experiments/sweeps/compose.py); wall
and CPU seconds (of the sweep process and its workers) are both reported, the best of
``--repeat`` reruns. ``--sweeper basic`` is Hydra's own sweeper, which launches every
run for run.py to skip (the state before hydra/sweeper=simtune).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["benchmark=synthetic", "stop.max_wallclock=300", "progress=false"]


def sweep(sweep_dir: Path, runs: list[str], sweeper: str, cwd: Path) -> tuple[float, float]:
    """Run one sweep of the overrides ``runs``; returns its (wall, CPU) seconds, workers
    included."""
    cmd = [sys.executable, str(ROOT / "experiments" / "run.py"), "-m", *SMALL, *runs,
           f"hydra/sweeper={sweeper}", f"hydra.sweep.dir={sweep_dir}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "SIMTUNE_CACHE": str(cwd / "cache")})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"error: the sweep failed:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def skipped(sweep_dir: Path) -> int:
    """Runs the last sweep in ``sweep_dir`` counted as skipped."""
    return json.loads((sweep_dir / "progress.json").read_text())["skipped"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=60, help="seeds per scheduler")
    parser.add_argument("--schedulers", nargs="+", default=["random"],
                        help="schedulers swept (each one config group)")
    parser.add_argument("--sweeper", nargs="+", default=["simtune", "basic"],
                        choices=["simtune", "basic"], help="hydra/sweeper to time")
    parser.add_argument("--repeat", type=int, default=3, help="reruns timed, best kept")
    args = parser.parse_args()
    n_runs = args.seeds * len(args.schedulers)
    if n_runs < 2:
        parser.error(f"--seeds {args.seeds}: needs at least 2 runs to take a slope")
    every = [f"scheduler={','.join(args.schedulers)}", f"seed=range({args.seeds})"]
    one = [f"scheduler={args.schedulers[0]}", "seed=0"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sweep_dir = work / "sweep"
        wall, _ = sweep(sweep_dir, every, "simtune", work)
        print(f"first sweep: {n_runs} runs ({len(args.schedulers)} scheduler(s) x "
              f"{args.seeds} seeds) in {wall:.1f} s")
        mtimes = {p: p.stat().st_mtime_ns for p in sweep_dir.glob("*/results.csv")}
        assert len(mtimes) == n_runs, f"{len(mtimes)} of {n_runs} runs wrote results"
        for name in args.sweeper:
            times: dict[str, list[tuple[float, float]]] = {"all": [], "one": []}
            for _ in range(args.repeat):
                times["all"].append(sweep(sweep_dir, every, name, work))
                assert skipped(sweep_dir) == n_runs, "a complete run was not skipped"
                times["one"].append(sweep(sweep_dir, one, name, work))
                assert skipped(sweep_dir) == 1, "the complete run was not skipped"
            assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes, "a run was rewritten"
            for k, what in enumerate(("wall", "CPU")):
                t_all = min(t[k] for t in times["all"])
                t_one = min(t[k] for t in times["one"])
                per_run = (t_all - t_one) / (n_runs - 1) * 1000
                print(f"hydra/sweeper={name:8s} {what:4s}: {per_run:6.1f} ms per skipped run "
                      f"(rerun of {n_runs} runs {t_all:.2f} s, of 1 run {t_one:.2f} s)")


if __name__ == "__main__":
    main()
