"""Grid search: every point of a finite space, a table or a resolution grid, once."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from simtune.core.schedulers.base import check_count
from simtune.core.schedulers.pool import FiniteConfigs
from simtune.core.schedulers.searcher import Searcher
from simtune.core.space import Space

_PERMUTE_MAX = 1 << 22  # above this many grid points, a seeded affine bijection orders them


class GridSearcher(Searcher):
    """Every point of a finite space (or of `candidates`), or `resolution` points per
    numeric domain, in an order drawn from `rng`; None once all have been suggested.

    Example:
        >>> GridSearcher(Space({"x": uniform(0, 1)}), rng=np.random.default_rng(0),
        ...              resolution=5).suggest()
    """

    name = "grid"

    def __init__(
        self,
        space: Space,
        *,
        rng: np.random.Generator,
        candidates: Sequence[dict[str, Any]] | None = None,
        resolution: int = 5,
    ) -> None:
        resolution = check_count(self.name, "resolution", resolution)
        self.space = space
        self.resolution = resolution
        # a finite space is searched exhaustively; resolution applies to the others
        res = None if space.is_finite else resolution
        self.configs = FiniteConfigs(space, candidates=candidates, resolution=res)
        n = len(self.configs)
        self._n = n
        self._next = 0
        if n <= _PERMUTE_MAX:
            self._order: np.ndarray | None = rng.permutation(n)
            self._affine = (1, 0)
        else:
            self._order = None
            self._affine = _affine_bijection(n, rng)

    def __len__(self) -> int:
        return self._n

    def suggest(self) -> dict[str, Any] | None:
        while self._next < self._n:
            i = self._next
            self._next += 1
            if self._order is not None:
                row = int(self._order[i])
            else:
                a, b = self._affine
                row = (a * i + b) % self._n
            if not self.configs.is_used(row):
                self.configs.mark_used(row)
                return self.configs.config(row)
        return None

    def on_start(self, trial_id: int, config: dict[str, Any]) -> None:
        row = self.configs.row(config)
        if row is not None:
            self.configs.mark_used(row)

    def derived(self) -> dict[str, Any]:
        return {"n_points": self._n}


def _affine_bijection(n: int, rng: np.random.Generator) -> tuple[int, int]:
    """i -> (a*i + b) mod n with gcd(a, n) = 1: a seeded order of n points in O(1) memory."""
    while True:
        a = int(rng.integers(1, n))
        if math.gcd(a, n) == 1:
            return a, int(rng.integers(0, n))
