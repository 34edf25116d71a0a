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
    "metric", "mode", "optimum", "complete", "learning_curves",
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


def incumbent_so_far(values: np.ndarray, fidelities: np.ndarray | None, mode: str
                     ) -> np.ndarray:
    """The run's incumbent value after each report, in time order (core.incumbent's
    definition): the best value among the reports so far at the highest fidelity any of
    them reached; reports without a finite value do not count. Without fidelities, the
    running best (best_so_far). When a trial reaches a new highest fidelity, the
    incumbent is that report's value, worse or not.

    >>> incumbent_so_far(np.array([0.9, 0.5, 0.7, 0.6]), np.array([1, 2, 2, 1]), "max").tolist()
    [0.9, 0.5, 0.7, 0.7]
    """
    values = np.asarray(values, dtype=float)
    if fidelities is None or not values.size:
        return best_so_far(values, mode)
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    level = pd.to_numeric(pd.Series(fidelities), errors="coerce").to_numpy(dtype=float)
    valid = np.isfinite(values)
    level = np.where(valid & ~np.isnan(level), level, -np.inf)
    level[~valid] = -np.inf
    top = np.maximum.accumulate(level)  # the highest fidelity reached so far
    sign = 1.0 if mode == "min" else -1.0
    counted = np.where(valid & (level == top), sign * values, np.inf)
    segment = np.concatenate([[0], np.cumsum(top[1:] != top[:-1])])  # top constant within
    running = pd.Series(counted).groupby(segment).cummin().to_numpy()
    return np.where(np.isfinite(running), sign * running, np.nan)


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


DEFAULTS = {"benchmark": "unknown", "task": "unknown", "scheduler": "unknown"}


def run_info(meta: dict, run_dir: str | Path, metric: str | None = None) -> dict:
    """Run-level fields of one run: which metric to analyse, its mode and optimum.

    Only the metric and its mode are required: ``metric`` (or metadata["metric"]) and
    metadata["mode"] (or metadata["objectives"][metric]). benchmark, task and scheduler
    default to "unknown" (listed in ``defaulted``), as in runs of the Python API.
    """
    path = Path(run_dir) / METADATA_FILE
    objectives = dict(meta.get("objectives") or {})
    name = metric or meta.get("metric")
    if name is None:
        raise AnalysisError(f"{path}: no key 'metric'; name the objective with --metric")
    if name == meta.get("metric") and "mode" in meta:
        mode = meta["mode"]
    elif name in objectives:
        mode = objectives[name]
    elif metric is not None and meta.get("metric") not in (None, name):
        raise AnalysisError(
            f"metric {name!r} is not an objective of {run_dir} (objectives: {sorted(objectives)})"
        )
    else:
        raise AnalysisError(f"{path}: no key 'mode' (nor 'objectives') for metric {name!r}")
    if mode not in ("min", "max"):
        raise AnalysisError(f"{path}: mode of {name!r} must be 'min' or 'max', got {mode!r}")
    optimum = (meta.get("optimum") or {}).get(name)
    scheduler = meta.get("scheduler", DEFAULTS["scheduler"])
    if isinstance(scheduler, dict):
        sched_name = str(scheduler.get("name", DEFAULTS["scheduler"]))
        sched_args = json.dumps(scheduler.get("args") or {}, sort_keys=True, default=str)
    else:
        sched_name, sched_args = str(scheduler), "{}"
    fidelities = meta.get("fidelities")
    details = scheduler.get("details") if isinstance(scheduler, dict) else None
    searcher = (details or {}).get("searcher") if isinstance(details, dict) else None
    return {
        "benchmark": str(meta.get("benchmark", DEFAULTS["benchmark"])),
        "task": str(meta.get("task") or DEFAULTS["task"]),
        "scheduler": sched_name,
        "scheduler_args": sched_args,
        "seed": meta.get("seed"),
        "run_dir": str(run_dir),
        "metric": name,
        "mode": mode,
        "optimum": math.nan if optimum is None else float(optimum),
        "complete": bool(meta.get("complete", False)),
        "learning_curves": (len(fidelities) > 1) if isinstance(fidelities, list) else None,
        "searcher": str(searcher.get("name", "")) if isinstance(searcher, dict) else "",
        "budget": budget(meta),
        "allow_single_fidelity": meta.get("allow_single_fidelity") is True,
        "defaulted": ",".join(k for k in DEFAULTS if k not in meta),
    }


def budget(meta: dict) -> str:
    """The run's budget as written in metadata.json ``stop``: its set limits, e.g.
    "max_wallclock=3.3" ("" if none is recorded)."""
    stop = meta.get("stop")
    if not isinstance(stop, dict):
        return ""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in sorted(stop.items()) if v is not None)


def read_run(run_dir: str | Path, metric: str | None = None) -> pd.DataFrame:
    """One run as a DataFrame: one row per report, RUN_COLUMNS + REPORT_COLUMNS.

    ``trials`` counts the trials that have reported so far, ``value`` is the metric
    at that report, ``best_so_far`` the run's incumbent value after it (core.incumbent:
    the best value at the highest fidelity reached so far, see incumbent_so_far; the
    best over every report at any fidelity is ``best_so_far(value)``), ``regret`` the
    distance of best_so_far to the known optimum (NaN if unknown). A header-only
    results.csv gives zero rows.
    """
    return read_one(run_dir, metric)[1]


def read_one(run_dir: str | Path, metric: str | None = None) -> tuple[dict, pd.DataFrame]:
    """(run_info of the run plus its number of reports, its reports as in read_run)."""
    meta = read_metadata(run_dir)
    info = run_info(meta, run_dir, metric)
    raw = feasible_only(read_results(run_dir), meta, [info["metric"]])
    fidelity = meta.get("fidelity_name")
    if info["learning_curves"] is None and fidelity in raw.columns and len(raw):
        info["learning_curves"] = bool(raw[fidelity].nunique() > 1)
    missing = [c for c in ("trial_id", "time", info["metric"]) if c not in raw.columns]
    if missing and len(raw):
        raise AnalysisError(f"{Path(run_dir) / RESULTS_FILE}: missing column(s) "
                            f"{', '.join(missing)}")
    if missing:  # header-only file of another metric: nothing to analyse either way
        raw = pd.DataFrame(columns=["trial_id", "time", info["metric"]])
    written = int(raw["decision"].notna().sum()) if "decision" in raw.columns else len(raw)
    counted = meta.get("n_reports")
    if meta.get("complete") is True and isinstance(counted, int) and written < counted:
        raise AnalysisError(
            f"{Path(run_dir) / RESULTS_FILE} holds {written} of the {counted} reports its "
            f"{METADATA_FILE} counts: the file was cut short; move that run away and "
            "run it again"
        )
    raw = raw.sort_values("time", kind="stable")
    values = pd.to_numeric(raw[info["metric"]], errors="coerce").to_numpy(dtype=float)
    levels = raw[fidelity].to_numpy() if fidelity in raw.columns else None
    best = incumbent_so_far(values, levels, info["mode"])
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
    return {**info, "n_reports": int(np.isfinite(values).sum())}, df


def read_results(run_dir: str | Path) -> pd.DataFrame:
    """The results.csv of a run as written (a header-only or empty file gives no rows)."""
    path = Path(run_dir) / RESULTS_FILE
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=["trial_id", "time"])
    except (OSError, pd.errors.ParserError) as e:
        raise AnalysisError(f"cannot read {path}: {' '.join(str(e).split())}") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise AnalysisError(f"cannot read {path}: not a results file ({type(e).__name__}); "
                            "move it away or rerun that run") from None


def feasible_only(raw: pd.DataFrame, meta: dict, columns: Iterable[str]) -> pd.DataFrame:
    """`raw` (a results.csv) with `columns` emptied (NaN) in the reports that violate one
    of the run's outcome constraints (metadata.json "constraints", core.constraints), so
    that every best-so-far, regret, table and figure counts only feasible reports; `raw`
    itself in a run without constraints."""
    names = meta.get("constraints") or ()
    if not names or raw.empty:
        return raw
    from simtune.core.constraints import feasible_rows

    out = raw.copy()
    bad = ~feasible_rows(raw, names)
    for col in columns:
        if col in out.columns:
            out[col] = pd.to_numeric(out[col], errors="coerce").where(~bad)
    return out


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
