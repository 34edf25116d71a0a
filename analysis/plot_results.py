"""Plot best-so-far (or regret) over time, per scheduler, for runs below some directories.

Usage (from the repository root):
    python analysis/plot_results.py multirun/2024-05-01 [DIR ...] [--out fig.png] [--metric NAME]

For every (benchmark, task) one panel: per scheduler the median over seeds of
the best metric value so far (or its regret to the known optimum) on a common
time grid, with a 25-75% band. Also prints a table of final values.

Example:
    >>> from analysis.load import load_runs
    >>> df = load_runs(["multirun/2024-05-01"])  # doctest: +SKIP
    >>> print(summarize(df).to_string(index=False))  # doctest: +SKIP
    >>> plot(df, "results.png")  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as `python analysis/plot_results.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.load import (  # noqa: E402
    METADATA_FILE,
    RESULTS_FILE,
    AnalysisError,
    concat_runs,
    find_runs,
    read_run,
)

PANEL_KEYS = ["benchmark", "task"]
GROUP_KEYS = ["benchmark", "task", "scheduler"]
TIME_LABEL = "time (s, backend clock)"


def resample(times: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Step interpolation: at each grid point the last value reported at or before it.

    NaN before the first report; held constant after the last one. ``times`` sorted.
    >>> resample(np.array([1.0, 3.0]), np.array([5.0, 7.0]), np.array([0.0, 1.0, 2.0, 9.0]))
    array([nan,  5.,  5.,  7.])
    """
    times = np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    idx = np.searchsorted(times, np.asarray(grid, dtype=float), side="right") - 1
    if values.size == 0:
        return np.full(idx.shape, np.nan)
    return np.where(idx >= 0, values[np.clip(idx, 0, None)], np.nan)


def time_grid(first: float, last: float, n: int = 200) -> tuple[np.ndarray, bool]:
    """``n`` points from ``first`` to ``last``, geometric if the range spans > 2 decades.

    Returns (grid, is_log). A first time <= 0 never gives a log grid.
    """
    if last <= first:
        return np.array([first, first]), False
    if first > 0 and last / first > 100:
        return np.geomspace(first, last, n), True
    return np.linspace(first, last, n), False


def quantiles(curves: np.ndarray, qs: list[float], lower_is_better: bool) -> np.ndarray:
    """Quantiles over runs (axis 0), counting a run with no report yet (NaN) as the worst.

    A quantile that depends on a run without a report is NaN, so a median curve
    starts only once more than half of the runs have reported; it is never an
    average of the early reporters alone. Returns an array of shape (len(qs), grid).
    """
    sign = 1.0 if lower_is_better else -1.0
    s = np.sort(sign * np.asarray(curves, dtype=float), axis=0)  # NaN sorts last = worst
    n = s.shape[0]
    out = []
    for q in qs:
        pos = q * (n - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        frac = pos - lo
        v = s[lo] if frac == 0 else s[lo] + (s[hi] - s[lo]) * frac
        out.append(sign * v)
    return np.array(out)


def y_column(panel: pd.DataFrame) -> str:
    """'regret' if every run of the panel knows the optimum, else 'best_so_far'."""
    return "regret" if panel["optimum"].notna().all() else "best_so_far"


def panel_curves(panel: pd.DataFrame, n: int = 200) -> tuple[np.ndarray, bool, dict]:
    """The common time grid of one panel and, per scheduler, its runs x grid curves."""
    col = y_column(panel)
    by_run = panel.groupby("run_dir", sort=True)
    grid, is_log = time_grid(by_run["time"].min().min(), by_run["time"].max().max(), n)
    curves: dict[str, np.ndarray] = {}
    for sched, sub in panel.groupby("scheduler", sort=True):
        curves[sched] = np.array([
            resample(run["time"].to_numpy(), run[col].to_numpy(), grid)
            for _, run in sub.groupby("run_dir", sort=True)
        ])
    return grid, is_log, curves


def scheduler_colors(schedulers: list[str]) -> dict[str, str]:
    """One colour per scheduler name, the same in every panel."""
    names = sorted(set(schedulers))
    palette = [f"C{i}" for i in range(10)]
    if len(names) > 10:
        import matplotlib

        cmap = matplotlib.colormaps["tab20"]
        palette = [matplotlib.colors.to_hex(cmap(i % 20)) for i in range(len(names))]
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


def y_label(panel: pd.DataFrame) -> str:
    metric, mode = panel["metric"].iloc[0], panel["mode"].iloc[0]
    if y_column(panel) == "regret":
        return f"regret of {metric}"
    return f"best {metric} so far ({mode})"


def plot(df: pd.DataFrame, out: str | Path, n_grid: int = 200) -> Path:
    """Draw one panel per (benchmark, task) and save a PNG to ``out``; returns the path."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    panels = list(df.groupby(PANEL_KEYS, sort=True))
    if not panels:
        raise AnalysisError("no reports to plot")
    colors = scheduler_colors(df["scheduler"].unique().tolist())
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(5.0 * ncols, 3.8 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, ((benchmark, task), panel) in zip(axes, panels, strict=False):
        grid, is_log, curves = panel_curves(panel, n_grid)
        is_regret = y_column(panel) == "regret"
        lower_is_better = is_regret or panel["mode"].iloc[0] == "min"
        shown = []
        for sched, runs in curves.items():
            q25, q50, q75 = quantiles(runs, [0.25, 0.5, 0.75], lower_is_better)
            label = f"{sched} (n={len(runs)})"
            ax.step(grid, q50, where="post", color=colors[sched], label=label)
            ax.fill_between(grid, q25, q75, step="post", color=colors[sched], alpha=0.2,
                            linewidth=0)
            shown.append(np.concatenate([q25, q50, q75]))
        if is_log:
            ax.set_xscale("log")
        values = np.concatenate(shown)
        values = values[np.isfinite(values)]
        positive = values[values > 0]
        if is_regret and positive.size and positive.max() / positive.min() > 100:
            if (values > 0).all():
                ax.set_yscale("log")
            else:  # regret 0 reached: keep it visible
                ax.set_yscale("symlog", linthresh=positive.min())
        ax.set_title(f"{benchmark} / {task} ({panel['run_dir'].nunique()} runs)")
        ax.set_xlabel(TIME_LABEL)
        ax.set_ylabel(y_label(panel))
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    return out


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per (benchmark, task, scheduler): runs, and median / quartiles of the final best.

    The final best of a run is its best_so_far at its last report; regret columns
    are NaN when the optimum is unknown.
    """
    finals = df.groupby("run_dir", sort=False).tail(1)
    rows = []
    for keys, g in finals.groupby(GROUP_KEYS, sort=True):
        row = dict(zip(GROUP_KEYS, keys, strict=True))
        row.update(metric=g["metric"].iloc[0], mode=g["mode"].iloc[0], n_runs=len(g),
                   n_incomplete=int((~g["complete"].astype(bool)).sum()))
        for col, name in (("best_so_far", "best"), ("regret", "regret")):
            q = g[col].quantile([0.25, 0.5, 0.75]) if g[col].notna().any() else [math.nan] * 3
            q = list(q)
            row.update({f"{name}_median": q[1], f"{name}_q25": q[0], f"{name}_q75": q[2]})
        rows.append(row)
    return pd.DataFrame(rows)


def check_metrics(df: pd.DataFrame) -> None:
    """Raise AnalysisError if runs of one (benchmark, task) analyse different metrics."""
    n = df.groupby(PANEL_KEYS)["metric"].nunique()
    bad = n[n > 1]
    if len(bad):
        benchmark, task = bad.index[0]
        metrics = sorted(df.loc[(df.benchmark == benchmark) & (df.task == task), "metric"].unique())
        raise AnalysisError(
            f"runs of {benchmark}/{task} use different metrics {metrics}; choose one with --metric"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="plot_results.py",
        description="Plot best-so-far / regret over time per scheduler for runs below DIRs.",
    )
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="directories to search for runs")
    parser.add_argument("--out", default="results.png", help="PNG to write (default: %(default)s)")
    parser.add_argument("--metric", default=None,
                        help="objective to analyse (default: each run's metadata 'metric')")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    runs = find_runs(args.dirs)
    if not runs:
        raise AnalysisError(
            f"no runs found below {', '.join(args.dirs)} "
            f"(a run directory contains {METADATA_FILE} and {RESULTS_FILE})"
        )
    frames = [read_run(r, args.metric) for r in runs]
    empty = [str(r) for r, f in zip(runs, frames, strict=True) if f.empty]
    df = concat_runs(frames)
    if df.empty:
        raise AnalysisError(f"all {len(runs)} runs found below {', '.join(args.dirs)} are empty")
    check_metrics(df)
    if empty:
        print(f"note: {len(empty)} of {len(runs)} runs have no reports and are left out: "
              f"{', '.join(empty)}", file=sys.stderr)
    incomplete = df.loc[~df["complete"], "run_dir"].unique()
    if len(incomplete):
        print(f"note: {len(incomplete)} of {len(runs)} runs are incomplete (complete=false) and "
              "included up to their last report", file=sys.stderr)
    beat = df.loc[df["regret"] < 0, "run_dir"].unique()
    if len(beat):
        print(f"warning: {len(beat)} runs beat the stated optimum (negative regret), "
              f"e.g. {beat[0]}", file=sys.stderr)
    args_per_name = df.groupby(GROUP_KEYS)["scheduler_args"].nunique()
    for keys in args_per_name[args_per_name > 1].index:
        print(f"warning: runs of scheduler {keys[2]!r} on {keys[0]}/{keys[1]} have different "
              "arguments and are aggregated together", file=sys.stderr)
    table = summarize(df)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    out = plot(df, args.out)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except AnalysisError as e:
        print(f"plot_results.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
