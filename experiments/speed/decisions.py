"""Scheduler decision time: ms per `suggest` and per `on_report` at 100, 500, 1,000 observations.

    python experiments/speed/decisions.py                      # bo tpe mobster bohb dehb
    python experiments/speed/decisions.py --benchmarks branin --max-fidelity 27 \\
        --schedulers bo tpe mobster bohb dehb
    python experiments/speed/decisions.py --full-run 500       # + bo on nasbench201, 4 workers
    python experiments/speed/decisions.py --conditional --observations 100 300  # issue 22

Each scheduler runs in the simulator (4 workers) behind a timing proxy; the number of
observations is the number of trials that have reported at least once. The calls made
while that count is in [n, n + window) are timed, so each figure is a mean over real
decisions at that data size: wall-clock ms and CPU ms of this process (the CPU figure
is the one to trust on a shared, loaded machine).
Targets (issue 5): GP-based methods < 50 ms per suggestion at 1,000 observations, TPE/KDE
< 5 ms. `--full-run N` also times a whole run of `bo` on NAS-Bench-201 cifar10 with 4
workers and N trials, results written, as `experiments/run.py` does it.
`--conditional` (issue 22: a conditional space costs the GP and TPE at most 1.5x per
decision of the flat space of the same active dimension) times the `bo` and `tpe`
searchers' `suggest` on CONDITIONAL (optimizer sgd/adam, lr, momentum|sgd, beta1|adam:
3 active hyperparameters) and on FLAT (optimizer, lr, x), fed the same objective one
trial at a time, the two searchers in lockstep so that both see the same machine load.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from simtune.blackboxes import repository
from simtune.blackboxes.synthetic import BraninCurves
from simtune.core.rundir import open_run
from simtune.core.schedulers import make_searcher
from simtune.core.schedulers.base import Scheduler
from simtune.core.space import Space, choice, loguniform, uniform
from simtune.core.stopping import StoppingCriterion
from simtune.core.trial import Decision, Report, Suggestion, Trial
from simtune.experiments.assemble import assemble


class Timed(Scheduler):
    """Forwards every call to `inner`, timing suggest/on_report per observation count."""

    def __init__(self, inner: Scheduler, stop_at: int) -> None:
        self.inner, self.stop_at = inner, stop_at
        self.metric, self.mode = inner.metric, inner.mode
        self.n_obs = 0
        self._reported: set[int] = set()
        self.suggest_s: list[tuple[int, float, float]] = []  # (n_obs, wall s, cpu s)
        self.report_s: list[tuple[int, float, float]] = []

    def suggest(self, trial_id: int) -> Suggestion | None:
        if self.n_obs >= self.stop_at:
            return None
        t, c = time.perf_counter(), time.process_time()
        out = self.inner.suggest(trial_id)
        self.suggest_s.append((self.n_obs, time.perf_counter() - t, time.process_time() - c))
        return out

    def on_start(self, trial: Trial) -> None:
        self.inner.on_start(trial)

    def on_report(self, trial: Trial, report: Report) -> Decision:
        t, c = time.perf_counter(), time.process_time()
        out = self.inner.on_report(trial, report)
        self.report_s.append((self.n_obs, time.perf_counter() - t, time.process_time() - c))
        if report.trial_id not in self._reported:
            self._reported.add(report.trial_id)
            self.n_obs += 1
        return out

    def on_complete(self, trial: Trial, report: Report) -> None:
        self.inner.on_complete(trial, report)

    def on_error(self, trial: Trial) -> None:
        self.inner.on_error(trial)


def benchmark(name: str, max_fidelity: int) -> Any:
    if name == "branin":
        return BraninCurves(max_fidelity=max_fidelity)
    return repository.load("nasbench201", "cifar10")


def measure(name: str, bb: Any, sizes: list[int], window: int, seed: int = 0) -> dict:
    """{n: {"suggest": (wall ms mean, wall ms max, cpu ms mean), "report": (...)}}."""
    run = assemble(bb, name, seed=seed, n_workers=4, allow_single_fidelity=True,
                   stop=StoppingCriterion(max_trials=100 * (max(sizes) + window)))
    timed = Timed(run.scheduler, stop_at=max(sizes) + window)
    dataclasses.replace(run, scheduler=timed).tuner().run()
    out = {}
    for n in sizes:
        out[n] = {}
        for what, calls in (("suggest", timed.suggest_s), ("report", timed.report_s)):
            sel = np.array([(w, c) for k, w, c in calls if n <= k < n + window]).reshape(-1, 2)
            out[n][what] = (
                (1e3 * sel[:, 0].mean(), 1e3 * sel[:, 0].max(), 1e3 * sel[:, 1].mean())
                if len(sel)
                else (np.nan,) * 3
            )
    return out


def full_run(n_trials: int, scheduler: str = "bo", seed: int = 0) -> tuple[float, float]:
    """Real seconds for `n_trials` of `scheduler` on nasbench201 cifar10 with 4 workers,
    and the virtual seconds they cover."""
    bb = repository.load("nasbench201", "cifar10")
    run = assemble(bb, scheduler, seed=seed, stop=StoppingCriterion(max_trials=n_trials),
                   n_workers=4)
    with tempfile.TemporaryDirectory() as tmp:
        tuner = run.tuner(session=open_run(Path(tmp), fidelity=bb.fidelity_name,
                                           metrics=list(bb.objectives),
                                           hyperparameters=list(bb.space)))
        start = time.perf_counter()
        summary = tuner.run()
        return time.perf_counter() - start, summary.time


OPTIMIZER = {"optimizer": choice(["sgd", "adam"]), "lr": loguniform(1e-3, 1e-1)}
CONDITIONAL = Space(
    {**OPTIMIZER, "momentum": uniform(0.0, 0.99), "beta1": uniform(0.8, 0.999)},
    conditions={"momentum": {"optimizer": "sgd"}, "beta1": {"optimizer": "adam"}},
)
FLAT = Space({**OPTIMIZER, "x": uniform(0.0, 1.0)})


def _loss(config: dict[str, Any]) -> float:
    """A smooth objective of the active hyperparameters, adam's branch the better one."""
    third = config.get("momentum", config.get("beta1", config.get("x")))
    base = 0.0 if config["optimizer"] == "adam" else 0.5
    return base + (np.log10(config["lr"]) + 2) ** 2 + (third - 0.9) ** 2


def conditional_vs_flat(name: str, sizes: list[int], window: int, seed: int = 0) -> dict:
    """{n: (conditional cpu ms, flat cpu ms)}: mean CPU ms of searcher `name`'s
    `suggest` with n to n + window - 1 observations, on CONDITIONAL and on FLAT."""
    searchers = {
        key: make_searcher(name, {"space": space, "mode": "min",
                                  "rng": np.random.default_rng(seed)})
        for key, space in (("conditional", CONDITIONAL), ("flat", FLAT))
    }
    cpu: dict[str, list[tuple[int, float]]] = {key: [] for key in searchers}
    for trial in range(max(sizes) + window):
        for key, searcher in searchers.items():  # lockstep: the same load on both
            c = time.process_time()
            config = searcher.suggest()
            cpu[key].append((trial, time.process_time() - c))
            searcher.on_start(trial, config)
            searcher.observe(trial, 1, _loss(config))
            searcher.on_end(trial)
    return {
        n: tuple(1e3 * float(np.mean([s for k, s in cpu[key] if n <= k < n + window]))
                 for key in ("conditional", "flat"))
        for n in sizes
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schedulers", nargs="+", default=["bo", "tpe", "mobster", "bohb", "dehb"])
    parser.add_argument(
        "--benchmarks",
        nargs="+",
        default=["branin", "nasbench201"],
        choices=["branin", "nasbench201"],
    )
    parser.add_argument("--observations", nargs="+", type=int, default=[100, 500, 1000])
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument(
        "--max-fidelity", type=int, default=2, help="epochs of the Branin curves (at least 2)"
    )
    parser.add_argument(
        "--full-run",
        type=int,
        default=0,
        metavar="N",
        help="also time bo on nasbench201 cifar10 for N trials",
    )
    parser.add_argument("--conditional", action="store_true",
                        help="time bo and tpe on a conditional space against a flat one")
    args = parser.parse_args()
    if args.conditional:
        print(f"{'searcher':<9}{'obs':>5} | {'conditional cpu ms':>18}{'flat cpu ms':>12}"
              f"{'ratio':>7}")
        for name in [s for s in args.schedulers if s in ("bo", "tpe")]:
            for n, (cond, flat) in conditional_vs_flat(name, args.observations,
                                                        args.window).items():
                print(f"{name:<9}{n:>5} | {cond:>18.2f}{flat:>12.2f}{cond / flat:>7.2f}",
                      flush=True)
        return
    print(
        f"{'scheduler':<11}{'benchmark':<12}{'obs':>5} | {'suggest ms':>10}{'max':>8}"
        f"{'cpu ms':>8} | {'report ms':>9}{'max':>7}{'cpu ms':>8}"
    )
    for bench in args.benchmarks:
        bb = benchmark(bench, args.max_fidelity)
        for name in args.schedulers:
            for n, t in measure(name, bb, args.observations, args.window).items():
                (s, s_max, s_cpu), (r, r_max, r_cpu) = t["suggest"], t["report"]
                print(
                    f"{name:<11}{bench:<12}{n:>5} | {s:>10.2f}{s_max:>8.1f}{s_cpu:>8.2f}"
                    f" | {r:>9.3f}{r_max:>7.2f}{r_cpu:>8.3f}",
                    flush=True,
                )
    if args.full_run:
        real, virtual = full_run(args.full_run)
        print(
            f"bo on nasbench201 cifar10, 4 workers, {args.full_run} trials: {real:.1f} s "
            f"real for {virtual / 3600:.1f} h virtual"
        )


if __name__ == "__main__":
    main()
