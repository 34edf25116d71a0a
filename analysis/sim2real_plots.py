"""The figures of the sim-to-real study (experiments/sim2real.py): anytime regret of each
method simulated vs real, rank agreement of the methods, and the timing calibration.

Example:
    >>> plot_all(study, table, summary)  # doctest: +SKIP
    [PosixPath('s2r/regret.png'), PosixPath('s2r/ranks.png'), PosixPath('s2r/timing.png')]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simtune.analysis.load import read_run
from simtune.analysis.styles import figure, save

COLORS = {"sim": "C0", "sim_charged": "C2", "real": "C3"}
LABELS = {"sim": "simulated", "sim_charged": "simulated, decision time charged",
          "real": "real (python backend)"}


def plot_all(study: Any, bb: Any, summary: dict[str, Any]) -> list[Path]:
    """regret.png, ranks.png and timing.png in study.out (their .pdf beside); the PNGs."""
    w = max(study.workers)
    return [plot_regret(study, bb, w, study.out / "regret"),
            plot_ranks(pd.read_csv(study.out / "runs.csv"), summary, w, study.out / "ranks"),
            plot_timing(pd.read_csv(study.out / "timing.csv"), study.out / "timing")]


def plot_regret(study: Any, bb: Any, workers: int, path: Path) -> Path:
    """One panel per scheduler: regret of the incumbent against epochs trained (a clock
    both sides share), each seed a thin line, the median over seeds thick."""
    n = len(study.schedulers)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    fig, axes = figure(nrows, ncols, size=(4.0, 3.0))
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, sched in zip(axes.flat, study.schedulers, strict=False):
        for side in [s for s in study.sides(sched) if s in COLORS]:
            curves, top = [], 0
            for seed in study.seeds:
                df = read_run(study.run_dir(side, sched, seed, workers))
                x, y = np.arange(1, len(df) + 1), df["regret"].to_numpy()
                ax.step(x, y, where="post", color=COLORS[side], lw=0.6, alpha=0.45)
                curves.append((x, y))
                top = max(top, len(df))
            grid = np.arange(1, top + 1)
            held = np.array([_hold(x, y, grid) for x, y in curves])
            ax.step(grid, np.nanmedian(held, axis=0), where="post", color=COLORS[side],
                    lw=2, label=LABELS[side], ls="--" if side == "sim_charged" else "-")
        ax.set_yscale("symlog", linthresh=0.01, linscale=0.5)
        ax.set_ylim(0, 1)
        ax.set_yticks([0, 0.01, 0.03, 0.1, 0.3, 1], ["0", ".01", ".03", ".1", ".3", "1"])
        ax.set_title(sched)
        ax.set_xlabel("epochs trained (reports)")
        ax.set_ylabel(f"regret of {next(iter(bb.objectives))}")
        ax.grid(alpha=0.3)
    for ax, sched in zip(axes.flat, study.schedulers, strict=False):
        if ax is axes.flat[0] or "sim_charged" in study.sides(sched):
            ax.legend(fontsize="small")
            if ax is not axes.flat[0]:
                break
    fig.suptitle(f"{bb.name}/{bb.task}: incumbent regret, simulated vs real\n"
                 f"n_workers={workers}, {len(study.seeds)} seeds (thin: each seed, thick: median)",
                 fontsize="medium")
    return save(fig, path)[0]


def _hold(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """y at each grid point (the last value at or before it; held after the end)."""
    idx = np.searchsorted(x, grid, side="right") - 1
    return np.where(idx >= 0, y[np.clip(idx, 0, None)], np.nan) if len(y) else grid * np.nan


def plot_ranks(runs: pd.DataFrame, summary: dict[str, Any], workers: int, path: Path) -> Path:
    """Mean final regret per method, simulated (x) vs real (y), the range over seeds as
    error bars, the diagonal, and Kendall's tau with its bootstrap CI; left the simulation
    with its whole budget, right cut to the epochs the real run trained."""
    part = runs[runs["n_workers"] == workers]
    fig, axes = figure(1, 2, size=(5.0, 4.4))
    panels = [("sim_regret", summary["kendall_tau_by_workers"][workers],
               "simulated, whole budget"),
              ("sim_at_real_regret", summary["kendall_tau_at_real_epochs"],
               "simulated, cut to the real run's epochs")]
    for ax, (column, tau, what) in zip(axes.flat, panels, strict=True):
        _ranks_panel(ax, part, column)
        ax.set_xlabel(f"final regret, {what}")
        ax.set_title(f"Kendall's tau {tau['tau']:.2f} [{tau['ci_low']:.2f}, "
                     f"{tau['ci_high']:.2f}]", fontsize="medium")
    axes[0, 0].set_ylabel("final regret, real")
    fig.suptitle(f"rank agreement of the methods (n_workers={workers}; 95% bootstrap CI "
                 f"over {len(part['seed'].unique())} seeds; bars: range over seeds)",
                 fontsize="medium")
    return save(fig, path)[0]


def _ranks_panel(ax, part: pd.DataFrame, column: str) -> None:
    g = part.groupby("scheduler")
    cols = [column, "real_regret"]
    mean, lo, hi = g[cols].mean(), g[cols].min(), g[cols].max()
    for i, (sched, m) in enumerate(mean.iterrows()):
        err = [[[m[c] - lo.loc[sched, c]], [hi.loc[sched, c] - m[c]]] for c in cols]
        ax.errorbar(m[column], m.real_regret, xerr=err[0], yerr=err[1], fmt="o",
                    color=f"C{i}", capsize=3, label=sched)
    both = np.concatenate([lo.to_numpy().ravel(), hi.to_numpy().ravel()])
    span = [min(0.0, float(np.nanmin(both))), float(np.nanmax(both)) * 1.5 + 1e-3]
    ax.plot(span, span, color="grey", lw=0.8, ls=":", label="real = simulated")
    ax.set_xscale("symlog", linthresh=0.003, linscale=0.3)  # 0.01 and 0.5 both readable
    ax.set_yscale("symlog", linthresh=0.003, linscale=0.3)
    ax.set_xlim(0, span[1])
    ax.set_ylim(0, span[1])
    ax.legend(fontsize="small", loc="upper left")
    ax.grid(alpha=0.3)


def plot_timing(times: pd.DataFrame, path: Path) -> Path:
    """Left: per-epoch seconds, table (CPU) vs measured (CPU and wall), log-log, epochs
    after a process's first. Right: the measured/table ratios' distribution."""
    fig, axes = figure(1, 2, size=(4.8, 4.0))
    steady = times[~times["first_in_process"] & times["contiguous"]]
    first = times[times["first_in_process"]]
    ax = axes[0, 0]
    ax.scatter(steady["table_cpu"], steady["wall"], s=4, alpha=0.3, color="C1",
               label="measured wall")
    ax.scatter(steady["table_cpu"], steady["cpu"], s=4, alpha=0.3, color="C0",
               label="measured CPU")
    ax.scatter(first["table_cpu"], first["cpu"], s=10, marker="x", color="C3", alpha=0.6,
               label="first epoch of a process (CPU)")
    lim = [max(1e-4, float(times["table_cpu"].min()) * 0.8),
           float(times[["table_cpu", "cpu", "wall"]].to_numpy().max()) * 1.2]
    ax.plot(lim, lim, color="grey", ls=":", label="measured = table")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("table: CPU seconds of the epoch")
    ax.set_ylabel("measured seconds of the epoch")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    ax = axes[0, 1]
    bins = np.logspace(-1, 1.7, 60)
    for clock, color in (("cpu", "C0"), ("wall", "C1")):
        ratio = (steady[clock] / steady["table_cpu"]).clip(bins[0], bins[-1])
        ax.hist(ratio, bins=bins, color=color, alpha=0.55,
                label=f"{clock}: median {np.median(ratio):.2f}")
    ax.axvline(1, color="grey", ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("measured / table per-epoch time")
    ax.set_ylabel("epochs")
    ax.legend(fontsize="small")
    fig.suptitle(f"timing model: {len(steady)} epochs of real trials "
                 "(not the first of a process)")
    return save(fig, path)[0]
