"""Which runs are pooled, said out loud: repeated seeds are counted once, and runs of one
task with different budgets are pooled with a warning.

A (method, benchmark, task, seed) run twice (e.g. two sweeps over the same seeds) would
count one seed twice and narrow every interval: the first run (sorted by directory) is
kept, the others are left out and named. Runs of one task with different budgets
(metadata.json ``stop``) are read at fractions of the largest budget reached, so a
shorter run's last report is held flat to the end: they are pooled, flagged in runs.csv
(``note``) and named in a warning.

Example:
    >>> runs, warnings = check_pooling(runs)  # doctest: +SKIP
"""

from __future__ import annotations

import pandas as pd

SHOW = 5  # run directories listed per warning


def which(dirs: pd.Series) -> str:
    """Up to SHOW of ``dirs``, comma-separated, and how many more."""
    shown = ", ".join(dirs.iloc[:SHOW])
    return shown + (f", ... ({len(dirs) - SHOW} more)" if len(dirs) > SHOW else "")


def check_pooling(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """(runs with duplicates left out and a ``note`` column, warning lines) for the runs
    table of plot_results (label, benchmark, task, seed, run_dir, budget, left_out)."""
    runs = runs.copy()
    runs["note"] = ""
    warnings = []
    used = runs[(runs["left_out"] == "") & runs["seed"].notna()]
    keys = ["label", "benchmark", "task", "seed"]
    kept = used.sort_values("run_dir").groupby(keys, sort=False)["run_dir"].transform("first")
    repeated = kept[kept != used.loc[kept.index, "run_dir"]]
    if len(repeated):
        runs.loc[repeated.index, "left_out"] = "duplicate seed of " + repeated
        warnings.append(
            f"warning: {len(repeated)} run(s) repeat the scheduler, task and seed of another "
            "run and are left out (each seed counts once; runs.csv names the run kept): "
            f"{which(runs.loc[repeated.index, 'run_dir'])}")
    used = runs[runs["left_out"] == ""]
    for (benchmark, task), sub in used.groupby(["benchmark", "task"], sort=True):
        counts = sub["budget"].value_counts(sort=False).sort_index()
        if len(counts) > 1:
            runs.loc[sub.index, "note"] = "pooled with runs of other budgets"
            listed = "; ".join(f"{b or 'none recorded'}: {n} run(s)" for b, n in counts.items())
            warnings.append(
                f"warning: runs of {benchmark}/{task} with different budgets are pooled "
                f"({listed}); fractions are of the largest budget reached, shorter runs "
                "hold their last value")
    return runs, warnings
