"""Find run directories and load their results into one long DataFrame.

A run directory holds ``results.csv`` (one row per report, in time order) and
``metadata.json`` (scheduler, benchmark, task, metric, mode, optimum, ...).

Example:
    >>> df = load_runs(["multirun/2024-05-01"])  # doctest: +SKIP
    >>> df.groupby(["task", "scheduler"]).run_dir.nunique()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS_FILE = "results.csv"
METADATA_FILE = "metadata.json"

RUN_COLUMNS = [
    "benchmark", "task", "scheduler", "scheduler_args", "seed", "run_dir",
    "metric", "mode", "optimum", "complete",
]
REPORT_COLUMNS = ["trial_id", "time", "trials", "value", "best_so_far", "regret"]


class AnalysisError(Exception):
    """A problem with the result files or the request, with a one-line message."""


def find_runs(dirs: Iterable[str | Path]) -> list[Path]:
    """Run directories anywhere below ``dirs``: those with metadata.json and results.csv.

    Raises AnalysisError if one of ``dirs`` is not an existing directory.
    The result is sorted and free of duplicates (overlapping ``dirs`` are fine).
    """
    runs: set[Path] = set()
    for d in map(Path, dirs):
        if not d.is_dir():
            what = "is not a directory" if d.exists() else "does not exist"
            raise AnalysisError(f"{d} {what}")
        for meta in d.rglob(METADATA_FILE):
            if (meta.parent / RESULTS_FILE).is_file():
                runs.add(meta.parent.resolve())
    return sorted(runs)


def best_so_far(values: np.ndarray, mode: str) -> np.ndarray:
    """Running best of ``values`` (max for mode="max", min for "min"); NaNs are skipped.

    >>> best_so_far(np.array([3.0, 1.0, np.nan, 4.0]), "max").tolist()
    [3.0, 3.0, 3.0, 4.0]
    """
    values = np.asarray(values, dtype=float)
    if mode == "max":
        return np.fmax.accumulate(values) if values.size else values
    if mode == "min":
        return np.fmin.accumulate(values) if values.size else values
    raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")


def regret(best: np.ndarray, optimum: float, mode: str) -> np.ndarray:
    """optimum - best for mode="max", best - optimum for "min"; all NaN if optimum is NaN.

    Negative only if a run beats the stated optimum (which then is not the optimum).
    """
    best = np.asarray(best, dtype=float)
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    return optimum - best if mode == "max" else best - optimum


def read_metadata(run_dir: str | Path) -> dict:
    """The parsed metadata.json of one run, with a clear error if it is unreadable."""
    path = Path(run_dir) / METADATA_FILE
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise AnalysisError(f"cannot read {path}: {e}") from e
    if not isinstance(meta, dict):
        raise AnalysisError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    return meta


def run_info(meta: dict, run_dir: str | Path, metric: str | None = None) -> dict:
    """Run-level fields of one run: which metric to analyse, its mode and optimum.

    ``metric`` overrides metadata["metric"]; its mode comes from metadata["objectives"].
    """
    path = Path(run_dir) / METADATA_FILE
    missing = [k for k in ("benchmark", "task", "scheduler", "metric", "mode") if k not in meta]
    if missing:
        raise AnalysisError(f"{path}: missing key(s) {', '.join(missing)}")
    objectives = meta.get("objectives") or {meta["metric"]: meta["mode"]}
    name = metric or meta["metric"]
    if name == meta["metric"]:
        mode = meta["mode"]
    elif name in objectives:
        mode = objectives[name]
    else:
        raise AnalysisError(
            f"metric {name!r} is not an objective of {run_dir} (objectives: {sorted(objectives)})"
        )
    if mode not in ("min", "max"):
        raise AnalysisError(f"{path}: mode of {name!r} must be 'min' or 'max', got {mode!r}")
    optimum = (meta.get("optimum") or {}).get(name)
    scheduler = meta["scheduler"]
    if isinstance(scheduler, dict):
        sched_name = scheduler.get("name", "?")
        sched_args = json.dumps(scheduler.get("args", {}), sort_keys=True, default=str)
    else:
        sched_name, sched_args = str(scheduler), "{}"
    return {
        "benchmark": str(meta["benchmark"]),
        "task": str(meta["task"]),
        "scheduler": sched_name,
        "scheduler_args": sched_args,
        "seed": meta.get("seed"),
        "run_dir": str(run_dir),
        "metric": name,
        "mode": mode,
        "optimum": math.nan if optimum is None else float(optimum),
        "complete": bool(meta.get("complete", False)),
    }


def read_run(run_dir: str | Path, metric: str | None = None) -> pd.DataFrame:
    """One run as a DataFrame: one row per report, RUN_COLUMNS + REPORT_COLUMNS.

    ``trials`` counts the trials that have reported so far, ``value`` is the metric
    at that report, ``best_so_far`` its running best in time order, ``regret`` the
    distance of best_so_far to the known optimum (NaN if unknown). A header-only
    results.csv gives zero rows.
    """
    info = run_info(read_metadata(run_dir), run_dir, metric)
    path = Path(run_dir) / RESULTS_FILE
    try:
        raw = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raw = pd.DataFrame(columns=["trial_id", "time", info["metric"]])
    except (OSError, pd.errors.ParserError) as e:
        raise AnalysisError(f"cannot read {path}: {e}") from e
    missing = [c for c in ("trial_id", "time", info["metric"]) if c not in raw.columns]
    if missing:
        raise AnalysisError(f"{path}: missing column(s) {', '.join(missing)}")
    raw = raw.sort_values("time", kind="stable")
    values = pd.to_numeric(raw[info["metric"]], errors="coerce").to_numpy(dtype=float)
    best = best_so_far(values, info["mode"])
    df = pd.DataFrame({
        "trial_id": raw["trial_id"].to_numpy(),
        "time": raw["time"].to_numpy(dtype=float),
        "trials": (~raw["trial_id"].duplicated()).cumsum().to_numpy(dtype=float),
        "value": values,
        "best_so_far": best,
        "regret": regret(best, info["optimum"], info["mode"]),
    })
    for key in reversed(RUN_COLUMNS):
        df.insert(0, key, info[key])
    return df


def load_runs(dirs: Iterable[str | Path], metric: str | None = None) -> pd.DataFrame:
    """All reports of all runs below ``dirs`` in one DataFrame (see read_run).

    Runs with no reports contribute no rows; use find_runs to count them.
    """
    return concat_runs([read_run(r, metric) for r in find_runs(dirs)])


def concat_runs(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate read_run frames, keeping the columns even when there are none."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=RUN_COLUMNS + REPORT_COLUMNS)
    df = pd.concat(frames, ignore_index=True)
    for col in ("optimum", "time", "trials", "value", "best_so_far", "regret"):
        df[col] = df[col].astype(float)
    df["complete"] = df["complete"].astype(bool)
    return df


def check_metrics(df: pd.DataFrame) -> None:
    """Raise AnalysisError if runs of one (benchmark, task) analyse different metrics."""
    n = df.groupby(["benchmark", "task"])["metric"].nunique()
    bad = n[n > 1]
    if len(bad):
        benchmark, task = bad.index[0]
        metrics = sorted(df.loc[(df.benchmark == benchmark) & (df.task == task), "metric"].unique())
        raise AnalysisError(
            f"runs of {benchmark}/{task} use different metrics {metrics}; choose one with --metric"
        )
