"""What the Tuner costs per trial on Ray, beside backend=python: a trial that does nothing.

    python experiments/speed/ray_overhead.py                  # 20 trials, 2 workers, 2000 reports
    python experiments/speed/ray_overhead.py --trials 40 --reports 5000 --setups ray-3

Each setup runs the Tuner (random search, `n_workers` workers, no results file) on
- `python`: backend=python (a fresh Python process per trial on this machine);
- `ray-1`: backend=ray on one local Ray node with 3 CPUs (ray.cluster_utils);
- `ray-3`: backend=ray on three local nodes with 1 CPU each (a head and two workers).
Part 1: `--trials` trials whose function reports once (epoch=1) and returns: the wall time
per trial, and from a callback, per trial, start -> first report and report -> end (its
process's exit seen by the Tuner; on Ray through its actor). Part 2: one trial that
reports `--reports` times as fast as it can: the reports per second the driver takes in.
The machine's load average is printed with the numbers (this machine is shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from simtune import PythonBackend, Space, StoppingCriterion, Tuner, create_scheduler, randint
from simtune.core.callbacks import Callback

SPACE = Space({"x": randint(0, 10**6)})


def noop(config, reporter):
    """A trial that does nothing but report once."""
    reporter(epoch=1, loss=float(config["x"]))


def chatty(config, reporter):
    """One report per epoch, as fast as the reporter takes them."""
    for epoch in range(1, config["reports"] + 1):
        reporter(epoch=epoch, loss=1.0 / epoch)


class Clock(Callback):
    """perf_counter() of each trial's start, first report and end, and of every report."""

    def __init__(self) -> None:
        self.start: dict[int, float] = {}
        self.first: dict[int, float] = {}
        self.end: dict[int, float] = {}
        self.reports: list[float] = []

    def on_trial_start(self, trial) -> None:
        self.start.setdefault(trial.trial_id, time.perf_counter())

    def on_report(self, trial, report, decision) -> None:
        now = time.perf_counter()
        self.reports.append(now)
        self.first.setdefault(trial.trial_id, now)

    def on_trial_end(self, trial) -> None:
        self.end[trial.trial_id] = time.perf_counter()


def tune(backend, fn_space: Space, n_trials: int, n_workers: int,
         fidelity: int) -> tuple[float, Clock]:
    """Wall seconds of Tuner.run() for `n_trials` random trials, and its Clock."""
    scheduler = create_scheduler("random", space=fn_space, metric="loss", mode="min",
                                 max_fidelity=fidelity, seed=0)
    clock = Clock()
    tuner = Tuner(scheduler=scheduler, backend=backend, n_workers=n_workers, progress=False,
                  stop=StoppingCriterion(max_trials=n_trials), callbacks=[clock])
    wall = time.perf_counter()
    summary = tuner.run()
    wall = time.perf_counter() - wall
    assert summary.n_started == n_trials, summary
    return wall, clock


def make_backend(setup: str, fn, root: Path, fidelity: int, address: str | None):
    kwargs = {"fidelity": "epoch", "max_fidelity": fidelity, "grace_period": 2.0}
    if setup == "python":
        return PythonBackend(fn, root=root, **kwargs)
    from simtune.core.backends.ray import RayBackend

    return RayBackend(fn, address=address, storage=root, num_cpus=1, **kwargs)


def start_cluster(setup: str):
    """A local Ray cluster for `setup` (None for python), this process its driver."""
    if setup == "python":
        return None
    import ray
    from ray.cluster_utils import Cluster

    args = {"object_store_memory": 80 * 2**20}
    if setup == "ray-1":
        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 3, "include_dashboard": False, **args})
    else:
        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 1, "include_dashboard": False, **args})
        for _ in range(2):
            cluster.add_node(num_cpus=1, **args)
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    return cluster


def measure(setup: str, n_trials: int, n_workers: int, n_reports: int, tmp: Path) -> str:
    cluster = start_cluster(setup)
    address = None if cluster is None else cluster.address
    try:
        # max_fidelity 2: its exit, not its report, ends the trial (the stop is measured)
        backend = make_backend(setup, noop, tmp / setup / "noop", 2, address)
        wall, clock = tune(backend, SPACE, n_trials, n_workers, 2)
        backend.close()
        ids = sorted(clock.end)
        to_first = statistics.median(clock.first[t] - clock.start[t] for t in ids)
        to_end = statistics.median(clock.end[t] - clock.first[t] for t in ids)
        space = Space({"reports": n_reports})
        backend = make_backend(setup, chatty, tmp / setup / "chatty", n_reports, address)
        _, chat = tune(backend, space, 1, 1, n_reports)
        backend.close()
        rate = (len(chat.reports) - 1) / (chat.reports[-1] - chat.reports[0])
    finally:
        if cluster is not None:
            import ray

            ray.shutdown()
            cluster.shutdown()
    return (f"{setup:>7} | {wall / n_trials:6.2f} s | {wall * n_workers / n_trials:6.2f} s | "
            f"{to_first:6.2f} s | {to_end:6.2f} s | {rate:8.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--setups", nargs="+", default=["python", "ray-1", "ray-3"],
                        choices=["python", "ray-1", "ray-3"])
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; "
          f"{args.trials} do-nothing trials on {args.workers} workers; "
          f"{args.reports} reports of one trial")
    print("  setup | wall/trial | per worker | start->1st report | report->end | reports/s")
    with tempfile.TemporaryDirectory() as tmp:
        for setup in args.setups:
            print(measure(setup, args.trials, args.workers, args.reports, Path(tmp)), flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
