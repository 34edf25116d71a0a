"""Search quality: regret at N=100 and N=300 trials, sequential, over seeds, on tables.

    nice -n 19 python experiments/quality/regret.py                   # 5 seeds, defaults
    python experiments/quality/regret.py --schedulers bo tpe --seeds 10 \\
        --benchmarks nasbench201/cifar10 --set bo.refit_every=1
    python experiments/quality/regret.py --schedulers random bo --workers 4 \\
        --benchmarks hpobench_mlp/australian --budget 3600 --set bo.cost_aware=true
    python experiments/quality/regret.py --schedulers bo tpe --benchmarks synthetic/branin \\
        --n 10 20 50 --set bo.initial_design=sobol tpe.initial_design=sobol

Each scheduler runs with its conf/scheduler/<name>.yaml defaults in the simulator with
one worker (sequential, as Optuna runs) until N trials have reported. The incumbent after
n trials is the configuration with the best *observed* value (one seed of the table per
trial); its regret is the table optimum of the seed-mean minus the incumbent's seed-mean
(sign flipped for "min"); on a closed-form benchmark (synthetic/branin, ...) the
incumbent's value minus the known optimum. "best seen" is the best seed-mean among the
evaluated configurations: the search alone, before the noise of picking the incumbent from one
seed. Printed: the mean over the run seeds, and mean ms per `suggest` on the last 50.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from omegaconf import OmegaConf

from simtune.blackboxes import repository
from simtune.core.stopping import StoppingCriterion
from simtune.experiments.assemble import assemble

CONF = Path(__file__).resolve().parents[2] / "conf" / "scheduler"
BENCHMARKS = ["nasbench201/cifar10", "fcnet/naval_propulsion"]
SCHEDULERS = ["random", "tpe", "bo", "rea", "dehb"]


class _Trace:
    """Stands in for the ResultsWriter: the (config, value) of each report at the `last`
    fidelity (every report if None; synthetic/* report every epoch), with its (virtual)
    time and trial id."""

    def __init__(self, metric: str, last: int | None) -> None:
        self.metric, self.last = metric, last
        self.rows: list[tuple[dict[str, Any], float]] = []
        self.times: list[float] = []
        self.trial_ids: list[int] = []

    def write(self, trial_id, time, fidelity, metrics, decision, status, config) -> None:
        value = metrics.get(self.metric)
        if value is not None and (self.last is None or fidelity == self.last):
            self.rows.append((config, value))
            self.times.append(float(time))
            self.trial_ids.append(int(trial_id))

    def close(self, **_) -> None:
        pass


def defaults(name: str, overrides: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The registered name and parameters in conf/scheduler/<name>.yaml, as
    experiments/run.py reads them (bo_cost.yaml is `bo` with cost_aware), plus `overrides`."""
    params = OmegaConf.to_container(OmegaConf.load(CONF / f"{name}.yaml"), resolve=True)
    return params.pop("name"), {**params, **overrides}


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """`--set` items NAME.ARG=VALUE (VALUE read as YAML) as {NAME: {ARG: value}}."""
    overrides: dict[str, dict[str, Any]] = {}
    for item in items:
        key, _, value = item.partition("=")
        sched, _, arg = key.partition(".")
        overrides.setdefault(sched, {})[arg] = yaml.safe_load(value)
    return overrides


def seed_means(bb: Any, metric: str) -> np.ndarray | None:
    """Per table row, the mean over its seeds of `metric` at the last fidelity; None for
    a closed-form blackbox (synthetic/*: one seed, an observation is the true value)."""
    if not hasattr(bb, "configs"):
        return None
    last = bb.fidelities[-1]
    return np.array([bb.evaluate(c, fidelity=last)[metric] for c in bb.configs()], dtype=float)


def run_one(*args: Any, **kwargs: Any) -> tuple[list, float]:
    """The finished trials' (config, observed value), and mean ms per suggest (last 50):
    `n` trials, or as many as `budget` virtual seconds allow (`run_trace`'s arguments)."""
    trace, ms = run_trace(*args, **kwargs)
    return trace.rows, ms


def run_trace(
    name: str,
    bb: Any,
    seed: int,
    n: int,
    params: dict[str, Any],
    budget: float | None = None,
    n_workers: int = 1,
    all_reports: bool = False,
) -> tuple[_Trace, float]:
    """The reports (_Trace) of `name` on `bb` (at the last fidelity, or all of them), and
    mean ms per suggest (last 50): `n` trials, or as many as `budget` virtual seconds
    allow."""
    stop = StoppingCriterion(max_wallclock=budget) if budget else StoppingCriterion(max_trials=n)
    run = assemble(bb, name, seed=seed, stop=stop, n_workers=n_workers, scheduler_args=params,
                   allow_single_fidelity=True)
    scheduler = run.scheduler
    times: list[float] = []
    inner = scheduler.suggest

    def timed(trial_id: int):
        t = time.process_time()
        out = inner(trial_id)
        times.append(time.process_time() - t)
        return out

    scheduler.suggest = timed  # type: ignore[method-assign]
    trace = _Trace(run.objective[0], None if all_reports else bb.fidelities[-1])
    run.tuner(results=trace).run()  # type: ignore[arg-type]
    return trace, 1e3 * float(np.mean(times[-50:]))


def regrets(
    rows: list, bb: Any, means: np.ndarray | None, mode: str, ns: list[int]
) -> np.ndarray:
    """(len(ns), 2): incumbent regret and best-seen regret after each n in `ns` (equal on
    a closed-form blackbox, whose optimum is `bb.optimum`)."""
    sign = 1.0 if mode == "min" else -1.0
    obs = np.array([sign * v for _, v in rows])
    if means is None:
        metric = next(iter(bb.objectives))
        best, true = sign * float(bb.optimum[metric]), obs
    else:
        best = float((sign * means)[np.isfinite(means)].min())
        true = np.array([sign * means[bb.row(c)] for c, _ in rows])
    out = []
    for n in ns:
        k = min(n, len(obs))
        inc = int(np.argmin(obs[:k]))
        out.append((true[inc] - best, true[:k].min() - best))
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schedulers", nargs="+", default=SCHEDULERS)
    parser.add_argument("--benchmarks", nargs="+", default=BENCHMARKS)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--n", nargs="+", type=int, default=[100, 300])
    parser.add_argument(
        "--budget", type=float, default=None, help="virtual seconds instead of trials (--n ignored)"
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="NAME.ARG=VALUE", help="scheduler overrides"
    )
    parser.add_argument("--per-seed", action="store_true", help="also a row per run seed")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    ns = [10**9] if args.budget else sorted(args.n)
    head = "".join(f"{'N=' + str(n):>10}{'best@' + str(n):>10}" for n in ns)
    if args.budget:
        head = f"{'end':>10}{'best@end':>10}{'trials':>8}"
    print(f"{'benchmark':<24}{'scheduler':<10}{head}{'ms/sugg':>9}  ({args.seeds} seeds)")
    for bench in args.benchmarks:
        family, _, task = bench.partition("/")
        bb = repository.load(family, task)
        metric, mode = next(iter(bb.objectives.items()))
        means = seed_means(bb, metric)
        for name in args.schedulers:
            registered, params = defaults(name, overrides.get(name, {}))
            per_seed, ms, counts = [], [], []
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                rows, t = run_one(registered, bb, seed, max(ns), params, args.budget, args.workers)
                per_seed.append(regrets(rows, bb, means, mode, ns))
                ms.append(t)
                counts.append(len(rows))
            mean = np.mean(per_seed, axis=0)
            cells = "".join(f"{a:>10.4g}{b:>10.4g}" for a, b in mean)
            if args.budget:
                cells += f"{np.mean(counts):>8.0f}"
            print(f"{bench:<24}{name:<10}{cells}{np.mean(ms):>9.2f}", flush=True)
            if args.per_seed:
                for seed, r, t in zip(range(args.first_seed, args.first_seed + args.seeds),
                                      per_seed, ms, strict=True):
                    cells = "".join(f"{a:>10.4g}{b:>10.4g}" for a, b in r)
                    print(f"{'  seed ' + str(seed):<34}{cells}{t:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
