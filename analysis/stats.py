"""Significance with tasks as the unit: Friedman, pairwise Wilcoxon with Holm, cliques.

The seeds of one task are not independent evidence about a scheduler: across tasks
they are repeated measures. So every test here takes one score per (task, scheduler),
the aggregate over that task's seeds (``scores``: tasks x schedulers, lower is better):
- ``friedman``: do the schedulers differ at all? (scipy.stats.friedmanchisquare)
- ``pairwise``: two-sided Wilcoxon signed-rank over tasks for each pair (scipy, exact
  where it can), p-values adjusted by Holm's step-down over the comparisons made;
- ``cliques``: groups of schedulers, consecutive by average rank, with no significant
  pair inside (the bars of a critical-difference diagram, as in Benavoli et al. 2016).
Where too few tasks exist for any test to reach ``alpha`` (``attainable``), the callers
say "n too small" instead of reporting a test that cannot succeed. Within one task,
``per_task`` compares seeds (Mann-Whitney U, Holm within the task), labelled as such.

Example:
    >>> holm(np.array([0.01, 0.04, 0.03])).round(3).tolist()
    [0.03, 0.06, 0.06]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05


def holm(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values (step-down, monotone, at most 1), in the input order."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def min_p_wilcoxon(n: int) -> float:
    """Smallest two-sided p of the exact Wilcoxon signed-rank test with n nonzero pairs."""
    return min(1.0, 2.0 / 2.0**n) if n > 0 else 1.0


def min_p_mannwhitney(n1: int, n2: int) -> float:
    """Smallest two-sided p of the exact Mann-Whitney U test with samples of n1 and n2."""
    return min(1.0, 2.0 / math.comb(n1 + n2, n1)) if n1 and n2 else 1.0


def attainable(min_p: float, n_comparisons: int, alpha: float = ALPHA) -> bool:
    """Whether the best possible outcome survives Holm over ``n_comparisons`` tests."""
    return n_comparisons * min_p < alpha


@dataclass(frozen=True)
class Friedman:
    """The Friedman test over tasks: statistic and p, or why it was not run."""

    n_tasks: int
    n_schedulers: int
    statistic: float = math.nan
    p_value: float = math.nan
    skipped: str = ""  # non-empty: the reason no test was run ("n too small: ...")


def friedman(scores: np.ndarray) -> Friedman:
    """Friedman chi-square test of scores (tasks x schedulers, complete rows only)."""
    scores = np.asarray(scores, dtype=float)
    n, k = scores.shape
    if k < 3:
        return Friedman(n, k, skipped=f"needs >= 3 schedulers, got {k}")
    if n < 3:
        return Friedman(n, k, skipped=f"n too small: {n} task(s), needs >= 3")
    if np.all(scores == scores[:, :1]):
        return Friedman(n, k, 0.0, 1.0)
    from scipy import stats  # here, not at import: scipy.stats alone takes ~1 s to import
    res = stats.friedmanchisquare(*scores.T)
    return Friedman(n, k, float(res.statistic), float(res.pvalue))


def wilcoxon_p(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """(two-sided p, number of nonzero differences) of the signed-rank test of a vs b;
    p = 1 when no pair differs."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = int(np.count_nonzero(diff))
    if n == 0:
        return 1.0, 0
    from scipy import stats
    return float(stats.wilcoxon(a, b).pvalue), n


def pairwise(scores: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """Holm-adjusted Wilcoxon p-values over tasks (rows of ``scores``) for ``pairs`` of
    scheduler columns, in the order given."""
    raw = np.array([wilcoxon_p(scores[:, i], scores[:, j])[0] for i, j in pairs])
    return holm(raw) if raw.size else raw


def direction(a: np.ndarray, b: np.ndarray) -> float:
    """Sign of the typical difference a - b (median, then mean): < 0 if a is lower."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return float(np.median(diff) or np.mean(diff))


def average_ranks(scores: np.ndarray) -> np.ndarray:
    """Each scheduler's rank averaged over tasks (1 = lowest score, ties averaged)."""
    from scipy import stats
    return stats.rankdata(np.asarray(scores, dtype=float), axis=1).mean(axis=0)


def all_pairs(k: int) -> list[tuple[int, int]]:
    """Every unordered pair (i, j), i < j, of k schedulers."""
    return [(i, j) for i in range(k) for j in range(i + 1, k)]


def cliques(order: list[int], significant: set[frozenset[int]]) -> list[list[int]]:
    """Maximal runs of consecutive schedulers in ``order`` (best first) with no
    significant pair among them; single schedulers are left out.

    >>> cliques([0, 1, 2, 3], {frozenset((0, 2)), frozenset((0, 3)), frozenset((1, 3))})
    [[0, 1], [1, 2], [2, 3]]
    """
    spans = []
    for a in range(len(order)):
        b = a
        while b + 1 < len(order) and all(
                frozenset((order[c], order[b + 1])) not in significant for c in range(a, b + 1)):
            b += 1
        spans.append((a, b))
    maximal = [(a, b) for a, b in spans
               if b > a and not any(c <= a and b <= d and (c, d) != (a, b) for c, d in spans)]
    return [order[a:b + 1] for a, b in maximal]


def per_task(values: dict[str, np.ndarray], baseline: str,
             alpha: float = ALPHA) -> dict[str, tuple[float, str]]:
    """Within one task, seeds as units: each scheduler's (Holm-adjusted p, marker)
    against ``baseline`` by the two-sided Mann-Whitney U test (exact without ties, else
    the normal approximation); marker "<" / ">" where
    significantly lower / higher, or "n too small" when no outcome could be significant.
    """
    others = [s for s in sorted(values) if s != baseline]
    if baseline not in values or not others:
        return {}
    base = np.asarray(values[baseline], dtype=float)
    best = min(min_p_mannwhitney(len(values[s]), len(base)) for s in others)
    if not attainable(best, len(others), alpha):
        return {s: (math.nan, "n too small") for s in others}
    from scipy import stats
    raw = []
    for s in others:
        a = np.asarray(values[s], dtype=float)
        same = np.all(a == a[0]) and np.all(base == a[0])
        both = np.concatenate([a, base])
        method = "exact" if np.unique(both).size == both.size else "asymptotic"  # ties
        raw.append(1.0 if same else float(stats.mannwhitneyu(a, base, method=method).pvalue))
    out = {}
    for s, p in zip(others, holm(np.array(raw)), strict=True):
        d = float(np.median(values[s]) - np.median(base)) or float(
            np.mean(values[s]) - np.mean(base))
        out[s] = (float(p), ("<" if d < 0 else ">") if p < alpha and d != 0 else "")
    return out
