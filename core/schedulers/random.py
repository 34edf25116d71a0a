"""Random search: uniform sampling of the space, without repeats on finite spaces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.schedulers.searcher import Searcher
from core.space import Space

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
        self._buffer: list[dict[str, Any]] = []
        self._seen: set[tuple] = set()
        self._size = space.size()
        self._order: list[int] | None = None
        self._candidates = list(candidates) if candidates is not None else None
        if self._candidates is not None:
            if not self._candidates:
                raise ValueError("candidates is empty: nothing to search")
            self._order = rng.permutation(len(self._candidates)).tolist()[::-1]

    def suggest(self) -> dict[str, Any] | None:
        if self._order is not None:
            while self._order:
                config = self._candidates[self._order.pop()]
                if not self._seen or self.space.key(config) not in self._seen:
                    return dict(config)
            return None
        if self.allow_duplicates or self._size is None:
            return self._draw()
        if len(self._seen) >= self._size:
            return None
        for _ in range(64):
            config = self._draw()
            key = self.space.key(config)
            if key not in self._seen:
                self._seen.add(key)
                return config
        return self._draw_unseen()

    def on_start(self, trial_id: int, config: dict[str, Any]) -> None:
        """A configuration started from elsewhere (points_to_evaluate) is not drawn again."""
        if self._order is not None or (not self.allow_duplicates and self._size is not None):
            self._seen.add(self.space.key(config))

    def _draw(self) -> dict[str, Any]:
        if not self._buffer:
            self._buffer = self.space.sample(self.rng, _BATCH)[::-1]
        return self._buffer.pop()

    def _draw_unseen(self) -> dict[str, Any]:
        """Nearly exhausted finite space: enumerate what is left and pick one."""
        import itertools

        names = list(self.space.tunable)
        left = [
            combo
            for combo in itertools.product(*(self.space[n].values() for n in names))
            if self.space.key(dict(zip(names, combo, strict=True))) not in self._seen
        ]
        combo = left[int(self.rng.integers(len(left)))]
        config = {**self.space.constants, **dict(zip(names, combo, strict=True))}
        self._seen.add(self.space.key(config))
        return {k: config[k] for k in self.space}
