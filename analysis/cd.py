"""The critical-difference diagram: average ranks over tasks, and which differences hold.

Each scheduler's rank per task (1 = lowest normalized regret, from the task's aggregate
over seeds), averaged over tasks, is placed on one axis (Demšar 2006). A thick bar joins
schedulers that no test tells apart: every pair inside it has a Holm-adjusted p >= 0.05
in the two-sided Wilcoxon signed-rank test over tasks (all pairs compared; Benavoli et
al. 2016 recommend this over the Nemenyi post-hoc). Needs >= 3 tasks.

Example:
    >>> result = critical_difference(scores)  # doctest: +SKIP
    >>> plot_critical_difference(result, "title", Path("out/critical_difference"))  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simtune.analysis import stats
from simtune.analysis.styles import figure, save

MIN_TASKS = 3


@dataclass
class CriticalDifference:
    """Average ranks (best first), the pairwise tests and the cliques they imply."""

    names: list[str]  # best (lowest average rank) first
    ranks: np.ndarray
    pairs: pd.DataFrame  # a, b, p_raw, p_holm, significant
    cliques: list[list[str]]
    n_tasks: int
    note: str  # "" or why no difference can be significant


def critical_difference(scores: pd.DataFrame, alpha: float = stats.ALPHA) -> CriticalDifference:
    """From tasks x schedulers scores (lower is better; tasks with a missing scheduler are
    dropped). Raises ValueError with fewer than MIN_TASKS complete tasks."""
    complete = scores.dropna()
    n, k = complete.shape
    if n < MIN_TASKS:
        raise ValueError(f"a critical-difference diagram needs >= {MIN_TASKS} tasks with "
                         f"every scheduler, got {n}")
    values = complete.to_numpy(dtype=float)
    avg = stats.average_ranks(values)
    order = [int(i) for i in np.argsort(avg, kind="stable")]
    pairs = stats.all_pairs(k)
    raw = np.array([stats.wilcoxon_p(values[:, i], values[:, j])[0] for i, j in pairs])
    adjusted = stats.holm(raw) if raw.size else raw
    names = list(complete.columns)
    significant = {frozenset(p) for p, q in zip(pairs, adjusted, strict=True) if q < alpha}
    note = ""
    if not stats.attainable(stats.min_p_wilcoxon(n), len(pairs), alpha):
        note = (f"n too small: {n} tasks cannot make any of the {len(pairs)} pairwise "
                "differences significant after Holm")
    table = pd.DataFrame({
        "a": [names[i] for i, _ in pairs], "b": [names[j] for _, j in pairs],
        "mean_rank_a": [avg[i] for i, _ in pairs], "mean_rank_b": [avg[j] for _, j in pairs],
        "p_raw": raw, "p_holm": adjusted, "significant": adjusted < alpha,
    })
    groups = stats.cliques(order, significant)
    return CriticalDifference([names[i] for i in order], avg[order], table,
                              [[names[i] for i in g] for g in groups], n, note)


def plot_critical_difference(cd: CriticalDifference, title: str, path: Path) -> list[Path]:
    """Demšar-style diagram: the rank axis on top, names left (best half) and right, and
    one thick bar per clique of schedulers not significantly different."""
    k = len(cd.names)
    half = (k + 1) // 2
    n_bars = max(1, len(cd.cliques))
    height = 1.3 + 0.22 * max(half, 1) + 0.12 * n_bars
    fig, axes = figure(1, 1, size=(9.0, height + 0.4))
    ax = axes[0][0]
    ax.set_xlim(0.5 - 0.45 * k, k + 0.5 + 0.45 * k)  # room for the names on both sides
    ax.set_ylim(-(half + 1.5) * 0.3 - 0.15 * n_bars, 0.45)
    ax.axis("off")
    ax.plot([1, k], [0, 0], color="black", linewidth=1)
    for r in range(1, k + 1):
        ax.plot([r, r], [0, 0.06], color="black", linewidth=1)
        ax.text(r, 0.1, str(r), ha="center", va="bottom", fontsize="small")
    for pos, (name, rank) in enumerate(zip(cd.names, cd.ranks, strict=True)):
        left = pos < half
        level = (pos if left else k - 1 - pos) + 1
        y = -level * 0.3 - 0.15 * n_bars
        end = 0.5 - 0.1 * k if left else k + 0.5 + 0.1 * k
        ax.plot([rank, rank, end], [0, y, y], color="0.3", linewidth=0.8)
        ax.text(end + (-0.1 if left else 0.1), y, f"{name} ({rank:.2f})",
                ha="right" if left else "left", va="center", fontsize="small")
    for i, clique in enumerate(cd.cliques):
        ranks = [cd.ranks[cd.names.index(s)] for s in clique]
        y = -0.12 - 0.13 * i
        ax.plot([min(ranks) - 0.05, max(ranks) + 0.05], [y, y], color="black", linewidth=3,
                solid_capstyle="round")
    subtitle = (f"average rank over {cd.n_tasks} tasks (1 = best); bars join schedulers "
                "not significantly different\n(two-sided Wilcoxon signed-rank test over "
                f"tasks, Holm over all {len(cd.pairs)} pairs, p < {stats.ALPHA})")
    if cd.note:
        subtitle += f"\n{cd.note}"
    fig.suptitle(f"{title}\n{subtitle}", fontsize="small")
    return save(fig, path)
