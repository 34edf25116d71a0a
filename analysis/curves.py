"""Every run's best-so-far on a common grid of budget fractions, with normalized regret.

The budget of a task is the largest x (virtual/real seconds or number of trials)
any of its runs reached; fraction f of it is x = f * budget. Per task, normalized
regret is 0 at the best value (the table's optimum from metadata.json, or the best
value any run found if the optimum is unknown) and 1 at the reference: the worst (or
the median) first-reported value across the task's runs; values beyond it are clipped
to 1. A run without a report yet scores 1.

Example:
    >>> grid, is_log = fraction_grid(df, "time")  # doctest: +SKIP
    >>> curves, tasks = run_curves(df, "time", grid)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simtune.analysis.aggregate import normalized_regret, resample
from simtune.analysis.load import AnalysisError

TASK_KEYS = ["benchmark", "task"]
X_COLUMNS = {"time": "time", "trials": "trials"}
X_LABELS = {"time": "time (s, backend clock)", "trials": "trials started"}
CURVE_COLUMNS = [
    "benchmark", "task", "scheduler", "seed", "run_dir", "fraction", "x",
    "best_so_far", "regret", "norm_regret",
]


def task_name(benchmark: str, task: str) -> str:
    """'benchmark/task', the label of a task in figures and tables."""
    return f"{benchmark}/{task}"


def fraction_grid(df: pd.DataFrame, x: str, n: int = 100) -> tuple[np.ndarray, bool]:
    """``n`` budget fractions ending at 1, shared by all tasks; geometric for time if the
    earliest first report comes before 1% of its task's budget. Returns (grid, is_log).
    """
    col = _x_column(x)
    first = df.groupby([*TASK_KEYS, "run_dir"])[col].min().rename("first").reset_index()
    budget = df.groupby(TASK_KEYS)[col].max().rename("budget").reset_index()
    first = first.merge(budget, on=TASK_KEYS)
    frac = (first["first"] / first["budget"]).to_numpy()
    frac = frac[np.isfinite(frac) & (frac > 0)]
    start = float(frac.min()) if frac.size else 1.0 / n
    if x == "time" and start < 0.01:
        return np.geomspace(start, 1.0, n), True
    return np.linspace(1.0 / n, 1.0, n), False


REFERENCES = ("worst", "median")


def run_curves(
    df: pd.DataFrame, x: str, fractions: np.ndarray, reference: str = "worst"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(curves, tasks): one row per run and fraction (CURVE_COLUMNS); one row per task
    with its metric, mode, budget, optimum (and where it came from) and reference.

    `reference` is the value that scores normalized regret 1: the worst or the median
    first-reported value across the task's runs (the median is what a typical first,
    usually random, configuration reaches: robust to a few diverged ones).
    """
    if reference not in REFERENCES:
        raise AnalysisError(f"--reference must be one of {', '.join(REFERENCES)}, "
                            f"got {reference!r}")
    col = _x_column(x)
    fractions = np.asarray(fractions, dtype=float)
    curves, tasks = [], []
    for (benchmark, task), sub in df.groupby(TASK_KEYS, sort=True):
        mode = sub["mode"].iloc[0]
        sign = 1.0 if mode == "min" else -1.0
        runs = list(sub.groupby("run_dir", sort=True))
        budget = float(sub[col].max())
        optima = sub["optimum"].dropna().unique()
        if len(optima) and sub["optimum"].notna().all():
            optimum, source = float(sign * np.min(sign * optima)), "metadata optimum"
        else:
            optimum, source = float(sign * np.nanmin(sign * sub["value"])), "best value found"
        firsts = [r["value"].dropna().iloc[0] for _, r in runs if r["value"].notna().any()]
        ref = (float(sign * np.max(sign * np.array(firsts))) if reference == "worst"
               else float(np.median(firsts)))
        curves_known = sub.drop_duplicates("run_dir").get("learning_curves")
        known = [] if curves_known is None else [v for v in curves_known if v is not None
                                                 and v == v]
        tasks.append({
            "benchmark": benchmark, "task": task, "metric": sub["metric"].iloc[0], "mode": mode,
            "budget": budget, "optimum": optimum, "optimum_source": source,
            "reference": ref, "n_runs": len(runs),
            "learning_curves": bool(any(known)) if known else None,
        })
        grid = fractions * budget
        for run_dir, run in runs:
            xs = run[col].to_numpy()
            best = resample(xs, run["best_so_far"].to_numpy(), grid)
            curves.append(pd.DataFrame({
                "benchmark": benchmark, "task": task, "scheduler": run["scheduler"].iloc[0],
                "seed": run["seed"].iloc[0], "run_dir": run_dir, "fraction": fractions,
                "x": grid, "best_so_far": best,
                "regret": resample(xs, run["regret"].to_numpy(), grid),
                "norm_regret": normalized_regret(best, optimum, ref, mode),
            }))
    if not curves:
        raise AnalysisError("no reports to analyse")
    return pd.concat(curves, ignore_index=True), pd.DataFrame(tasks)


def matrix(curves: pd.DataFrame, column: str) -> np.ndarray:
    """runs x fractions array of ``column`` for the rows of ``curves`` (sorted by run_dir)."""
    wide = curves.pivot(index="run_dir", columns="fraction", values=column)
    return wide.sort_index().to_numpy(dtype=float)


def _x_column(x: str) -> str:
    if x not in X_COLUMNS:
        raise AnalysisError(f"--x must be one of {', '.join(X_COLUMNS)}, got {x!r}")
    return X_COLUMNS[x]
