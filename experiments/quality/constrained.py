"""Search quality under outcome constraints: feasible regret at N trials on synthetic/gramacy.

    nice -n 19 python experiments/quality/constrained.py            # random, tpe, bo; 5 seeds
    python experiments/quality/constrained.py --schedulers random bo --seeds 10 --n 20 50 100

Gramacy et al.'s toy problem (blackboxes/synthetic.py, `gramacy`): minimize x0 + x1 on
[0, 1]^2 subject to c1 <= 0 and c2 <= 0; the unconstrained optimum (0, 0) is infeasible,
the constrained one is 0.599788. Each scheduler runs with its conf/scheduler/<name>.yaml
defaults in the simulator with one worker (sequential) until N trials have reported, the
benchmark's constraints applied (the run's default). The feasible regret after n trials is
the least loss among the feasible trials so far minus 0.599788; a seed with no feasible
trial yet counts as regret 1.4002 (the worst loss, 2, minus the optimum), and the
"feasible" column says in how many seeds that did not happen. Printed: the mean regret
over the seeds, their median, and the mean number of feasible trials at the largest N.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from regret import defaults, parse_overrides  # noqa: E402

from simtune.blackboxes import repository  # noqa: E402
from simtune.core.constraints import feasible  # noqa: E402
from simtune.core.stopping import StoppingCriterion  # noqa: E402
from simtune.experiments.assemble import assemble  # noqa: E402

WORST = 2.0  # the largest x0 + x1 on [0, 1]^2


class _Finals:
    """Stands in for the ResultsWriter: each trial's last-fidelity report (loss, feasible)."""

    def __init__(self, metric: str, constraints: tuple[str, ...], last: int) -> None:
        self.metric, self.constraints, self.last = metric, constraints, last
        self.rows: list[tuple[float, bool]] = []

    def write(self, trial_id, time, fidelity, metrics, decision, status, config) -> None:
        if fidelity == self.last and self.metric in metrics:
            self.rows.append((float(metrics[self.metric]), feasible(metrics, self.constraints)))

    def close(self, **_: Any) -> None:
        pass


def run_finals(name: str, bb: Any, seed: int, n: int, params: dict[str, Any]) -> list:
    """(loss, feasible) of the first `n` trials of `name` on `bb`, in the order they ended."""
    run = assemble(bb, name, seed=seed, stop=StoppingCriterion(max_trials=n),
                   scheduler_args=params, allow_single_fidelity=True)
    finals = _Finals(run.objective[0], run.constraints, bb.fidelities[-1])
    run.tuner(results=finals).run()  # type: ignore[arg-type]
    return finals.rows


def feasible_regret(rows: list, optimum: float, ns: list[int]) -> np.ndarray:
    """Feasible regret after each n of `ns` (WORST - optimum while none is feasible)."""
    out = []
    for n in ns:
        values = [v for v, ok in rows[:n] if ok]
        out.append((min(values) if values else WORST) - optimum)
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schedulers", nargs="+", default=["random", "tpe", "bo"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n", nargs="+", type=int, default=[20, 50])
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME.ARG=VALUE",
                        help="scheduler overrides")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    bb = repository.load("synthetic", "gramacy")
    optimum = float(bb.optimum["loss"])
    ns = sorted(args.n)
    head = "".join(f"{'mean@' + str(n):>11}{'median@' + str(n):>11}" for n in ns)
    print(f"{'scheduler':<10}{head}{'feasible':>10}{'n_feas':>8}  ({args.seeds} seeds, "
          f"synthetic/gramacy, optimum {optimum:.6f})")
    for name in args.schedulers:
        registered, params = defaults(name, overrides.get(name, {}))
        regrets, n_ok = [], []
        for seed in range(args.seeds):
            rows = run_finals(registered, bb, seed, max(ns), params)
            regrets.append(feasible_regret(rows, optimum, ns))
            n_ok.append(sum(ok for _, ok in rows[: max(ns)]))
        r = np.array(regrets)
        cells = "".join(f"{m:>11.4f}{d:>11.4f}" for m, d in
                        zip(r.mean(axis=0), np.median(r, axis=0), strict=True))
        found = f"{int((r[:, -1] < WORST - optimum).sum())}/{args.seeds}"
        print(f"{name:<10}{cells}{found:>10}{np.mean(n_ok):>8.1f}", flush=True)


if __name__ == "__main__":
    main()
