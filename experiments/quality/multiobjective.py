"""Multi-objective search quality: hypervolume after N trials, as a fraction of the true front's.

    nice -n 10 python experiments/quality/multiobjective.py       # 5 seeds, N = 50, 100
    python experiments/quality/multiobjective.py --schedulers nsga2 ehvi --seeds 3 \\
        --benchmarks synthetic/zdt1 --n 50 --set nsga2.steady_state=false

Each scheduler runs with its conf/scheduler/<name>.yaml defaults in the simulator with
`--workers` workers (4) until N trials have reported their last fidelity, optimizing the
benchmark's objectives (all but test_*). The trials' true objective vectors are scored:
on synthetic/zdt1 the closed form (f1, f2 at the last epoch), on a table the mean over its
seeds of each objective (the search alone, without the noise of one seed). Every
objective, to minimize, is scaled so that the true Pareto front spans [0, 1] (zdt1: f1 and
f2 in [0, 1]; a table: the front of all its rows' seed means), and the hypervolume of the
first n trials is divided by the true front's, against two reference points (Scorer):
"tight", 1.1 in every objective, counts only what comes near the front; "median", the
median configuration of the space where that is worse, also the way there. Printed: mean
and standard deviation over seeds per n, and the mean ms per `suggest` (CPU time, last 50
suggestions; experiments/quality/regret.py's timer).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import moocore
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from regret import defaults, parse_overrides, run_trace  # noqa: E402

from simtune.blackboxes import repository  # noqa: E402
from simtune.blackboxes.synthetic import zdt1, zdt1_front  # noqa: E402
from simtune.core.schedulers.pareto import select_objectives, to_min  # noqa: E402

BENCHMARKS = ["synthetic/zdt1", "fcnet/protein_structure"]
SCHEDULERS = ["random", "random_scalarization", "morea", "nsga2", "ehvi"]
REF = 1.1  # in every objective, the true front scaled to [0, 1]


class Scorer:
    """The true objective vectors (to minimize) of configurations of `bb`, scaled so that
    its true Pareto front spans [0, 1] in each, and their hypervolume as a fraction of the
    front's against two reference points: "tight", 1.1 in every objective; "median", the
    median over the space's configurations where that is larger (on zdt1 (1.1, 3.9) in
    f1, f2 / 1; on fcnet/protein_structure (1.83, 1.1) in val_loss, model_size)."""

    def __init__(self, bb: Any) -> None:
        self.bb = bb
        self.objectives = select_objectives("quality", dict(bb.objectives), None)
        if hasattr(bb, "ds"):  # a table: the seed means of every row at the last fidelity
            last = bb.fidelities[-1]
            means = np.column_stack([bb.ds[k].sel(fidelity=last).mean("seed").values
                                     for k in self.objectives])
            self._table = to_min([dict(zip(self.objectives, v, strict=True)) for v in means],
                                 self.objectives)
            space = self._table
            front = space[moocore.is_nondominated(space)]
        else:  # synthetic/zdt1: the closed form
            self._table = None
            x = np.random.default_rng(0).uniform(size=(10_000, len(bb.space.tunable)))
            space = np.array([zdt1(v) for v in x])
            front = zdt1_front()
        self.lo, self.hi = front.min(axis=0), front.max(axis=0)
        m = front.shape[1]
        self.refs = {"tight": np.full(m, REF),
                     "median": np.maximum(np.median(self._scale(space), axis=0), REF)}
        self.front_hv = {k: moocore.hypervolume(self._scale(front), ref=r)
                         for k, r in self.refs.items()}

    def _scale(self, y: np.ndarray) -> np.ndarray:
        return (y - self.lo) / np.where(self.hi > self.lo, self.hi - self.lo, 1.0)

    def vectors(self, configs: list[dict[str, Any]]) -> np.ndarray:
        if self._table is not None:
            return self._table[[self.bb.row(c) for c in configs]]
        last = self.bb.fidelities[-1]
        return to_min([self.bb.evaluate(c, fidelity=last) for c in configs], self.objectives)

    def fraction(self, y: np.ndarray, ref: str) -> float:
        hv = moocore.hypervolume(self._scale(y), ref=self.refs[ref])
        return float(hv / self.front_hv[ref])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schedulers", nargs="+", default=SCHEDULERS)
    parser.add_argument("--benchmarks", nargs="+", default=BENCHMARKS)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n", nargs="+", type=int, default=[50, 100])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME.ARG=VALUE",
                        help="scheduler overrides")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    ns = sorted(args.n)
    head = "".join(f"{ref + '@' + str(n):>16}" for ref in ("tight", "median") for n in ns)
    print(f"{'benchmark':<24}{'scheduler':<22}{head}{'ms/sugg':>9}  ({args.seeds} seeds, "
          f"{args.workers} workers; mean ± sd of the hypervolume fraction)")
    for bench in args.benchmarks:
        family, _, task = bench.partition("/")
        bb = repository.load(family, task)
        scorer = Scorer(bb)
        refs = ", ".join(f"{k} {np.round(r, 2).tolist()}" for k, r in scorer.refs.items())
        print(f"{bench}: reference points (front scaled to [0, 1]): {refs}")
        for name in args.schedulers:
            registered, params = defaults(name, overrides.get(name, {}))
            fractions, ms = [], []
            for seed in range(args.seeds):
                trace, t = run_trace(registered, bb, seed, max(ns), params,
                                     n_workers=args.workers)
                y = scorer.vectors([c for c, _ in trace.rows])
                fractions.append([scorer.fraction(y[:n], ref) for ref in scorer.refs
                                  for n in ns])
                ms.append(t)
            f = np.array(fractions)
            cells = "".join(f"{m:>10.3f} ± {s:.3f}" for m, s in
                            zip(f.mean(axis=0), f.std(axis=0), strict=True))
            print(f"{bench:<24}{name:<22}{cells}{np.mean(ms):>9.1f}", flush=True)


if __name__ == "__main__":
    main()
