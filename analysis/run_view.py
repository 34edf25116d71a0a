"""The view of one run (run.png): every trial's learning curve, coloured by what the
scheduler did with it, and the incumbent (core.incumbent) marked.

A trial's fate is read from its last row in results.csv: "stopped" (decision stop or
status stopped), "paused" (decision pause, not resumed by the end), "completed" (status
completed: it reached its last fidelity), "failed", else "running at the end".

Usage:
    python analysis/run_view.py RUN_DIR [--out DIR] [--metric NAME]

Example:
    >>> plot_run(Path("multirun/x/0"), Path("out/run"))  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

if __package__ in (None, ""):  # run as `python analysis/run_view.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.load import AnalysisError, read_metadata, read_results, run_info  # noqa: E402
from analysis.styles import figure, save, title  # noqa: E402
from core.incumbent import incumbent  # noqa: E402

FATES = {  # fate -> colour, drawn in this order (the most common first, underneath)
    "stopped": "C3", "paused": "C1", "running at the end": "0.5", "completed": "C0",
    "failed": "black",
}


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


def plot_run(run_dir: Path, path: Path, metric: str | None = None) -> list[Path]:
    """run.png/.pdf: the metric over time and over the fidelity (if recorded) per trial."""
    meta = read_metadata(run_dir)
    info = run_info(meta, run_dir, metric)
    results = read_results(run_dir)
    name = info["metric"]
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
        raise AnalysisError(f"{run_dir}: no finite value of {name!r} to show")
    counts = fate.value_counts()
    for ax, (col, label) in zip(axes[0], xs, strict=True):
        for kind, colour in FATES.items():
            for trial in fate.index[fate == kind]:
                rows = results[results["trial_id"] == trial]
                ax.plot(rows[col], rows["value"], color=colour, linewidth=0.7, alpha=0.6,
                        marker="." if len(rows) == 1 else None, markersize=3)
        ax.plot(best[col], best["value"], marker="*", markersize=14, color="gold",
                markeredgecolor="black", linestyle="none")
        ax.set_xlabel(label)
        ax.set_ylabel(f"{name} ({info['mode']})")
        ax.grid(True, alpha=0.3)
        if col == "time" and results["time"].min() > 0:
            span = results["time"].max() / results["time"].min()
            if span > 100:
                ax.set_xscale("log")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, label=f"{k} ({counts[k]})") for k, c in FATES.items()
               if k in counts]
    config = {k[len("config_"):]: v for k, v in best.items() if str(k).startswith("config_")}
    handles.append(Line2D([], [], marker="*", color="gold", markeredgecolor="black",
                          linestyle="none", markersize=12,
                          label=f"best: trial {best['trial_id']}, {name} = {best['value']:.4g}"))
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize="small",
               frameon=False)
    text = ", ".join(f"{k}={v}" for k, v in config.items())
    title(fig, f"{info['scheduler']} on {info['benchmark']}/{info['task']}, seed "
          f"{info['seed']}: {fate.size} trials, {len(results)} reports"
          + (f"\nbest configuration (star): {text}" if text else ""))
    return save(fig, path)


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
