"""The final table: normalized regret at budget fractions, per scheduler, pooled over tasks.

Each cell aggregates all runs (task x seed) of a scheduler at one budget fraction,
with a marker where a two-sided Wilcoxon signed-rank test (runs paired on task and
seed) says the scheduler differs from the baseline at p < 0.05: ``*`` lower (better)
regret, ``†`` higher (worse). The best value of each column is bold.

Example:
    >>> table = regret_table(at, "iqm", "random", np.random.default_rng(0))  # doctest: +SKIP
    >>> print(to_markdown(table, caption(...)))  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.aggregate import AGG_LABELS, aggregate

BETTER, WORSE = "*", "†"
ALPHA = 0.05
PAIR_KEYS = ["benchmark", "task", "seed"]


def paired_test(values: pd.Series, baseline: pd.Series) -> tuple[float, str]:
    """(p-value, marker) of the Wilcoxon signed-rank test of ``values`` against ``baseline``.

    Both are indexed by (benchmark, task, seed); only shared keys are paired. Returns
    (1.0, "") when no pair differs. The marker is BETTER/WORSE if p < ALPHA, by the
    sign of the median (then mean) difference; lower is better.
    """
    pairs = pd.concat([values, baseline], axis=1, join="inner").dropna()
    diff = (pairs.iloc[:, 0] - pairs.iloc[:, 1]).to_numpy()
    if not np.any(diff != 0):
        return 1.0, ""
    p = float(stats.wilcoxon(pairs.iloc[:, 0], pairs.iloc[:, 1]).pvalue)
    direction = np.median(diff) or np.mean(diff)
    if p >= ALPHA or direction == 0:
        return p, ""
    return p, BETTER if direction < 0 else WORSE


def regret_table(
    at: pd.DataFrame, agg: str, baseline: str, rng: np.random.Generator, n_boot: int = 1000
) -> pd.DataFrame:
    """One row per (scheduler, fraction): value, lo, hi, n_runs, p_value, marker.

    ``at`` holds run_curves rows at the budget fractions of the table.
    """
    rows = []
    keyed = at.groupby(["scheduler", "fraction", *PAIR_KEYS])["norm_regret"].mean()
    has_baseline = baseline in set(at["scheduler"])
    for (sched, frac), sub in at.groupby(["scheduler", "fraction"], sort=True):
        values = sub["norm_regret"].to_numpy(dtype=float)[:, None]
        centre, lo, hi = aggregate(values, agg, rng, n_boot)
        p, marker = 1.0, ""
        if sched != baseline and has_baseline:
            p, marker = paired_test(keyed.loc[(sched, frac)], keyed.loc[(baseline, frac)])
        rows.append({"scheduler": sched, "fraction": frac, "value": float(centre[0]),
                     "lo": float(lo[0]), "hi": float(hi[0]), "n_runs": len(values),
                     "p_value": p, "marker": marker})
    return pd.DataFrame(rows)


def caption(
    agg: str, baseline: str, x_label: str, optimum_note: str, reference: str = "worst"
) -> str:
    """One paragraph that says what the numbers in the table are."""
    return (
        f"Normalized regret (0 = {optimum_note}, 1 = {reference} first-reported value of the "
        "task, clipped at 1) "
        f"at fractions of the budget ({x_label}), pooled over tasks and seeds: {AGG_LABELS[agg]}. "
        f"{BETTER} / {WORSE}: significantly lower / higher than {baseline} (two-sided Wilcoxon "
        f"signed-rank test, runs paired on task and seed, p < {ALPHA}). Bold: best per column."
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


def to_markdown(table: pd.DataFrame, note: str) -> str:
    """A GitHub-markdown table (scheduler x budget fraction) followed by ``note``."""
    cells = _cells(table, ("**", "**"), {BETTER: BETTER, WORSE: WORSE})
    lines = ["| scheduler | " + " | ".join(map(_header, cells.columns)) + " |",
             "|---|" + "---|" * len(cells.columns)]
    lines += [f"| {s} | " + " | ".join(row) + " |" for s, row in zip(
        cells.index, cells.to_numpy(), strict=True)]
    return "\n".join(lines) + f"\n\n{note}\n"


def to_latex(table: pd.DataFrame, note: str) -> str:
    """A booktabs LaTeX table (scheduler x budget fraction) with ``note`` as its caption."""
    cells = _cells(table, (r"\textbf{", "}"), {BETTER: r"$^{*}$", WORSE: r"$^{\dagger}$"})
    esc = str.maketrans({"_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#"})
    head = " & ".join(_header(f).translate(esc) for f in cells.columns)
    body = "\n".join(
        f"{str(s).translate(esc)} & " + " & ".join(row) + r" \\"
        for s, row in zip(cells.index, cells.to_numpy(), strict=True)
    )
    note = note.translate(esc)
    for text, tex in ((WORSE, r"$\dagger$"), ("±", r"$\pm$"), ("<", "$<$")):
        note = note.replace(text, tex)
    return (
        "\\begin{table}[t]\n\\centering\n"
        f"\\caption{{{note}}}\n"
        f"\\begin{{tabular}}{{l{'c' * len(cells.columns)}}}\n\\toprule\n"
        f"scheduler & {head} \\\\\n\\midrule\n{body}\n\\bottomrule\n\\end{{tabular}}\n"
        "\\end{table}\n"
    )
