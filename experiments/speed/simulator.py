"""Simulated trials per real second: random search and ASHA on NAS-Bench-201 cifar10, 4 workers.

    python experiments/speed/simulator.py [--trials 1000 10000] [--profile]

Every run writes its results.csv (into a temporary directory), as a real run does.
A bare loop (heap, worker pool, random configs, dict lookup into the same table,
no results written) is timed alongside, as the floor of what Python can do.
"""

from __future__ import annotations

import argparse
import cProfile
import heapq
import pstats
import tempfile
import time
from pathlib import Path

import numpy as np

from simtune.blackboxes import repository
from simtune.blackboxes.blackbox import TabularBlackbox
from simtune.core.rundir import open_run
from simtune.core.stopping import StoppingCriterion
from simtune.experiments.assemble import assemble


def simulate(bb: TabularBlackbox, scheduler: str, n_trials: int, out: Path, seed: int = 0) -> float:
    """Seconds of real time to simulate `n_trials` trials with 4 workers."""
    run = assemble(bb, scheduler, seed=seed, stop=StoppingCriterion(max_trials=n_trials),
                   n_workers=4, metric="val_accuracy", allow_single_fidelity=True)
    tuner = run.tuner(session=open_run(out, fidelity=bb.fidelity_name,
                                       metrics=list(bb.objectives),
                                       hyperparameters=list(bb.space)))
    start = time.perf_counter()
    summary = tuner.run()
    elapsed = time.perf_counter() - start
    assert summary.n_started == n_trials, summary
    return elapsed


def bare_loop(bb: TabularBlackbox, n_trials: int, seed: int = 0) -> float:
    """The same simulation with no abstraction: the floor for the Tuner's layers."""
    rng = np.random.default_rng(seed)
    names = list(bb.space.tunable)
    choices = [bb.space[n].values() for n in names]
    idx = rng.integers(0, 5, size=(n_trials, len(names))).tolist()
    row_of = {tuple(c[n] for n in names): i for i, c in enumerate(bb.configs())}
    acc = bb._arrays["val_accuracy"][:, 0, -1].tolist()
    cost = bb._arrays["elapsed_time"][:, 0, -1].tolist()
    start = time.perf_counter()
    heap: list[tuple[float, int, int]] = []
    now, started, best = 0.0, 0, -1.0
    while started < n_trials or heap:
        while len(heap) < 4 and started < n_trials:
            row = row_of[tuple(choices[j][k] for j, k in enumerate(idx[started]))]
            heapq.heappush(heap, (now + cost[row], started, row))
            started += 1
        now, _, row = heapq.heappop(heap)
        best = max(best, acc[row])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--profile", action="store_true", help="print where the time goes")
    args = parser.parse_args()
    bb = repository.load("nasbench201", "cifar10")
    assert isinstance(bb, TabularBlackbox)
    print(f"{bb.describe()}\n")
    print(f"{'method':<12}{'trials':>8}{'seconds':>10}{'trials/s':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.trials:
            t = bare_loop(bb, n)
            print(f"{'bare loop':<12}{n:>8}{t:>10.3f}{n / t:>12,.0f}")
            for name in ("random", "asha"):
                t = simulate(bb, name, n, Path(tmp) / f"{name}-{n}")
                print(f"{name:<12}{n:>8}{t:>10.3f}{n / t:>12,.0f}")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            simulate(bb, "random", max(args.trials), Path(tmp) / "profile")
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
