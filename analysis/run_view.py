"""The view of one run (run.png): every trial's learning curve, coloured by what the
scheduler did with it, and the incumbent (core.incumbent) marked.

A trial's fate is read from its last row in results.csv: "stopped" (decision stop or
status stopped), "paused" (decision pause, not resumed by the end), "completed" (status
completed: it reached its last fidelity), "failed", else "running at the end". A retry
(status "retried": the trial failed and restarted from its checkpoint, core.retries) is an
o on the trial's curve, which goes on through it.

Usage:
    python analysis/run_view.py RUN_DIR [--out DIR] [--metric NAME]

Example:
    >>> plot_run(Path("multirun/x/0"), Path("out/run"))  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as `python analysis/run_view.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simtune.analysis.load import (  # noqa: E402
    AnalysisError,
    feasible_only,
    read_metadata,
    read_results,
    run_info,
)
from simtune.analysis.styles import figure, log_ticks, save, title  # noqa: E402
from simtune.core.constraints import feasible_rows  # noqa: E402
from simtune.core.incumbent import incumbent  # noqa: E402

FATES = {  # fate -> line style, drawn in this order (the most common first, underneath)
    "stopped": {"color": "C1", "linestyle": "-"},
    "paused": {"color": "C4", "linestyle": "--"},
    "running at the end": {"color": "0.45", "linestyle": ":"},
    "completed": {"color": "C0", "linestyle": "-"},
    "failed": {"color": "black", "linestyle": "-"},
}
FAILED_MARK = {"marker": "x", "markersize": 7, "markeredgewidth": 1.5, "color": "black",
               "linestyle": "none"}
RETRY_MARK = {"marker": "o", "markersize": 6, "markerfacecolor": "none", "markeredgewidth": 1.0,
              "color": "C3", "linestyle": "none"}  # a retry (status retried): the trial restarted


def fmt(value: object) -> str:
    """A value for a title: floats to 4 significant digits (256.0 -> 256), else as is."""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


def fates(results: pd.DataFrame) -> pd.Series:
    """Each trial's fate (FATES), from its last row."""
    last = results.groupby("trial_id", sort=True).last()
    decision = last.get("decision", pd.Series("", index=last.index)).astype(str)
    status = last.get("status", pd.Series("", index=last.index)).astype(str)
    fate = pd.Series("running at the end", index=last.index)
    fate[status == "completed"] = "completed"
    fate[decision == "pause"] = "paused"
    fate[(decision == "stop") | (status == "stopped")] = "stopped"
    fate[status == "failed"] = "failed"
    return fate


def mark_failures(ax, results: pd.DataFrame, fate: pd.Series, col: str) -> None:
    """An x per failed trial where it failed: at its failure's x and its last reported
    value, or at the bottom of the panel if it reported nothing."""
    for trial in fate.index[fate == "failed"]:
        rows = results[results["trial_id"] == trial]
        x = rows[col].iloc[-1]
        if x != x:  # no fidelity recorded at the failure: the last one reported
            x = rows[col].dropna().iloc[-1] if rows[col].notna().any() else np.nan
        if x != x:
            continue
        values = rows["value"].dropna()
        if len(values):
            ax.plot([x], [values.iloc[-1]], **FAILED_MARK, zorder=4)
        else:
            ax.plot([x], [0.02], **FAILED_MARK, zorder=4, clip_on=False,
                    transform=ax.get_xaxis_transform())


def plot_run(run_dir: Path, path: Path, metric: str | None = None) -> list[Path]:
    """run.png/.pdf: run_figure saved at ``path``."""
    return save(run_figure(run_dir, metric), path)


def run_figure(run_dir: Path, metric: str | None = None):
    """The metric over time and over the fidelity (if recorded) per trial."""
    meta = read_metadata(run_dir)
    info = run_info(meta, run_dir, metric)
    name = info["metric"]
    results = feasible_only(read_results(run_dir), meta, [name])  # infeasible: no value
    if name not in results.columns or results.empty:
        raise AnalysisError(f"{run_dir}: no reports of {name!r} to show")
    results = results.assign(value=pd.to_numeric(results[name], errors="coerce"))
    fate = fates(results)
    fidelity = meta.get("fidelity_name")
    xs = [("time", "time (s, backend clock)")]
    if fidelity in results.columns and results[fidelity].nunique() > 1:
        xs.append((fidelity, fidelity))
    fig, axes = figure(1, len(xs), size=(5.6, 4.0))
    best = incumbent(results, "value", info["mode"], fidelity)  # the run's one "best"
    if best is None:
        what = "feasible" if meta.get("constraints") else "finite"
        raise AnalysisError(f"{run_dir}: no {what} value of {name!r} to show")
    counts = fate.value_counts()
    retried = results["status"].astype(str) == "retried" if "status" in results else False
    curve = results[~retried]  # a retry's row has no value: the curve goes on through it
    retries = results[retried].assign(  # marked at the trial's value before it
        at=results.groupby("trial_id")["value"].ffill()[retried])
    for ax, (col, label) in zip(axes[0], xs, strict=True):
        for kind, style in FATES.items():
            for trial in fate.index[fate == kind]:
                rows = curve[curve["trial_id"] == trial]
                ax.plot(rows[col], rows["value"], **style, linewidth=0.7, alpha=0.6,
                        marker="." if rows["value"].notna().sum() == 1 else None,
                        markersize=3)
        mark_failures(ax, results, fate, col)
        if len(retries):
            ax.plot(retries[col], retries["at"], **RETRY_MARK, zorder=4)
        ax.plot(best[col], best["value"], marker="*", markersize=15, color="gold",
                markeredgecolor="black", markeredgewidth=1.0, linestyle="none", zorder=5)
        ax.set_xlabel(label)
        ax.set_ylabel(f"{name} ({info['mode']})")
        ax.grid(True, alpha=0.3)
        if col == "time" and results["time"].min() > 0:
            span = results["time"].max() / results["time"].min()
            if span > 100:
                ax.set_xscale("log")
                log_ticks(ax.xaxis)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], **FATES[k], label=f"{k} ({counts[k]})") for k in FATES
               if k in counts and k != "failed"]
    if "failed" in counts:
        handles.append(Line2D([], [], **FAILED_MARK,
                              label=f"failed ({counts['failed']}): x where it failed"))
    if len(retries):
        handles.append(Line2D([], [], **RETRY_MARK,
                              label=f"retried ({len(retries)}): o where it restarted"))
    config = {k[len("config_"):]: v for k, v in best.items()
              if str(k).startswith("config_") and v == v}  # NaN: an inactive hyperparameter
    handles.append(Line2D([], [], marker="*", color="gold", markeredgecolor="black",
                          linestyle="none", markersize=12,
                          label=f"best: trial {best['trial_id']}, {name} = {fmt(best['value'])}"))
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize="small",
               frameon=False)
    text = ", ".join(f"{k}={fmt(v)}" for k, v in config.items())
    constraints = meta.get("constraints") or ()
    infeasible = (f" ({int((~feasible_rows(results, constraints)).sum())} infeasible, "
                  f"not drawn: a constraint of {', '.join(constraints)} > 0)"
                  ) if constraints else ""
    title(fig, f"{info['scheduler']} on {info['benchmark']}/{info['task']}, seed "
          f"{fmt(info['seed'])}: {fate.size} trials, {len(curve)} reports{infeasible}"
          + (f"\nbest configuration (star): {text}" if text else ""))
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_view.py", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="default: RUN_DIR")
    parser.add_argument("--metric", default=None)
    args = parser.parse_args(argv)
    try:
        for p in plot_run(args.run_dir, (args.out or args.run_dir) / "run", args.metric):
            print(f"wrote {p}")
    except AnalysisError as e:
        print(f"run_view.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
