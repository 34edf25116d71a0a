"""Figures from run_curves output: per task (tasks.png) and pooled (summary.png).

Each figure has one column of panels per group of schedulers (styles.groups: one per
family, or a highlight panel), so no panel holds more than one family's curves. Figures
are built with matplotlib's object API (no pyplot global state) and saved as PNG and PDF.

Example:
    >>> plot_summary(curves, "time", True, "iqm", styles, panels, rng, "headline",
    ...              Path("out/summary"))  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simtune.analysis.aggregate import AGG_LABELS, aggregate, average_rank, centre
from simtune.analysis.curves import X_LABELS, matrix, task_name
from simtune.analysis.styles import (
    BACKGROUND,
    Group,
    Styles,
    figure,
    fit_y,
    legend,
    legend_rows,
    line,
    log_x,
    log_y_if_spread,
    save,
    set_x,
    title,
    x_left,
)


def metric_unit(metric: str, values: np.ndarray) -> str:
    """The unit of a metric's regret, as far as the result files tell: accuracies in
    percentage points (values above 1.5) or as a fraction, anything else in the metric's
    own units."""
    values = np.asarray(values, dtype=float)
    if "acc" in metric.lower():
        big = np.isfinite(values).any() and np.nanmax(np.abs(values)) > 1.5
        return "percentage points" if big else "fraction, 1 = 100%"
    return f"in units of {metric}"


def mark_floor(ax, floor: float | None) -> None:
    """Say in the panel that values at or below the log axis' floor are drawn at it."""
    if floor:
        ax.text(0.99, 0.98, f"log axis: values <= {floor:.2g} (incl. 0) drawn at the bottom",
                transform=ax.transAxes, fontsize="x-small", color="0.35", ha="right",
                va="top")


def plot_tasks(curves: pd.DataFrame, tasks: pd.DataFrame, x: str, is_log: bool, agg: str,
               styles: Styles, panels: list[Group], rng: np.random.Generator,
               path: Path, baseline: str | None = None) -> list[Path]:
    """tasks.png/.pdf: tasks_figure saved at ``path``."""
    return save(tasks_figure(curves, tasks, x, is_log, agg, styles, panels, rng, baseline),
                path)


def tasks_figure(curves: pd.DataFrame, tasks: pd.DataFrame, x: str, is_log: bool, agg: str,
                 styles: Styles, panels: list[Group], rng: np.random.Generator,
                 baseline: str | None = None):
    """One row per task, one column per group: regret (or the best value if the
    optimum is unknown) over x, aggregated over seeds."""
    fig, axes, tops = figure(len(tasks), len(panels), (4.4, 2.9), legend_rows(panels))
    for row, info in enumerate(tasks.itertuples()):
        sub = curves[(curves.benchmark == info.benchmark) & (curves.task == info.task)]
        known = info.optimum_source == "metadata optimum"
        col = "regret" if known else "best_so_far"
        drawn = {}
        for sched, runs in sub.groupby("scheduler", sort=True):
            values = matrix(runs, col)
            mid, lo, hi = aggregate(values, agg, rng)
            reported = np.isfinite(values).all(axis=0)  # draw once every run has reported
            drawn[sched] = [np.where(reported, v, np.nan) for v in (mid, lo, hi)]
        grid = np.sort(sub["x"].unique())
        mids = np.stack([v[0] for v in drawn.values()])
        first = grid[np.isfinite(mids).any(axis=0)]
        left = x_left(float(first[0]) if first.size else grid[0], float(grid[-1]), is_log)
        shown = np.concatenate([np.concatenate(v)[np.tile(grid >= left, 3)]
                                for v in drawn.values()])
        for ax, panel in zip(axes[row], panels, strict=True):
            for sched in panel.background:
                if sched in drawn:
                    line(ax, grid, drawn[sched][0], BACKGROUND)
            for sched in panel.members:
                if sched in drawn:
                    mid, lo, hi = drawn[sched]
                    line(ax, grid, mid, styles[sched], sched, band=(lo, hi))
            floor = log_y_if_spread(ax, shown) if known else None
            if floor:
                for artist in ax.lines:
                    artist.set_ydata(np.maximum(artist.get_ydata(), floor))
            mark_floor(ax, floor)
            fit_y(ax, shown, floor)
            if is_log:
                log_x(ax, left, float(grid[-1]))
            else:
                set_x(ax, left, float(grid[-1]))
            ax.grid(True, alpha=0.3)
            ax.set_title(f"{task_name(info.benchmark, info.task)} ({sub.run_dir.nunique()} runs)",
                         fontsize="medium")
            if ax is axes[row][0]:
                unit = metric_unit(info.metric, sub["best_so_far"].to_numpy())
                ax.set_ylabel(f"regret of {info.metric}\n({unit})" if known
                              else f"best {info.metric}\n({info.mode}, {unit})")
            if row == len(tasks) - 1:
                ax.set_xlabel(X_LABELS[x])
    for ax, panel in zip(tops, panels, strict=True):
        legend(ax, styles, [s for s in panel.members if s in set(curves.scheduler)],
               panel.background, title=panel.title, baseline=baseline)
    title(fig, f"Per task: {AGG_LABELS[agg]} over seeds", fontsize="large")
    return fig


def plot_summary(curves: pd.DataFrame, x: str, is_log: bool, agg: str, styles: Styles,
                 panels: list[Group], rng: np.random.Generator, headline: str,
                 path: Path, baseline: str | None = None,
                 reference: str = "worst") -> list[Path]:
    """summary.png/.pdf: summary_figure saved at ``path``."""
    return save(summary_figure(curves, x, is_log, agg, styles, panels, rng, headline,
                               baseline, reference), path)


def summary_figure(curves: pd.DataFrame, x: str, is_log: bool, agg: str, styles: Styles,
                   panels: list[Group], rng: np.random.Generator, headline: str,
                   baseline: str | None = None, reference: str = "worst"):
    """Over budget fractions, per group of schedulers: normalized regret pooled over all
    tasks and seeds (bootstrap CI stratified by task), and, with two or more tasks, the
    average rank among all schedulers across tasks (1 = best). ``headline`` begins the
    figure's title; ``reference`` is what scores 1 (curves.REFERENCES)."""
    schedulers = sorted(curves["scheduler"].unique())
    task_keys = sorted(set(zip(curves.benchmark, curves.task, strict=True)))
    fractions = np.sort(curves["fraction"].unique())
    scores = np.full((len(schedulers), len(task_keys), len(fractions)), np.nan)
    pooled = {}
    start = len(fractions) - 1  # the first fraction at which some scheduler has a value < 1
    for i, sched in enumerate(schedulers):
        runs = curves[curves.scheduler == sched].sort_values(["run_dir", "fraction"])
        strata = runs.groupby("run_dir", sort=True)["task"].first().to_numpy()
        pooled[sched] = aggregate(matrix(runs, "norm_regret"), agg, rng, strata=strata)
        below = np.flatnonzero(pooled[sched][0] < 1 - 1e-9)
        start = min(start, int(below[0])) if below.size else start
        for j, (benchmark, task) in enumerate(task_keys):
            one = runs[(runs.benchmark == benchmark) & (runs.task == task)]
            if len(one):
                scores[i, j] = centre(matrix(one, "norm_regret"), agg)
    mean_rank = dict(zip(schedulers, average_rank(scores), strict=True))
    ranked = len(task_keys) >= 2  # a rank over one task is that task's order: no panel
    fig, axes, tops = figure(2 if ranked else 1, len(panels), (4.6, 3.3), legend_rows(panels))
    left = x_left(fractions[max(start - 1, 0)], 1.0, is_log)
    shown = np.concatenate([np.concatenate(v)[np.tile(fractions >= left, 3)]
                            for v in pooled.values()])
    unit = X_LABELS[x].split(" (")[0]
    for c, panel in enumerate(panels):
        ax_regret = axes[0][c]
        ax_rank = axes[1][c] if ranked else None
        for sched in panel.background:
            line(ax_regret, fractions, pooled[sched][0], BACKGROUND)
            if ranked:
                line(ax_rank, fractions, mean_rank[sched], BACKGROUND)
        for sched in panel.members:
            mid, lo, hi = pooled[sched]
            line(ax_regret, fractions, mid, styles[sched], sched, band=(lo, hi))
            if ranked:
                line(ax_rank, fractions, mean_rank[sched], styles[sched], sched)
        floor = log_y_if_spread(ax_regret, shown)
        if floor:
            for artist in ax_regret.lines:
                artist.set_ydata(np.maximum(artist.get_ydata(), floor))
        mark_floor(ax_regret, floor)
        fit_y(ax_regret, shown, floor)
        for ax in (ax_regret, ax_rank) if ranked else (ax_regret,):
            if is_log:
                log_x(ax, left, 1.0)
            else:
                set_x(ax, left, 1.0)
            ax.grid(True, alpha=0.3)
        axes[-1][c].set_xlabel(f"fraction of the budget ({unit})")
        if ranked:
            ax_rank.set_ylim(len(schedulers) + 0.5, 0.5)  # best at the top
        legend(tops[c], styles, panel.members, panel.background, title=panel.title,
               baseline=baseline)
    axes[0][0].set_ylabel(f"normalized regret (0 = optimum,\n1 = {reference} "
                          "first-reported value)")
    if ranked:
        axes[1][0].set_ylabel(f"average rank of {len(schedulers)}\nacross tasks (1 = best)")
    what = ("Top: normalized regret, {agg} (seeds resampled within tasks); bottom: average "
            "rank." if ranked else "Normalized regret, {agg} (seeds resampled within the "
            "task); no rank panel for one task.").format(agg=AGG_LABELS[agg])
    title(fig, f"{headline}\n{what} {len(task_keys)} task(s), "
          f"{curves.run_dir.nunique()} runs.")
    return fig
