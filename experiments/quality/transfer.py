"""Does transfer pay? The transfer-learning schedulers against bo and random search on one
task of a family, the family's other tasks as sources (experiments/sources.py).

    nice -n 19 python experiments/quality/transfer.py                  # cifar10, 5 seeds
    python experiments/quality/transfer.py --workers 4 --n 10 20
    python experiments/quality/transfer.py --benchmark fcnet/protein_structure --seeds 3

Each scheduler runs with its conf/scheduler/<name>.yaml defaults in the simulator (one worker
unless --workers) until N trials have reported. Printed per scheduler and N: the mean over
run seeds of the best observed value (one table seed per trial, as a run reports it), its
regret by the table's seed-means (experiments/quality/regret.py: the incumbent's seed-mean
against the best seed-mean), and the best value of each run seed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from regret import defaults, parse_overrides, regrets, run_one, seed_means  # noqa: E402

from simtune.blackboxes import repository  # noqa: E402

SCHEDULERS = ["random", "bo", "zero_shot", "bounding_box", "quantile_based"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schedulers", nargs="+", default=SCHEDULERS)
    parser.add_argument("--benchmark", default="nasbench201/cifar10")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n", nargs="+", type=int, default=[5, 10, 20])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME.ARG=VALUE",
                        help="scheduler overrides, e.g. bounding_box.top_k=3")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    family, _, task = args.benchmark.partition("/")
    bb = repository.load(family, task)
    metric, mode = next(iter(bb.objectives.items()))
    means = seed_means(bb, metric)
    best_of = max if mode == "max" else min
    ns = sorted(args.n)
    head = "".join(f"{'best@' + str(n):>10}{'regret@' + str(n):>11}" for n in ns)
    print(f"{args.benchmark}, {metric} ({mode}), {args.workers} worker(s), {args.seeds} seeds")
    print(f"{'scheduler':<16}{head}  best@{ns[-1]} per seed")
    for name in args.schedulers:
        registered, params = defaults(name, overrides.get(name, {}))
        best, regret = [], []
        for seed in range(args.seeds):
            rows, _ = run_one(registered, bb, seed, ns[-1], params, None, args.workers)
            values = [v for _, v in rows]
            best.append([best_of(values[:n]) for n in ns])
            regret.append(regrets(rows, bb, means, mode, ns)[:, 0])
        b, r = np.mean(best, axis=0), np.mean(regret, axis=0)
        cells = "".join(f"{x:>10.3f}{y:>11.3f}" for x, y in zip(b, r, strict=True))
        seeds = " ".join(f"{s[-1]:.2f}" for s in best)
        print(f"{name:<16}{cells}  {seeds}", flush=True)


if __name__ == "__main__":
    main()
