"""Random search: uniform sampling of the space, without repeats on finite spaces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from simtune.core.schedulers.pool import CandidatePool, FiniteConfigs
from simtune.core.schedulers.searcher import Searcher
from simtune.core.space import Space

_BATCH = 256  # configurations sampled per call to the Generator (speed)


class RandomSearcher(Searcher):
    """Draws configurations uniformly from `space`, or from `candidates` when given.

    On a finite space (or a candidate list) no configuration is drawn twice, and the
    searcher returns None once all have been drawn.

    Example:
        >>> RandomSearcher(space, rng=np.random.default_rng(0)).suggest()
    """

    name = "random"

    def __init__(
        self,
        space: Space,
        *,
        rng: np.random.Generator,
        candidates: Sequence[dict[str, Any]] | None = None,
        allow_duplicates: bool = False,
    ) -> None:
        self.space = space
        self.rng = rng
        self.allow_duplicates = allow_duplicates
        self._candidates = list(candidates) if candidates is not None else None
        self._pool = CandidatePool(space, self._candidates)  # what was drawn or started
        self._buffer: list[dict[str, Any]] = []
        self._size = space.size()
        self._order: list[int] | None = None
        if self._candidates is not None:
            self._order = rng.permutation(len(self._candidates)).tolist()[::-1]

    def suggest(self) -> dict[str, Any] | None:
        if self._order is not None:
            while self._order:
                config = self._candidates[self._order.pop()]
                if self._pool.is_new(config):
                    return dict(config)
            return None
        if self.allow_duplicates or self._size is None:
            return self._draw()
        if self._pool.exhausted:
            return None
        for _ in range(64):
            config = self._draw()
            if self._pool.is_new(config):
                self._pool.mark(config)
                return config
        return self._draw_unused()

    def on_start(self, trial_id: int, config: dict[str, Any]) -> None:
        """A configuration started from elsewhere (points_to_evaluate) is not drawn again."""
        if self._order is not None or (not self.allow_duplicates and self._size is not None):
            self._pool.mark(config)

    def _draw(self) -> dict[str, Any]:
        if not self._buffer:
            self._buffer = self.space.sample(self.rng, _BATCH)[::-1]
        return self._buffer.pop()

    def _draw_unused(self) -> dict[str, Any]:
        """Nearly exhausted finite space: one of the unused configurations, uniformly."""
        configs = self._pool.finite or FiniteConfigs(self.space)
        left = [r for r in range(len(configs)) if self._pool.is_new(configs.config(r))]
        config = configs.config(left[int(self.rng.integers(len(left)))])
        self._pool.mark(config)
        return config
