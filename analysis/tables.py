"""The tables: normalized regret at budget fractions, with tasks as the unit of significance.

``regret_table``: per scheduler and budget fraction, the aggregate over all its runs
(IQM with a bootstrap CI stratified by task: seeds are resampled within each task), and
a marker where the scheduler differs from the baseline: two-sided Wilcoxon signed-rank
test over tasks (each task's score is the aggregate over its seeds), Holm-adjusted over
the schedulers compared, p < 0.05: ``*`` lower (better), ``†`` higher (worse). A Friedman
test over tasks per column says whether the schedulers differ at all. Where too few
tasks exist for any comparison to reach p < 0.05 after Holm, the table says
"n too small" instead. ``per_task_table``: within each task, seeds as units (Mann-Whitney
U against the baseline, Holm within the task), labelled as such.

Example:
    >>> table, tests = regret_table(at, "iqm", "random", np.random.default_rng(0))  # doctest: +SKIP
    >>> print(to_markdown(table, tests, "random", caption(...)))  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simtune.analysis import stats
from simtune.analysis.aggregate import AGG_LABELS, aggregate, centre

BETTER, WORSE = "*", "†"
ALPHA = stats.ALPHA


def task_scores(at: pd.DataFrame, agg: str, column: str = "norm_regret") -> pd.DataFrame:
    """tasks x schedulers: the aggregate (its centre) over each task's seeds of ``column``,
    for the rows of ``at`` (one budget fraction); NaN where a scheduler has no run."""
    cells = at.groupby(["benchmark", "task", "scheduler"])[column].apply(
        lambda v: float(centre(v.to_numpy(dtype=float)[:, None], agg)[0]))
    return cells.unstack("scheduler")


def compare_to_baseline(scores: pd.DataFrame, baseline: str
                        ) -> tuple[dict[str, tuple[float, str]], str]:
    """({scheduler: (Holm-adjusted p, marker)}, note) of Wilcoxon over the complete tasks.

    The note is empty when the test ran, else why not ("n too small: ...")."""
    complete = scores.dropna()
    others = [s for s in complete.columns if s != baseline]
    n = len(complete)
    if baseline not in complete.columns or not others:
        return {}, ""
    if not stats.attainable(stats.min_p_wilcoxon(n), len(others)):
        return {}, f"n too small: {n} task(s)"
    base = complete[baseline].to_numpy()
    adjusted = stats.pairwise(complete.to_numpy(),
                              [(complete.columns.get_loc(s), complete.columns.get_loc(baseline))
                               for s in others])
    out = {}
    for s, p in zip(others, adjusted, strict=True):
        d = stats.direction(complete[s].to_numpy(), base)
        marker = (BETTER if d < 0 else WORSE) if p < ALPHA and d != 0 else ""
        out[s] = (float(p), marker)
    return out, ""


def regret_table(
    at: pd.DataFrame, agg: str, baseline: str, rng: np.random.Generator, n_boot: int = 1000
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, tests). table: one row per (scheduler, fraction) with value, lo, hi,
    n_runs, n_tasks, p_value (Holm-adjusted, NaN if not tested), marker. tests: one row
    per fraction with the Friedman test and the note of the comparison with the baseline.

    ``at`` holds run_curves rows at the budget fractions of the table.
    """
    rows, tests = [], []
    for frac, sub in at.groupby("fraction", sort=True):
        scores = task_scores(sub, agg)
        complete = scores.dropna()
        compared, note = compare_to_baseline(scores, baseline)
        fr = stats.friedman(complete.to_numpy())
        tests.append({"fraction": frac, "n_tasks": len(complete), "n_schedulers": fr.n_schedulers,
                      "friedman_statistic": fr.statistic, "friedman_p": fr.p_value,
                      "friedman_note": fr.skipped, "baseline_note": note})
        for sched, runs in sub.groupby("scheduler", sort=True):
            values = runs["norm_regret"].to_numpy(dtype=float)[:, None]
            strata = (runs["benchmark"] + "/" + runs["task"]).to_numpy()
            mid, lo, hi = aggregate(values, agg, rng, n_boot, strata=strata)
            p, marker = compared.get(sched, (np.nan, ""))
            rows.append({"scheduler": sched, "fraction": frac, "value": float(mid[0]),
                         "lo": float(lo[0]), "hi": float(hi[0]), "n_runs": len(values),
                         "n_tasks": int(runs[["benchmark", "task"]].drop_duplicates().shape[0]),
                         "p_value": p, "marker": marker})
    return pd.DataFrame(rows), pd.DataFrame(tests)


def caption(
    agg: str, baseline: str, x_label: str, optimum_note: str, reference: str = "worst"
) -> str:
    """One paragraph that says what the numbers in the table are."""
    ci = " (seeds resampled within each task)" if agg == "iqm" else ""
    return (
        f"Normalized regret (0 = {optimum_note}, 1 = {reference} first-reported value of the "
        "task, clipped at 1) "
        f"at fractions of the budget ({x_label}), pooled over tasks and seeds: "
        f"{AGG_LABELS[agg]}{ci}. {BETTER} / {WORSE}: significantly lower / higher than "
        f"{baseline} with tasks as the unit (two-sided Wilcoxon signed-rank test over the "
        f"tasks' {agg} scores, Holm-adjusted over the schedulers compared, p < {ALPHA}). "
        "Friedman: do the schedulers differ at all (over the same tasks). \"n too small\": "
        "with n tasks the exact test's smallest two-sided p is 2/2^n, which times the number "
        f"of comparisons (Holm's first step) is not below {ALPHA}, so no test is reported. "
        "Bold: best per column."
    )


def _cells(table: pd.DataFrame, bold: tuple[str, str], marks: dict[str, str]) -> pd.DataFrame:
    """scheduler x fraction grid of formatted cells; the lowest rounded value is bold."""
    table = table.assign(rounded=table["value"].round(3))
    best = table.groupby("fraction")["rounded"].transform("min")
    text = [
        (f"{bold[0]}{r.value:.3f}{bold[1]}" if r.rounded == b else f"{r.value:.3f}")
        + marks.get(r.marker, "") + f" [{r.lo:.3f}, {r.hi:.3f}]"
        for r, b in zip(table.itertuples(), best, strict=True)
    ]
    return table.assign(text=text).pivot(index="scheduler", columns="fraction", values="text")


def _header(fraction: float) -> str:
    return f"{100 * fraction:g}% budget"


def test_rows(tests: pd.DataFrame, baseline: str) -> list[tuple[str, list[str]]]:
    """The two summary rows under the table: Friedman, and the test against baseline."""
    friedman = [t.friedman_note or f"chi2 = {t.friedman_statistic:.1f}, p = {t.friedman_p:.2g} "
                f"({t.n_tasks} tasks)" for t in tests.itertuples()]
    against = [t.baseline_note or f"Wilcoxon-Holm over {t.n_tasks} tasks"
               for t in tests.itertuples()]
    return [("Friedman over tasks", friedman), (f"vs {baseline}", against)]


def to_markdown(table: pd.DataFrame, tests: pd.DataFrame, baseline: str, note: str) -> str:
    """A GitHub-markdown table (scheduler x budget fraction), the test rows, then ``note``."""
    cells = _cells(table, ("**", "**"), {BETTER: BETTER, WORSE: WORSE})
    lines = ["| scheduler | " + " | ".join(map(_header, cells.columns)) + " |",
             "|---|" + "---|" * len(cells.columns)]
    lines += [f"| {s} | " + " | ".join(row) + " |" for s, row in zip(
        cells.index, cells.to_numpy(), strict=True)]
    lines += [f"| *{name}* | " + " | ".join(row) + " |" for name, row in test_rows(tests, baseline)]
    return "\n".join(lines) + f"\n\n{note}\n"


def to_latex(table: pd.DataFrame, tests: pd.DataFrame, baseline: str, note: str) -> str:
    """A booktabs LaTeX table (scheduler x budget fraction) with ``note`` as its caption."""
    cells = _cells(table, (r"\textbf{", "}"), {BETTER: r"$^{*}$", WORSE: r"$^{\dagger}$"})
    esc = str.maketrans({"_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#"})
    head = " & ".join(_header(f).translate(esc) for f in cells.columns)
    body = "\n".join(
        f"{str(s).translate(esc)} & " + " & ".join(row) + r" \\"
        for s, row in zip(cells.index, cells.to_numpy(), strict=True)
    )
    extra = "\n".join(
        f"\\textit{{{name.translate(esc)}}} & "
        + " & ".join(c.translate(esc).replace("chi2", r"$\chi^2$") for c in row) + r" \\"
        for name, row in test_rows(tests, baseline))
    note = note.translate(esc)
    for text, tex in ((WORSE, r"$\dagger$"), ("±", r"$\pm$"), ("<", "$<$"), (">=", "$\\geq$")):
        note = note.replace(text, tex)
    return (
        "\\begin{table}[t]\n\\centering\n"
        f"\\caption{{{note}}}\n"
        f"\\begin{{tabular}}{{l{'c' * len(cells.columns)}}}\n\\toprule\n"
        f"scheduler & {head} \\\\\n\\midrule\n{body}\n\\midrule\n{extra}\n"
        "\\bottomrule\n\\end{tabular}\n\\end{table}\n"
    )


def per_task_table(at: pd.DataFrame, agg: str, baseline: str) -> str:
    """Markdown, one table per budget fraction of ``at``: per task (columns) and
    scheduler (rows) the aggregate over seeds, with ``<`` / ``>`` where lower / higher
    than the baseline within that task (seeds as units: Mann-Whitney U, Holm over the
    schedulers)."""
    names = sorted(at["scheduler"].unique())
    parts = []
    for frac, sub in at.groupby("fraction", sort=True):
        columns = []
        for (benchmark, task), one in sub.groupby(["benchmark", "task"], sort=True):
            values = {s: r["norm_regret"].to_numpy(dtype=float)
                      for s, r in one.groupby("scheduler")}
            tested = stats.per_task(values, baseline)
            small = any(m == "n too small" for _, m in tested.values())
            col = {s: "-" for s in names}
            for s, v in values.items():
                mark = "" if small else tested.get(s, (np.nan, ""))[1]
                col[s] = f"{centre(v[:, None], agg)[0]:.3f}{mark}"
            columns.append((f"{benchmark}/{task}" + (" (n too small)" if small else ""), col))
        lines = [f"### {100 * frac:g}% of the budget", "",
                 "| scheduler | " + " | ".join(c for c, _ in columns) + " |",
                 "|---|" + "---|" * len(columns)]
        lines += [f"| {s} | " + " | ".join(col[s] for _, col in columns) + " |" for s in names]
        parts.append("\n".join(lines))
    note = (
        f"Normalized regret per task ({agg} over the task's seeds) at fractions of the budget. "
        f"`<` / `>`: lower / higher than {baseline} within that task, seeds as units "
        "(two-sided Mann-Whitney U test, Holm-adjusted over the schedulers of the task, "
        f"p < {ALPHA}); this says whether a difference is reliable on that task, not across "
        "tasks (regret_table.md tests that). \"n too small\": no outcome with so few seeds "
        "could reach significance.")
    return "# Per task, seeds as units\n\n" + note + "\n\n" + "\n\n".join(parts) + "\n"
