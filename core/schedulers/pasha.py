"""PASHA: ASHA with a progressively growing maximum resource (Bohdal et al., 2022)."""

from __future__ import annotations

from typing import Any

import numpy as np

from simtune.core.schedulers.asha import ASHA
from simtune.core.schedulers.rungs import RungSystem


class PASHA(ASHA):
    """ASHA (promotion) that first trains no further than its second rung, and opens the
    next rung only when the rankings at the two highest open rungs disagree.

    Two trials disagree when one is better than the other by more than `epsilon` at one
    rung and worse by more than `epsilon` at the other (the paper's soft ranking, with a
    fixed epsilon). Trials at the top open rung pause there until the top grows.

    Example:
        >>> PASHA(searcher=RandomSearcher(space, rng=np.random.default_rng(0)),
        ...       metric="loss", mode="min", fidelities=list(range(1, 82)), eta=3)
    """

    name = "pasha"

    def __init__(self, *, epsilon: float = 0.0, **asha: Any) -> None:
        if "type" in asha:
            raise ValueError("pasha: always the promotion variant; drop 'type'")
        if not epsilon >= 0:
            raise ValueError(f"pasha: epsilon must be >= 0, got {epsilon!r}")
        super().__init__(type="promotion", **asha)
        self.epsilon = epsilon
        self.n_open = min(1, len(self.rung_levels))  # rungs that promote; the next one is the top

    def _n_open(self, bracket: RungSystem) -> int:
        return self.n_open

    def _on_rung(self, bracket: RungSystem, level: int) -> None:
        top = self.n_open
        if top >= len(bracket.levels) or bracket.levels.index(level) not in (top - 1, top):
            return
        lower, upper = (
            dict((t, x) for x, t in bracket.rungs[bracket.levels[i]]) for i in (top - 1, top)
        )
        if rankings_disagree(lower, upper, self.epsilon):
            self.n_open = grow(self.n_open, len(bracket.levels))

    def derived(self) -> dict[str, Any]:
        top = self.n_open
        reached = self.rung_levels[top] if top < len(self.rung_levels) else self._top
        return {**super().derived(), "max_resource_reached": reached}


def rankings_disagree(lower: dict[int, float], upper: dict[int, float], epsilon: float) -> bool:
    """True if two trials present at both rungs are ordered differently by their losses
    at `lower` and at `upper` (differences within `epsilon` count as ties)."""
    ids = [t for t in upper if t in lower]
    if len(ids) < 2:
        return False
    lo = np.array([lower[t] for t in ids])
    up = np.array([upper[t] for t in ids])
    d_lo = lo[:, None] - lo[None, :]
    d_up = up[:, None] - up[None, :]
    return bool(np.any((d_up < -epsilon) & (d_lo > epsilon)))


def grow(n_open: int, n_levels: int) -> int:
    """PASHA's growth: one more rung may promote, up to all rung levels (then the maximum
    resource is the benchmark's)."""
    return min(n_open + 1, n_levels)
