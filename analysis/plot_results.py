"""Compare schedulers over all runs below some directories: figures and tables.

Usage (from the repository root):
    python analysis/plot_results.py multirun/my-sweep [DIR ...] --out docs/results \\
        [--baseline random] [--metric NAME] [--x {time,trials}] [--agg {iqm,mean,median}] \\
        [--budget-fractions 0.25 0.5 1.0] [--reference {worst,median}] [--include-incomplete] \\
        [--highlight asha,bo] [--objectives A,B]

Writes to --out: runs.csv (every run found, its method label, used or why not: a
repeated seed is used once, analysis.pooling), tasks.png/.pdf (one row per task, one
column per scheduler family), summary.png/.pdf (normalized regret pooled over tasks and,
for >= 2 tasks, average rank, per family), regret_table.md/.tex
(regret at the budget fractions; tests with tasks as the unit), significance.csv,
per_task_table.md (tests within each task, seeds as units), tasks.csv,
critical_difference.png/.pdf and pairwise.csv (>= 3 tasks), for multi-objective runs
pareto.png/.pdf, hypervolume.png/.pdf, hypervolume_table.md and hypervolume_tasks.csv
(analysis.mo); for a single run only runs.csv and run.png/.pdf (analysis.run_view).

Example:
    >>> main(["multirun/my-sweep", "--out", "docs/results"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as `python analysis/plot_results.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simtune.analysis import mo, run_view  # noqa: E402
from simtune.analysis.aggregate import AGGREGATIONS  # noqa: E402
from simtune.analysis.cd import MIN_TASKS, critical_difference, plot_critical_difference  # noqa: E402
from simtune.analysis.curves import REFERENCES, X_LABELS, fraction_grid, run_curves  # noqa: E402
from simtune.analysis.figures import plot_summary, plot_tasks  # noqa: E402
from simtune.analysis.load import (  # noqa: E402
    METADATA_FILE,
    RESULTS_FILE,
    AnalysisError,
    check_metrics,
    concat_runs,
    find_runs,
    read_one,
)
from simtune.analysis.pooling import check_pooling, which  # noqa: E402
from simtune.analysis.styles import groups, scheduler_styles  # noqa: E402
from simtune.analysis.tables import (  # noqa: E402
    caption,
    per_task_table,
    regret_table,
    task_scores,
    to_latex,
    to_markdown,
)
from simtune.analysis.variants import family, variant_labels  # noqa: E402

ONE_FIDELITY = " (1 fidelity)"  # the label mark of a multi-fidelity scheduler on one fidelity


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="plot_results.py",
        description="Figures and tables comparing schedulers over the runs below DIRs.",
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
                        help="also use runs whose metadata says complete=false (interrupted "
                             "or crashed), up to their last report")
    parser.add_argument("--reference", choices=REFERENCES, default="worst",
                        help="value of normalized regret 1 per task: the worst or the median "
                             "first-reported value of its runs (default: %(default)s)")
    parser.add_argument("--highlight", default=None, metavar="A,B",
                        help="comma-separated schedulers drawn in colour in one panel over "
                             "the others in grey (default: one panel per family)")
    parser.add_argument("--objectives", default=None, metavar="A,B",
                        help="objectives of the multi-objective outputs (default: those the "
                             "runs' schedulers optimized)")
    parser.add_argument("--n-grid", type=int, default=100, help="points per curve")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    return parser.parse_args(argv)


def note(message: str) -> None:
    print(message, file=sys.stderr)


def load(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(runs, reports, warnings): one row per run found (label, complete, n_reports,
    used, why not) and the reports of the runs used; notes and warnings on stderr, the
    warnings (about what was pooled) also returned for the table."""
    found = find_runs(args.dirs)
    if not found:
        raise AnalysisError(
            f"no runs found below {', '.join(map(str, args.dirs))} "
            f"(a run directory contains {METADATA_FILE} and {RESULTS_FILE})"
        )
    pairs = [read_one(r, args.metric) for r in found]
    runs = pd.DataFrame([info for info, _ in pairs])
    labels = variant_labels(list(zip(runs["scheduler"], runs["scheduler_args"], strict=True)))
    labels = [label + ONE_FIDELITY if one else label
              for label, one in zip(labels, runs["allow_single_fidelity"], strict=True)]
    runs.insert(2, "label", labels)
    runs["left_out"] = ""
    runs.loc[runs["n_reports"] == 0, "left_out"] = "no reports"
    incomplete = ~runs["complete"]
    if not args.include_incomplete:
        runs.loc[incomplete & (runs["left_out"] == ""), "left_out"] = "incomplete"
    empty = runs[runs["n_reports"] == 0]
    if len(empty):
        note(f"note: {len(empty)} of {len(runs)} runs have no reports and are left out: "
             f"{which(empty['run_dir'])}")
    if incomplete.any():
        what = ("used up to their last report" if args.include_incomplete
                else "left out (--include-incomplete uses them up to their last report)")
        note(f"note: {int(incomplete.sum())} of {len(runs)} runs are incomplete "
             f"(complete=false: interrupted or crashed) and {what}: "
             f"{which(runs.loc[incomplete, 'run_dir'])}")
    for key in ("benchmark", "task", "scheduler"):
        lacking = runs[runs["defaulted"].str.contains(key)]
        if len(lacking):
            note(f"note: {len(lacking)} run(s) have no '{key}' in {METADATA_FILE}; "
                 f"analysed as '{key}=unknown': {which(lacking['run_dir'])}")
    variants = runs.loc[runs["label"] != runs["scheduler"], "label"].unique()
    if len(variants):
        note(f"note: scheduler variants analysed apart: {', '.join(sorted(variants))}")
    runs, warnings = check_pooling(runs)
    for line in warnings:
        note(line)
    used = runs[runs["left_out"] == ""]
    if used.empty:
        why = "have no reports" if len(empty) == len(runs) else "are unusable"
        hint = "" if args.include_incomplete else "; --include-incomplete uses incomplete runs"
        raise AnalysisError(f"all {len(runs)} runs below {', '.join(args.dirs)} {why}{hint}")
    frames = [f for (info, f) in pairs if info["run_dir"] in set(used["run_dir"])]
    df = concat_runs(frames)
    df["scheduler"] = df["run_dir"].map(dict(zip(runs["run_dir"], runs["label"], strict=True)))
    check_metrics(df)
    beat = df.loc[df["regret"] < 0, "run_dir"].unique()
    if len(beat):
        note(f"warning: {len(beat)} runs beat the stated optimum (negative regret), "
             f"e.g. {beat[0]}")
    return runs, df, warnings


def headline(tasks: pd.DataFrame) -> str:
    """Which benchmark families have learning curves, for the summary figure's title."""
    flags = tasks["learning_curves"].map(
        lambda v: "unknown" if v is None or v != v else ("yes" if v else "no"))
    parts = []
    for flag, text in (("yes", "learning curves"), ("no", "final fidelity only"),
                       ("unknown", "learning curves unknown")):
        fams = tasks[flags == flag].groupby("benchmark").size()
        if len(fams):
            parts.append(f"{text}: " + ", ".join(f"{b} ({n})" for b, n in fams.items()))
    return "Tasks with " + "; ".join(parts)


def run(args: argparse.Namespace) -> list[Path]:
    out = Path(args.out)
    fractions = sorted(set(args.budget_fractions))
    if not all(0 < f <= 1 for f in fractions):
        raise AnalysisError(f"--budget-fractions must lie in (0, 1], got {args.budget_fractions}")
    blocked = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise AnalysisError(f"--out {args.out}: {blocked} is a file; name a directory")
    runs, df, warnings = load(args)
    schedulers = sorted(df["scheduler"].unique())
    baseline = args.baseline or ("random" if "random" in schedulers else schedulers[0])
    if baseline not in schedulers:
        raise AnalysisError(f"--baseline {baseline!r} has no runs; schedulers: "
                            f"{', '.join(schedulers)}")
    highlight = [h.strip() for h in args.highlight.split(",")] if args.highlight else None
    unknown = sorted(set(highlight or []) - set(schedulers))
    if unknown:
        raise AnalysisError(f"--highlight {args.highlight!r}: no runs of {', '.join(unknown)}; "
                            f"schedulers: {', '.join(schedulers)}")
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "runs.csv"]
    fams = [family(label, searcher) for label, searcher in
            zip(runs["label"], runs["searcher"], strict=True)]
    runs.drop(columns=["defaulted"]).assign(family=fams).to_csv(written[0], index=False)
    families = dict(zip(runs["label"], fams, strict=True))
    if df["run_dir"].nunique() == 1:  # nothing to compare: the run's own view
        note("note: one run: run.png shows it; the comparisons (summary.png, tasks.png, "
             "the tables) need two or more")
        written += run_view.plot_run(Path(df["run_dir"].iloc[0]), out / "run", args.metric)
        for path in written:
            print(f"wrote {path}")
        return written
    grid, is_log = fraction_grid(df, args.x, args.n_grid)
    curves, tasks = run_curves(df, args.x, grid, args.reference)
    at, _ = run_curves(df, args.x, np.array(fractions), args.reference)
    rng = np.random.default_rng(args.seed)
    styles = scheduler_styles(schedulers, baseline, families)
    panels = groups(schedulers, baseline, highlight, families)
    written += plot_tasks(curves, tasks, args.x, is_log, args.agg, styles, panels, rng,
                          out / "tasks", baseline)
    written += plot_summary(curves, args.x, is_log, args.agg, styles, panels, rng,
                            headline(tasks), out / "summary", baseline, args.reference)
    table, tests = regret_table(at, args.agg, baseline, rng)
    sources = set(tasks["optimum_source"])
    best = "the table's optimum" if sources == {"metadata optimum"} else (
        "the table's optimum where known, else the best value any run found")
    text = caption(args.agg, baseline, X_LABELS[args.x], best, args.reference)
    text += "".join(f"\n\n{w[0].upper()}{w[1:]}" for w in warnings)
    markdown = to_markdown(table, tests, baseline, text)
    texts = {"regret_table.md": markdown, "regret_table.tex": to_latex(table, tests, baseline,
                                                                        text),
             "per_task_table.md": per_task_table(at, args.agg, baseline)}
    for name, content in texts.items():
        (out / name).write_text(content, encoding="utf-8")
        written.append(out / name)
    table.merge(tests, on="fraction").to_csv(out / "significance.csv", index=False)
    tasks.to_csv(out / "tasks.csv", index=False)
    written += [out / "significance.csv", out / "tasks.csv"]
    written += write_critical_difference(at, args.agg, len(tasks), out)
    written += mo.write_outputs(runs, df, args, out, styles, rng)
    print(f"{df.run_dir.nunique()} runs, {len(tasks)} task(s), schedulers: "
          f"{', '.join(schedulers)}\n")
    print(markdown)
    for path in written:
        print(f"wrote {path}")
    return written


def write_critical_difference(at: pd.DataFrame, agg: str, n_tasks: int,
                              out: Path) -> list[Path]:
    """critical_difference.png/.pdf and pairwise.csv at the last table fraction, if
    there are >= MIN_TASKS tasks (else a note)."""
    last = at[at["fraction"] == at["fraction"].max()]
    scores = task_scores(last, agg)
    if len(scores.dropna()) < MIN_TASKS or scores.shape[1] < 2:
        note(f"note: no critical-difference diagram: it needs >= {MIN_TASKS} tasks with every "
             f"scheduler and >= 2 schedulers ({len(scores.dropna())} task(s), "
             f"{scores.shape[1]} scheduler(s))")
        return []
    cd = critical_difference(scores)
    frac = float(last["fraction"].iloc[0])
    cd.pairs.to_csv(out / "pairwise.csv", index=False)
    title = (f"Normalized regret at {100 * frac:g}% of the budget ({agg} over seeds per task), "
             f"{n_tasks} task(s)")
    return [out / "pairwise.csv", *plot_critical_difference(cd, title,
                                                            out / "critical_difference")]


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
