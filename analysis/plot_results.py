"""Compare schedulers over all runs below some directories: figures and a table.

Usage (from the repository root):
    python analysis/plot_results.py multirun/my-sweep [DIR ...] --out docs/results \\
        [--baseline random] [--metric NAME] [--x {time,trials}] [--agg {iqm,mean,median}] \\
        [--budget-fractions 0.25 0.5 1.0] [--reference {worst,median}] [--include-incomplete]

Writes to --out: tasks.png/.pdf (one panel per task), summary.png/.pdf (normalized
regret pooled over tasks, average rank over time), regret_table.md and .tex (regret at
the budget fractions, significance against --baseline, best per column bold), and
tasks.csv (per task: budget, optimum and reference of the normalized regret).
See analysis/curves.py for how regret is normalized.

Example:
    >>> main(["multirun/my-sweep", "--out", "docs/results"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python analysis/plot_results.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.aggregate import AGGREGATIONS  # noqa: E402
from analysis.curves import REFERENCES, X_LABELS, fraction_grid, run_curves  # noqa: E402
from analysis.figures import plot_summary, plot_tasks, scheduler_styles  # noqa: E402
from analysis.load import (  # noqa: E402
    METADATA_FILE,
    RESULTS_FILE,
    AnalysisError,
    check_metrics,
    concat_runs,
    find_runs,
    read_run,
)
from analysis.tables import caption, regret_table, to_latex, to_markdown  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="plot_results.py",
        description="Figures and a table comparing schedulers over the runs below DIRs.",
    )
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="directories to search for runs")
    parser.add_argument("--out", default="results", help="output directory (default: %(default)s)")
    parser.add_argument("--metric", default=None,
                        help="objective to analyse (default: each run's metadata 'metric')")
    parser.add_argument("--baseline", default=None,
                        help="scheduler the others are tested against (default: random if "
                             "present, else the first name in alphabetical order)")
    parser.add_argument("--x", choices=sorted(X_LABELS), default="time",
                        help="x axis: backend-clock seconds or trials started (default: time)")
    parser.add_argument("--agg", choices=AGGREGATIONS, default="iqm",
                        help="aggregation over runs (default: iqm with bootstrap 95%% CI)")
    parser.add_argument("--budget-fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0],
                        metavar="F", help="table columns, fractions of each task's budget")
    parser.add_argument("--include-incomplete", action="store_true",
                        help="also use runs whose metadata says complete=false")
    parser.add_argument("--reference", choices=REFERENCES, default="worst",
                        help="value of normalized regret 1 per task: the worst or the median "
                             "first-reported value of its runs (default: %(default)s)")
    parser.add_argument("--n-grid", type=int, default=100, help="points per curve")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    return parser.parse_args(argv)


def note(message: str) -> None:
    print(message, file=sys.stderr)


def load(args: argparse.Namespace):
    """All usable runs below args.dirs as one report-level DataFrame, with notes on stderr."""
    runs = find_runs(args.dirs)
    if not runs:
        raise AnalysisError(
            f"no runs found below {', '.join(map(str, args.dirs))} "
            f"(a run directory contains {METADATA_FILE} and {RESULTS_FILE})"
        )
    frames = [read_run(r, args.metric) for r in runs]
    df = concat_runs(frames)
    n_empty = sum(f.empty for f in frames)
    if n_empty:
        note(f"note: {n_empty} of {len(runs)} runs have no reports and are left out")
    if df.empty:
        raise AnalysisError(f"all {len(runs)} runs below {', '.join(args.dirs)} have no reports")
    check_metrics(df)
    incomplete = df.loc[~df["complete"], "run_dir"].unique()
    if len(incomplete) and not args.include_incomplete:
        note(f"note: {len(incomplete)} of {len(runs)} runs are incomplete (complete=false) "
             "and left out; --include-incomplete uses them up to their last report")
        df = df[df["complete"]]
        if df.empty:
            raise AnalysisError("no complete runs; pass --include-incomplete to use the others")
    beat = df.loc[df["regret"] < 0, "run_dir"].unique()
    if len(beat):
        note(f"warning: {len(beat)} runs beat the stated optimum (negative regret), "
             f"e.g. {beat[0]}")
    return df


def run(args: argparse.Namespace) -> list[Path]:
    fractions = sorted(set(args.budget_fractions))
    if not all(0 < f <= 1 for f in fractions):
        raise AnalysisError(f"--budget-fractions must lie in (0, 1], got {args.budget_fractions}")
    df = load(args)
    schedulers = sorted(df["scheduler"].unique())
    baseline = args.baseline or ("random" if "random" in schedulers else schedulers[0])
    if baseline not in schedulers:
        raise AnalysisError(f"--baseline {baseline!r} has no runs; schedulers: "
                            f"{', '.join(schedulers)}")
    grid, is_log = fraction_grid(df, args.x, args.n_grid)
    curves, tasks = run_curves(df, args.x, grid, args.reference)
    at, _ = run_curves(df, args.x, np.array(fractions), args.reference)
    rng = np.random.default_rng(args.seed)
    styles = scheduler_styles(schedulers)
    out = Path(args.out)
    written = plot_tasks(curves, tasks, args.x, is_log, args.agg, styles, rng, out / "tasks")
    written += plot_summary(curves, args.x, is_log, args.agg, styles, rng, out / "summary")
    table = regret_table(at, args.agg, baseline, rng)
    sources = set(tasks["optimum_source"])
    best = "the table's optimum" if sources == {"metadata optimum"} else (
        "the table's optimum where known, else the best value any run found")
    text = caption(args.agg, baseline, X_LABELS[args.x], best, args.reference)
    markdown = to_markdown(table, text)
    for name, content in (("regret_table.md", markdown), ("regret_table.tex",
                                                          to_latex(table, text))):
        (out / name).write_text(content, encoding="utf-8")
        written.append(out / name)
    tasks.to_csv(out / "tasks.csv", index=False)
    written.append(out / "tasks.csv")
    print(f"{df.run_dir.nunique()} runs, {len(tasks)} task(s), schedulers: "
          f"{', '.join(schedulers)}\n")
    print(markdown)
    for path in written:
        print(f"wrote {path}")
    return written


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
