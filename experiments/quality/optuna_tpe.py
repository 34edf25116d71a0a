"""Optuna's TPESampler on a table, scored as experiments/quality/regret.py scores simtune.

    nice -n 5 python experiments/quality/optuna_tpe.py                  # naval, seeds 0..4
    python experiments/quality/optuna_tpe.py --seeds 10 --ordinal int \\
        --sampler-args '{"multivariate": true}'

Optuna (the `optuna` extra) asks, sequentially, for `--n` trials; each trial's
configuration is looked up at the table's last fidelity on one of its seeds, drawn as the
simulator draws it (uniformly among the seeds the row has; a Generator from the run seed).
Every hyperparameter is `suggest_categorical` of its values, or with `--ordinal int` an
ordinal or integer one is `suggest_int` over its value index. Optuna may suggest a row it
has already evaluated: each evaluation is a trial with a fresh seed. Regret and best seen
as in regret.py; also printed per seed: distinct rows among the trials and how many
times the incumbent's row was evaluated.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from regret import regrets, seed_means  # noqa: E402

from simtune.blackboxes import repository  # noqa: E402
from simtune.core.domains import Categorical  # noqa: E402


def run_optuna(bb: Any, seed: int, n: int, ordinal: str, sampler_args: dict) -> list:
    """The (config, observed value) of `n` sequential trials of Optuna's TPE on `bb`."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    metric, mode = next(iter(bb.objectives.items()))
    last, rng = bb.fidelities[-1], np.random.default_rng(seed)
    rows: list[tuple[dict[str, Any], float]] = []

    def objective(trial: Any) -> float:
        config = {}
        for name, domain in bb.space.tunable.items():
            values = domain.values()
            if ordinal == "int" and type(domain) is not Categorical:
                config[name] = values[trial.suggest_int(name, 0, len(values) - 1)]
            else:
                config[name] = trial.suggest_categorical(name, values)
        seeds = bb.seeds_of(config)
        seed = seeds[int(rng.integers(len(seeds)))]
        value = float(bb.evaluate(config, fidelity=last, seed=seed)[metric])
        rows.append((config, value))
        return value

    sampler = optuna.samplers.TPESampler(seed=seed, **sampler_args)
    direction = "minimize" if mode == "min" else "maximize"
    optuna.create_study(direction=direction, sampler=sampler).optimize(objective, n_trials=n)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmark", default="fcnet/naval_propulsion")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--n", nargs="+", type=int, default=[100, 300])
    parser.add_argument("--ordinal", choices=["categorical", "int"], default="categorical")
    parser.add_argument("--sampler-args", type=json.loads, default={},
                        help="TPESampler keyword arguments as JSON")
    args = parser.parse_args()
    family, _, task = args.benchmark.partition("/")
    bb = repository.load(family, task)
    metric, mode = next(iter(bb.objectives.items()))
    means, ns = seed_means(bb, metric), sorted(args.n)
    per_seed = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        rows = run_optuna(bb, seed, max(ns), args.ordinal, args.sampler_args)
        r = regrets(rows, bb, means, mode, ns)
        per_seed.append(r)
        keys = [bb.space.key(c) for c, _ in rows]
        sign = 1.0 if mode == "min" else -1.0
        incumbent = keys[int(np.argmin([sign * v for _, v in rows]))]
        cells = " | ".join(f"N={n} {a:.3g} best {b:.3g}" for n, (a, b) in zip(ns, r, strict=True))
        print(f"seed {seed}: {cells} | distinct {len(set(keys))}, incumbent evaluated "
              f"{keys.count(incumbent)}x", flush=True)
    mean = np.mean(per_seed, axis=0)
    cells = " | ".join(f"N={n} {a:.3g} best {b:.3g}" for n, (a, b) in zip(ns, mean, strict=True))
    print(f"mean of {args.seeds} seeds: {cells}")


if __name__ == "__main__":
    main()
