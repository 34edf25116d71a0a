"""Multi-objective outputs: Pareto fronts, and hypervolume over time against a stated
reference point. Hypervolume, non-dominated filtering and attainment surfaces come from
moocore (any number of objectives).

A run is multi-objective when its scheduler optimized two or more objectives
(metadata.json: scheduler.details.derived.objectives, in runs written before 2026-12
scheduler.details.args.objectives, or scheduler.args.metrics), or when
``--objectives`` names them. Every report with all objectives counts as an evaluated
point. Per task, each objective is scaled to [0, 1] between the best and the worst
value reported by any run of the task (after turning "max" objectives into
minimization), and the reference point is 1.1 in every scaled objective (its value in
the objectives' own units is in hypervolume_tasks.csv). The hypervolume of a run at
time t is that of its points reported by t, divided by the hypervolume of all points
of all runs of the task (1 = the best front known).

Example:
    >>> round(relative_hypervolume(np.array([[0.0, 1.0], [1.0, 0.0]]), np.full(2, 1.1), 1.21), 4)
    0.1736
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from simtune.analysis.aggregate import AGG_LABELS, aggregate
from simtune.analysis.load import AnalysisError, feasible_only, read_metadata, read_results
from simtune.analysis.styles import Styles, figure_legend, line, panel_grid, save, title

REFERENCE = 1.1  # the reference point in every objective scaled to [0, 1]
N_GRID = 50


def hv_objectives(meta: dict) -> list[str]:
    """The objectives the run's scheduler optimized, if two or more, else []."""
    scheduler = meta.get("scheduler")
    if not isinstance(scheduler, dict):
        return []
    details = scheduler.get("details") or {}
    names = (
        (details.get("derived") or {}).get("objectives")
        or (details.get("args") or {}).get("objectives")  # runs written before derived
        or (scheduler.get("args") or {}).get("metrics")
        or []
    )
    names = list(names)  # a dict (name -> mode) or a list of names
    return names if len(names) >= 2 else []


def modes_of(meta: dict, names: list[str], run_dir: str) -> list[str]:
    """The mode of each objective from metadata["objectives"], or a one-line error."""
    objectives = meta.get("objectives") or {}
    missing = [n for n in names if n not in objectives]
    if missing:
        raise AnalysisError(f"{run_dir}/metadata.json: 'objectives' has no mode for "
                            f"{', '.join(missing)} (objectives: {sorted(objectives)})")
    return [objectives[n] for n in names]


def relative_hypervolume(points: np.ndarray, ref: np.ndarray, best: float) -> float:
    """Hypervolume of ``points`` (n, m; minimized, scaled) against ``ref``, over ``best``."""
    import moocore

    if not len(points) or best <= 0:
        return 0.0
    return float(moocore.hypervolume(points, ref=ref)) / best


Objectives = dict[tuple[str, str], tuple[list[str], np.ndarray]]  # task -> (names, signs)


def collect(runs: pd.DataFrame, objectives: list[str] | None
            ) -> tuple[pd.DataFrame, Objectives]:
    """(points, objectives): one row per report with all objectives, of the
    multi-objective runs used (task keys, scheduler label, run_dir, time, the objective
    values to minimize o0, o1, ...); per task the objective names and their signs
    (1 for min, -1 for max)."""
    frames, sets, signs_of = [], {}, {}
    for r in runs[runs["left_out"] == ""].itertuples():
        meta = read_metadata(r.run_dir)
        names = objectives or hv_objectives(meta)
        if not names:
            continue
        key = (r.benchmark, r.task)
        if sets.setdefault(key, names) != names:
            raise AnalysisError(f"multi-objective runs of {r.benchmark}/{r.task} optimize "
                                f"different objectives {sets[key]} and {names}; choose with "
                                "--objectives")
        signs = np.array([1.0 if m == "min" else -1.0 for m in modes_of(meta, names, r.run_dir)])
        raw = feasible_only(read_results(r.run_dir), meta, names)
        lacking = [n for n in names if n not in raw.columns]
        if lacking:
            raise AnalysisError(f"{r.run_dir}/results.csv has no column(s) {', '.join(lacking)}")
        y = raw[names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float) * signs
        keep = np.isfinite(y).all(axis=1)
        frame = pd.DataFrame(y[keep], columns=[f"o{i}" for i in range(len(names))])
        frame.insert(0, "time", raw["time"].to_numpy(dtype=float)[keep])
        for col, value in (("run_dir", r.run_dir), ("scheduler", r.label), ("task", r.task),
                           ("benchmark", r.benchmark)):
            frame.insert(0, col, value)
        frames.append(frame)
        sets[key] = names
        signs_of[key] = signs
    if not frames or not sum(map(len, frames)):
        return pd.DataFrame(), {}
    return (pd.concat(frames, ignore_index=True),
            {k: (sets[k], signs_of[k]) for k in sets})


def hypervolume_curves(points: pd.DataFrame, objectives: Objectives, fractions: np.ndarray
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(curves, tasks): per run and budget fraction its relative hypervolume; per task
    the scaling, the reference point (scaled and in the objectives' units) and the
    hypervolume of all its points."""
    import moocore

    curves, tasks = [], []
    for (benchmark, task), sub in points.groupby(["benchmark", "task"], sort=True):
        names, signs = objectives[(benchmark, task)]
        cols = [f"o{i}" for i in range(len(names))]
        y = sub[cols].to_numpy(dtype=float)
        lo, worst = y.min(axis=0), y.max(axis=0)
        hi = y[moocore.is_nondominated(y)].max(axis=0)  # the nadir of the front of all runs
        hi = np.where(hi > lo, hi, worst)
        span = np.where(hi > lo, hi - lo, 1.0)
        ref = np.full(len(names), REFERENCE)
        best = float(moocore.hypervolume((y - lo) / span, ref=ref))
        budget = float(sub["time"].max())
        tasks.append({"benchmark": benchmark, "task": task, "objectives": ",".join(names),
                      "modes": ",".join("min" if s > 0 else "max" for s in signs),
                      "reference_point": ",".join(f"{v:.6g}" for v in
                                                  signs * (lo + REFERENCE * (hi - lo))),
                      "ideal": ",".join(f"{v:.6g}" for v in signs * lo),
                      "nadir": ",".join(f"{v:.6g}" for v in signs * hi),
                      "hypervolume_all_runs": best, "budget": budget,
                      "n_runs": sub.run_dir.nunique()})
        for run_dir, run in sub.groupby("run_dir", sort=True):
            z = (run[cols].to_numpy(dtype=float) - lo) / span
            t = run["time"].to_numpy()
            hv = [relative_hypervolume(z[t <= f * budget], ref, best) for f in fractions]
            curves.append(pd.DataFrame({"benchmark": benchmark, "task": task,
                                        "scheduler": run.scheduler.iloc[0], "run_dir": run_dir,
                                        "fraction": fractions, "hypervolume": hv}))
    return pd.concat(curves, ignore_index=True), pd.DataFrame(tasks)


def hypervolume_table(curves: pd.DataFrame, fractions: list[float], agg: str,
                      rng: np.random.Generator) -> str:
    """Markdown: relative hypervolume per scheduler at the budget fractions, pooled over
    tasks (bootstrap CI stratified by task)."""
    lines = ["| scheduler | " + " | ".join(f"{100 * f:g}% budget" for f in fractions) + " |",
             "|---|" + "---|" * len(fractions)]
    for sched, sub in curves.groupby("scheduler", sort=True):
        cells = []
        for f in fractions:
            at = sub[np.isclose(sub["fraction"], f)].sort_values("run_dir")
            mid, lo, hi = aggregate(at["hypervolume"].to_numpy()[:, None], agg, rng,
                                    strata=(at["benchmark"] + "/" + at["task"]).to_numpy())
            cells.append(f"{mid[0]:.3f} [{lo[0]:.3f}, {hi[0]:.3f}]")
        lines.append(f"| {sched} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + (
        f"\n\nHypervolume relative to that of all runs' points of the task (1 = the best "
        f"front known), {AGG_LABELS[agg]} over runs pooled over tasks (seeds resampled "
        f"within tasks). Objectives scaled to [0, 1] per task between the ideal and the "
        f"nadir of the front of all runs' points; reference point {REFERENCE} in every "
        "scaled objective (in the objectives' units: hypervolume_tasks.csv).\n")


def plot_hypervolume(curves: pd.DataFrame, tasks: pd.DataFrame, agg: str, styles: Styles,
                     rng: np.random.Generator, path: Path) -> list[Path]:
    """One panel per task: relative hypervolume over the fraction of the budget."""
    fig, flat = panel_grid(len(tasks), 3, (4.4, 3.2))
    names = sorted(curves["scheduler"].unique())
    for ax, info in zip(flat, tasks.itertuples(), strict=True):
        sub = curves[(curves.benchmark == info.benchmark) & (curves.task == info.task)]
        for sched, runs in sub.groupby("scheduler", sort=True):
            wide = runs.pivot(index="run_dir", columns="fraction", values="hypervolume")
            mid, lo, hi = aggregate(wide.to_numpy(dtype=float), agg, rng)
            line(ax, wide.columns.to_numpy(), mid, styles[sched], sched, band=(lo, hi))
        ax.set_title(f"{info.benchmark}/{info.task} ({info.n_runs} runs)", fontsize="medium")
        ax.set_xlabel("fraction of the budget (time)")
        ax.set_ylabel("hypervolume / all runs' (unitless)")
        ax.grid(True, alpha=0.3)
    figure_legend(fig, styles, names)
    title(fig, f"Hypervolume over time, {AGG_LABELS[agg]} over seeds; reference point "
          f"{REFERENCE} per objective scaled to [0, 1] (ideal to nadir of all runs' front)")
    return save(fig, path)


def plot_pareto(points: pd.DataFrame, tasks: pd.DataFrame, styles: Styles,
                path: Path) -> list[Path]:
    """One panel per task, the first two objectives: each scheduler's median attainment
    surface over seeds (line: reached by at least half of its runs) and its points that
    no other of its runs' points dominate (dots: the front pooled over seeds)."""
    import moocore

    fig, flat = panel_grid(len(tasks), 3, (4.4, 3.6))
    names = sorted(points["scheduler"].unique())
    for ax, info in zip(flat, tasks.itertuples(), strict=True):
        sub = points[(points.benchmark == info.benchmark) & (points.task == info.task)]
        objectives, modes = info.objectives.split(","), info.modes.split(",")
        signs = np.array([1.0 if m == "min" else -1.0 for m in modes[:2]])
        for sched, runs in sub.groupby("scheduler", sort=True):
            y = runs[["o0", "o1"]].to_numpy(dtype=float)
            sets = pd.factorize(runs["run_dir"], sort=True)[0] + 1
            surface = moocore.eaf(y, sets, percentiles=[50])[:, :2]
            surface = surface[np.argsort(surface[:, 0], kind="stable")] * signs
            ax.plot(surface[:, 0], surface[:, 1], **{**styles[sched], "marker": None},
                    drawstyle="steps-post", label=sched)
            front = y[moocore.is_nondominated(y)] * signs
            ax.plot(front[:, 0], front[:, 1], linestyle="none", marker=styles[sched]["marker"]
                    or "o", color=styles[sched]["color"], markersize=3, alpha=0.6)
        ideal = np.array(info.ideal.split(","), dtype=float)[:2]
        ref = np.array(info.reference_point.split(","), dtype=float)[:2]
        pad = 0.05 * (ref - ideal)
        ax.set_xlim(sorted([ideal[0] - pad[0], ref[0]]))  # the region the hypervolume counts
        ax.set_ylim(sorted([ideal[1] - pad[1], ref[1]]))
        more = f" (first 2 of {len(objectives)})" if len(objectives) > 2 else ""
        ax.set_title(f"{info.benchmark}/{info.task}{more}", fontsize="medium")
        ax.set_xlabel(f"{objectives[0]} ({modes[0]})")
        ax.set_ylabel(f"{objectives[1]} ({modes[1]})")
        ax.grid(True, alpha=0.3)
    figure_legend(fig, styles, names)
    title(fig, "Pareto fronts: line = median attainment surface over seeds (reached by "
          ">= 50% of runs), dots = non-dominated points pooled over seeds; axes end at the "
          "hypervolume's reference point")
    return save(fig, path)


def write_outputs(runs: pd.DataFrame, df: pd.DataFrame, args: argparse.Namespace, out: Path,
                  styles: Styles, rng: np.random.Generator) -> list[Path]:
    """The multi-objective files if any run used is multi-objective, else nothing."""
    names = [n.strip() for n in args.objectives.split(",")] if args.objectives else None
    if names is not None and len(names) < 2:
        raise AnalysisError(f"--objectives needs two or more names, got {args.objectives!r}")
    points, objectives = collect(runs, names)
    if points.empty:
        return []
    try:
        import moocore  # noqa: F401
    except ImportError as e:
        raise AnalysisError("the multi-objective outputs need moocore (a dependency of "
                            "simtune): pip install moocore") from e
    fractions = np.linspace(1 / N_GRID, 1.0, N_GRID)
    table_fr = sorted(set(args.budget_fractions))
    curves, tasks = hypervolume_curves(points, objectives, np.union1d(fractions, table_fr))
    written = plot_pareto(points, tasks, styles, out / "pareto")
    written += plot_hypervolume(curves, tasks, args.agg, styles, rng, out / "hypervolume")
    table = hypervolume_table(curves, table_fr, args.agg, rng)
    (out / "hypervolume_table.md").write_text(table, encoding="utf-8")
    tasks.to_csv(out / "hypervolume_tasks.csv", index=False)
    curves.to_csv(out / "hypervolume.csv", index=False)
    print(f"multi-objective: {points.run_dir.nunique()} runs, {len(tasks)} task(s)\n\n{table}",
          file=sys.stdout)
    return [*written, out / "hypervolume_table.md", out / "hypervolume_tasks.csv",
            out / "hypervolume.csv"]
