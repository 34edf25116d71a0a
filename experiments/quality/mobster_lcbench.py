"""MOBSTER vs ASHA on the YAHPO LCBench surrogate: anytime best-seen over virtual time.

    nice -n 19 python experiments/quality/mobster_lcbench.py             # both lookups
    python experiments/quality/mobster_lcbench.py --lookup nearest --seeds 10 \\
        --set mobster.max_observations=400

Each scheduler runs with its conf/scheduler/<name>.yaml defaults (plus `--set`), in the
simulator, 4 workers, for `--budget` virtual seconds (2 h: conf/benchmark/yahpo_lcbench.yaml)
on OpenML tasks 3945 and 34539, seeds 0..4. Two lookups:
- `surrogate`: the ONNX surrogate itself (experiments/run.py benchmark=yahpo_lcbench);
- `nearest`: a table of `--table-size` configurations frozen from the surrogate (its own
  seed 0), every other configuration answered by its nearest row
  (benchmark.surrogate=nearest); distinct configurations can then be the same row.
The score is the best val_accuracy reported so far (any epoch, as analysis/curves.py);
regret = reference - best seen, where the reference is the table's optimum (`nearest`)
or 100 (`surrogate`, whose optimum is unknown: the regret is then the validation error in
percent). Printed: the median over seeds of the regret at fractions of the budget (and
its mean at the end), trials started, distinct configurations (table rows for `nearest`)
and mean ms per `suggest` (last 50).
The model files: $SIMTUNE_YAHPO_DIR, else $SIMTUNE_DATA/yahpo/lcbench.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from regret import defaults, parse_overrides, run_trace  # noqa: E402

from simtune.blackboxes.sources.yahpo import freeze, load_yahpo_lcbench  # noqa: E402
from simtune.blackboxes.surrogate import SurrogateBlackbox  # noqa: E402
from simtune.core.encoding import encode

FRACTIONS = (0.1, 0.25, 0.5, 1.0)
METRIC = "val_accuracy"


def model_dir() -> Path:
    """Where the YAHPO LCBench model files are."""
    folder = os.environ.get("SIMTUNE_YAHPO_DIR")
    if folder:
        return Path(folder)
    data = os.environ.get("SIMTUNE_DATA")
    if not data:
        sys.exit("set SIMTUNE_YAHPO_DIR (the folder of model.onnx) or SIMTUNE_DATA")
    return Path(data) / "yahpo" / "lcbench"


def benchmark(task: str, lookup: str, table_size: int) -> tuple[Any, float | None]:
    """The blackbox of `task` for `lookup`, and its optimum of METRIC (None if unknown)."""
    bb = load_yahpo_lcbench(task, raw_dir=model_dir())
    if lookup == "surrogate":
        return bb, None
    table = freeze(bb, table_size, np.random.default_rng(0))
    return SurrogateBlackbox(table, model="nearest"), table.optimum[METRIC]


def best_seen(times: list[float], values: list[float], at: np.ndarray) -> np.ndarray:
    """The running best (max) of `values` in time order, at the times `at` (-inf before
    the first report)."""
    order = np.argsort(times, kind="stable")
    t = np.asarray(times)[order]
    best = np.maximum.accumulate(np.asarray(values, dtype=float)[order])
    i = np.searchsorted(t, at, side="right") - 1
    return np.where(i >= 0, best[np.maximum(i, 0)], -np.inf)


def distinct(bb: Any, configs: list[dict[str, Any]]) -> int:
    """Distinct configurations, or distinct table rows answering them (nearest)."""
    if not isinstance(bb, SurrogateBlackbox):
        return len({bb.space.key(c) for c in configs})
    from scipy.spatial import cKDTree

    tree = cKDTree(np.stack([encode(bb.space, c) for c in bb.table.configs()]))
    _, rows = tree.query(np.stack([encode(bb.space, c) for c in configs]))
    return len(set(rows.tolist()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schedulers", nargs="+", default=["asha", "mobster"])
    parser.add_argument("--tasks", nargs="+", default=["3945", "34539"])
    parser.add_argument("--lookup", nargs="+", default=["surrogate", "nearest"],
                        choices=["surrogate", "nearest"])
    parser.add_argument("--table-size", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--budget", type=float, default=7200.0, help="virtual seconds")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="NAME.ARG=VALUE", help="scheduler overrides"
    )
    parser.add_argument("--per-seed", action="store_true",
                        help="also each seed's regret at the end and trials started")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    at = np.asarray(FRACTIONS) * args.budget
    cols = "".join(f"{f'@{f:g}':>8}" for f in FRACTIONS)
    print(f"median regret (accuracy points) over {args.seeds} seeds, {args.workers} workers, "
          f"{args.budget:g} s; columns: fraction of the budget")
    for lookup in args.lookup:
        for task in args.tasks:
            bb, optimum = benchmark(task, lookup, args.table_size)
            curves: dict[str, list[np.ndarray]] = {}
            stats: dict[str, list[tuple[int, int, float]]] = {}
            for name in args.schedulers:
                registered, params = defaults(name, overrides.get(name, {}))
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    trace, ms = run_trace(registered, bb, seed, 0, params, args.budget,
                                          args.workers, all_reports=True)
                    values = [v for _, v in trace.rows]
                    curves.setdefault(name, []).append(best_seen(trace.times, values, at))
                    first: dict[int, dict[str, Any]] = {}
                    for t, (c, _) in zip(trace.trial_ids, trace.rows, strict=True):
                        first.setdefault(t, c)
                    n_distinct = distinct(bb, list(first.values()))
                    stats.setdefault(name, []).append((len(first), n_distinct, ms))
            ref = 100.0 if optimum is None else optimum
            source = "error in %" if optimum is None else "table optimum"
            print(f"\n{lookup} {task}: reference {ref:.3f} ({source})")
            print(f"{'scheduler':<12}{cols}{'mean@1':>8}{'trials':>8}{'distinct':>9}"
                  f"{'ms/sugg':>9}")
            for name in args.schedulers:
                regret = ref - np.asarray(curves[name])
                n, d, ms = np.mean(stats[name], axis=0)
                cells = "".join(f"{r:>8.3f}" for r in np.median(regret, axis=0))
                cells += f"{regret[:, -1].mean():>8.3f}"
                print(f"{name:<12}{cells}{n:>8.0f}{d:>9.0f}{ms:>9.2f}", flush=True)
                if args.per_seed:
                    ends = " ".join(f"{r:.3f} ({k})" for r, (k, _, _) in
                                    zip(regret[:, -1], stats[name], strict=True))
                    print(f"{'':<12}per seed at the end (trials): {ends}", flush=True)


if __name__ == "__main__":
    main()
