"""Figures from run_curves output: one panel per task, and a summary (normalized regret, rank).

A scheduler has the same colour and line style in every figure (``scheduler_styles`` over
all names: ten colours, then the same colours dashed, dotted, ...).
Figures are built with matplotlib's object API (no pyplot global state) and saved as
PNG and PDF.

Example:
    >>> styles = scheduler_styles(["random", "asha"])
    >>> styles["asha"], styles["random"]
    ({'color': 'C0', 'linestyle': '-'}, {'color': 'C1', 'linestyle': '-'})
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.aggregate import AGG_LABELS, aggregate, average_rank, centre
from analysis.curves import X_LABELS, matrix, task_name

LINESTYLES = ("-", "--", ":", "-.")
Styles = dict[str, dict[str, str]]  # scheduler -> matplotlib line properties


def scheduler_styles(schedulers: list[str]) -> Styles:
    """Colour and line style per scheduler name (sorted), the same in every panel and
    figure: matplotlib's ten default colours solid, then dashed, dotted, dash-dotted."""
    names = sorted(set(schedulers))
    return {
        name: {"color": f"C{i % 10}", "linestyle": LINESTYLES[(i // 10) % len(LINESTYLES)]}
        for i, name in enumerate(names)
    }


def _figure(n_panels: int, ncols: int = 3, size: tuple[float, float] = (4.6, 3.5)):
    from matplotlib.figure import Figure

    ncols = min(ncols, n_panels)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _save(fig, path: Path) -> list[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = [path.with_suffix(".png"), path.with_suffix(".pdf")]
    fig.savefig(out[0], dpi=150)
    fig.savefig(out[1], metadata={"CreationDate": None})  # same runs, same bytes
    return out


def _band(ax, x, mid, lo, hi, style: dict[str, str], label: str, alpha: float = 0.2) -> None:
    ax.plot(x, mid, **style, label=label, drawstyle="steps-post")
    ax.fill_between(x, lo, hi, color=style["color"], alpha=alpha, linewidth=0, step="post")


def _legend(fig, styles: Styles) -> None:
    """One legend for the whole figure, below the panels, in the style order."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], **style, label=name) for name, style in styles.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(6, len(handles)),
               fontsize="small", frameon=False)


def _alpha(styles: dict) -> float:
    """Band opacity: lighter when many schedulers overlap."""
    return 0.2 if len(styles) <= 5 else 0.08


def _log_x(ax) -> None:
    """Log x axis (call after plotting); minor ticks unlabelled when the axis spans a
    decade or more (a major tick is then in view, and minor labels would collide)."""
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    lo, hi = ax.get_xlim()
    if lo > 0 and hi / lo >= 10:
        ax.xaxis.set_minor_formatter(NullFormatter())


def _log_y_if_spread(ax, values: np.ndarray) -> None:
    """Log (or symlog when zeros occur) y axis if positive values span > 2 decades."""
    values = values[np.isfinite(values)]
    positive = values[values > 0]
    if positive.size and positive.max() / positive.min() > 100:
        if (values > 0).all():
            ax.set_yscale("log")
        else:
            ax.set_yscale("symlog", linthresh=float(positive.min()))


def plot_tasks(curves: pd.DataFrame, tasks: pd.DataFrame, x: str, is_log: bool, agg: str,
               styles: Styles, rng: np.random.Generator, path: Path) -> list[Path]:
    """One panel per task: regret (or best value if the optimum is unknown) over x."""
    fig, axes = _figure(len(tasks))
    for ax, info in zip(axes, tasks.itertuples(), strict=True):
        sub = curves[(curves.benchmark == info.benchmark) & (curves.task == info.task)]
        known = info.optimum_source == "metadata optimum"
        col = "regret" if known else "best_so_far"
        shown = []
        for sched, runs in sub.groupby("scheduler", sort=True):
            values = matrix(runs, col)
            mid, lo, hi = aggregate(values, agg, rng)
            reported = np.isfinite(values).all(axis=0)  # draw once every run has reported
            mid, lo, hi = (np.where(reported, v, np.nan) for v in (mid, lo, hi))
            grid = np.sort(runs["x"].unique())
            _band(ax, grid, mid, lo, hi, styles[sched], sched, _alpha(styles))
            shown.append(np.concatenate([mid, lo, hi]))
        if known:
            _log_y_if_spread(ax, np.concatenate(shown))
        if is_log:
            _log_x(ax)
        ax.set_title(f"{task_name(info.benchmark, info.task)} ({sub.run_dir.nunique()} runs)")
        ax.set_xlabel(X_LABELS[x])
        ax.set_ylabel(f"regret of {info.metric}" if known
                      else f"best {info.metric} ({info.mode})")
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"Per task: {AGG_LABELS[agg]} over seeds")
    _legend(fig, {k: v for k, v in styles.items() if k in set(curves.scheduler)})
    return _save(fig, path)


def plot_summary(curves: pd.DataFrame, x: str, is_log: bool, agg: str,
                 styles: Styles, rng: np.random.Generator, path: Path) -> list[Path]:
    """Two panels over budget fractions: normalized regret pooled over all tasks and
    seeds, and the average rank of each scheduler across tasks (1 = best)."""
    fig, (ax_regret, ax_rank) = _figure(2, ncols=2, size=(5.5, 4.0))
    schedulers = sorted(curves["scheduler"].unique())
    task_keys = sorted(set(zip(curves.benchmark, curves.task, strict=True)))
    fractions = np.sort(curves["fraction"].unique())
    scores = np.full((len(schedulers), len(task_keys), len(fractions)), np.nan)
    shown = []
    start = len(fractions) - 1  # the first fraction at which some scheduler has a value < 1
    for i, sched in enumerate(schedulers):
        runs = curves[curves.scheduler == sched]
        mid, lo, hi = aggregate(matrix(runs, "norm_regret"), agg, rng)
        _band(ax_regret, fractions, mid, lo, hi, styles[sched], sched, _alpha(styles))
        shown.append(np.concatenate([mid, lo, hi]))
        below = np.flatnonzero(mid < 1 - 1e-9)
        start = min(start, int(below[0])) if below.size else start
        for j, (benchmark, task) in enumerate(task_keys):
            one = runs[(runs.benchmark == benchmark) & (runs.task == task)]
            if len(one):
                scores[i, j] = centre(matrix(one, "norm_regret"), agg)
    mean_rank = average_rank(scores)
    for i, sched in enumerate(schedulers):
        ax_rank.plot(fractions, mean_rank[i], **styles[sched], label=sched,
                     drawstyle="steps-post")
    _log_y_if_spread(ax_regret, np.concatenate(shown))
    unit = X_LABELS[x].split(" (")[0]
    for ax in (ax_regret, ax_rank):
        ax.set_xlim(left=fractions[max(start - 1, 0)])  # not the flat start before results
        if is_log:
            _log_x(ax)
        ax.set_xlabel(f"fraction of the budget ({unit})")
        ax.grid(True, alpha=0.3)
    _legend(fig, {k: v for k, v in styles.items() if k in schedulers})
    ax_regret.set_ylabel(f"normalized regret ({AGG_LABELS[agg]})")
    ax_regret.set_title(f"normalized regret: {len(task_keys)} task(s), "
                        f"{curves.run_dir.nunique()} runs")
    ax_rank.set_ylabel("average rank across tasks (1 = best)")
    ax_rank.set_ylim(0.8, len(schedulers) + 0.2)
    ax_rank.set_title("average rank")
    return _save(fig, path)
