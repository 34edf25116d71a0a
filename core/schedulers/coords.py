"""The [0,1]^d encoding of a Space as arrays: sampling, snapping to valid configurations
and mutation, vectorized over many candidates (used by the GP searcher's acquisition)."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.domains import Categorical, Ordinal, _Interval
from core.space import Space


class Coords:
    """Vectorized sampling, snapping and mutation in the [0,1]^d encoding of a Space.

    Example:
        >>> Coords(space).sample(np.random.default_rng(0), 100).shape
    """

    def __init__(self, space: Space) -> None:
        self.blocks: list[tuple[int, int, Any]] = []
        pos = 0
        for dom in space.tunable.values():
            self.blocks.append((pos, dom.n_dims(), dom))
            pos += dom.n_dims()
        self.d = pos

    def sample(self, rng: np.random.Generator, m: int) -> np.ndarray:
        x = rng.uniform(size=(m, self.d))
        return self.snap(x, rng)

    def snap(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Move each row to the encoding of the nearest valid configuration (in place)."""
        for pos, width, dom in self.blocks:
            col = x[:, pos]
            if isinstance(dom, Ordinal):
                n = len(dom.categories)
                x[:, pos] = np.round(np.clip(col, 0, 1) * (n - 1)) / (n - 1) if n > 1 else 0.5
            elif isinstance(dom, Categorical):
                idx = x[:, pos : pos + width].argmax(1)
                x[:, pos : pos + width] = np.eye(width)[idx]
            elif isinstance(dom, _Interval):
                x[:, pos] = _snap_interval(dom, np.clip(col, 0.0, 1.0))
        return x

    def mutate(self, x: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
        """Each row with one hyperparameter changed: a Gaussian step of sd `scale` on
        numeric ones, a random category on categorical ones."""
        x = x.copy()
        which = rng.integers(0, len(self.blocks), size=len(x))
        for b, (pos, width, dom) in enumerate(self.blocks):
            rows = np.flatnonzero(which == b)
            if not len(rows):
                continue
            if isinstance(dom, Categorical) and not isinstance(dom, Ordinal):
                x[np.ix_(rows, range(pos, pos + width))] = np.eye(width)[
                    rng.integers(0, width, size=len(rows))
                ]
            else:
                x[rows, pos] += scale * rng.standard_normal(len(rows))
        return self.snap(x)


def _snap_interval(dom: _Interval, u: np.ndarray) -> np.ndarray:
    if not dom.integer:
        return u
    lo, hi = dom._warp(dom.low), dom._warp(dom.high)
    if hi == lo:
        return np.full_like(u, 0.5)
    v = np.clip(np.round(dom._unwarp(lo + u * (hi - lo))), dom.low, dom.high)
    return (dom._warp(v) - lo) / (hi - lo)
