"""Rung logic shared by the successive-halving family (ASHA, Hyperband, PASHA, DEHB, ...).

Pure functions first-class: rung levels, the top-1/eta rules, Hyperband bracket sizes and
the synchronous rung rules; `RungSystem` only keeps the records they read.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import numpy as np


class RungSystem:
    """The records of one bracket: per rung level, (loss, trial id) sorted, and promotions.

    Losses are "lower is better" (the scheduler flips the sign for mode="max").

    Example:
        >>> rungs = RungSystem([1, 3, 9], eta=3)
        >>> rungs.record(1, trial_id=0, loss=0.5)
        >>> rungs.promotable_trial()  # None: one value, top 1/3 of 1 is empty
    """

    def __init__(self, levels: Sequence[int], eta: float) -> None:
        self.levels = list(levels)
        self.eta = eta
        self.rungs: dict[int, list[tuple[float, int]]] = {r: [] for r in self.levels}
        self.losses: dict[int, list[float]] = {r: [] for r in self.levels}  # stopping variant
        self.promoted: dict[int, set[int]] = {r: set() for r in self.levels}

    def record(self, level: int, trial_id: int, loss: float) -> None:
        bisect.insort(self.rungs[level], (loss, trial_id))

    def continues(self, level: int, loss: float) -> bool:
        """Stopping variant: record `loss` and say whether it is in the top 1/eta."""
        return continues(self.losses[level], loss, self.eta)

    def is_promotable(self, level: int, trial_id: int) -> bool:
        rung = self.rungs[level]
        k = n_promotable(len(rung), self.eta)
        return trial_id not in self.promoted[level] and any(t == trial_id for _, t in rung[:k])

    def promote(self, level: int, trial_id: int) -> None:
        self.promoted[level].add(trial_id)

    def promotable_trial(self, n_open: int | None = None, paused=None) -> tuple[int, int] | None:
        """(level, trial id) of the promotion ASHA makes next: from the highest open rung
        down, the best trial in the top 1/eta not yet promoted (and in `paused` if given)."""
        levels = self.levels if n_open is None else self.levels[:n_open]
        for level in reversed(levels):
            trial_id = promotable(self.rungs[level], self.promoted[level], self.eta, paused)
            if trial_id is not None:
                return level, trial_id
        return None


def check_rung_args(
    name: str,
    fidelities: Sequence[int],
    eta: float,
    grace_period: int | None,
    max_resource: int | None,
) -> tuple[list[int], int, int]:
    """The sorted fidelities, grace period and maximum resource of a successive-halving
    scheduler called `name` (None: the smallest / largest fidelity); a ValueError naming
    the scheduler and the bad argument otherwise."""
    if (isinstance(eta, bool) or not isinstance(eta, (int, float))
            or not 1 < eta < math.inf):
        raise ValueError(f"{name}: eta must be a finite number > 1 (e.g. eta=3), got {eta!r}")
    fids = sorted(int(f) for f in fidelities)
    if not fids:
        raise ValueError(f"{name}: the benchmark has no fidelities")
    for arg, value in (("grace_period", grace_period), ("max_resource", max_resource)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or not float(value).is_integer()):
            raise ValueError(f"{name}: {arg} must be an integer fidelity or null, got {value!r}")
    grace = fids[0] if grace_period is None else int(grace_period)
    top = fids[-1] if max_resource is None else int(max_resource)
    if not fids[0] <= grace <= top:
        raise ValueError(
            f"{name}: need min fidelity {fids[0]} <= grace_period {grace} <= max_resource {top}"
        )
    return fids, grace, top


def to_loss(value: float, sign: float) -> float:
    """The metric as a loss (lower is better); NaN ranks last."""
    return sign * value if value == value else math.inf


def rung_levels(
    fidelities: Sequence[int], grace_period: int, eta: float, max_resource: int
) -> list[int]:
    """grace_period * eta^k for k = 0, 1, ... below max_resource, each snapped up to the
    nearest available fidelity (duplicates removed)."""
    fids = sorted(fidelities)
    levels: list[int] = []
    k = 0
    while True:
        target = grace_period * eta**k
        if target >= max_resource:
            return levels
        i = bisect.bisect_left(fids, target)
        if i < len(fids) and fids[i] < max_resource and (not levels or fids[i] > levels[-1]):
            levels.append(fids[i])
        k += 1


def continues(rung: list[float], loss: float, eta: float) -> bool:
    """Record `loss` (lower is better) in the sorted `rung`; True if it is in the top 1/eta.

    Top 1/eta of n recorded values (this one included) means rank < max(1, n // eta) with
    ties counted in the trial's favour, so the first trial at a rung always continues.
    """
    rank = bisect.bisect_left(rung, loss)
    rung.insert(rank, loss)
    return rank < max(1, int(len(rung) // eta))


def n_promotable(n: int, eta: float) -> int:
    """How many of the n trials at a rung may be promoted: floor(n / eta)."""
    return int(n // eta)


def promotable(
    rung: list[tuple[float, int]], promoted: set[int], eta: float, allowed=None
) -> int | None:
    """ASHA's promotion rule: the best trial among the top floor(n/eta) of the sorted
    `rung` of (loss, trial id) that is not in `promoted` (and is in `allowed` if given)."""
    for _, trial_id in rung[: n_promotable(len(rung), eta)]:
        if trial_id not in promoted and (allowed is None or trial_id in allowed):
            return trial_id
    return None


def bracket_sizes(s_max: int, eta: float) -> list[list[int]]:
    """Hyperband's rung sizes (Li et al. 2018, Algorithm 1 and Table 1), bracket s = s_max
    down to 0: n = ceil((s_max + 1) / (s + 1) * eta^s) configurations, of which
    floor(n / eta^i) reach rung i = 0..s."""
    out = []
    for s in range(s_max, -1, -1):
        n = math.ceil(round((s_max + 1) / (s + 1) * eta**s, 9))
        out.append([int(n // eta**i) for i in range(s + 1)])
    return out


def bracket_probabilities(s_max: int, eta: float) -> np.ndarray:
    """Asynchronous Hyperband: bracket b = s_max - s is drawn with probability proportional
    to the number of configurations synchronous Hyperband starts in it."""
    n0 = np.array([sizes[0] for sizes in bracket_sizes(s_max, eta)], dtype=float)
    return n0 / n0.sum()


def top_trials(reported: dict[int, float], n: int) -> list[int]:
    """The `n` trials of lowest loss (ties by trial id): a synchronous rung's promotions."""
    return [t for _, t in sorted((loss, t) for t, loss in reported.items())[:n]]


def rung_complete(members: Sequence[int], reported: dict[int, float], failed: set[int]) -> bool:
    """A synchronous rung is complete when every member has reported at it or failed."""
    return all(t in reported or t in failed for t in members)
