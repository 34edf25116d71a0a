"""Encodings of a Space's configurations as arrays, for the searchers' models.

`encode`/`decode`: a configuration <-> a point of [0,1]^d (each domain's own coordinates:
numbers on their scale, one-hot categoricals, ordinals evenly spaced; constants dropped).
Coords: the same encoding with sampling, snapping to valid configurations and mutation
vectorized over many candidates (the GP searcher's acquisition). Columns: one column per
hyperparameter, categoricals as their category index (TPE's kernel densities).

Example:
    >>> x = encode(space, config); decode(space, x) == config
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from simtune.core.domains import Categorical, Domain, Interval, Ordinal, Value
from simtune.core.space import Space


def n_dims(space: Space) -> int:
    """The dimension d of the [0,1]^d encoding of `space`."""
    return sum(d.n_dims() for d in space.tunable.values())


def encode(space: Space, config: Mapping[str, Value]) -> np.ndarray:
    """`config` as a point of [0,1]^d (one-hot for choices; constants dropped)."""
    out: list[float] = []
    for name, domain in space.tunable.items():
        out.extend(domain.encode(config[name]))
    return np.asarray(out, dtype=float)


def decode(space: Space, vector: Sequence[float]) -> dict:
    """Inverse of `encode` (up to rounding): the nearest valid configuration."""
    vector = np.asarray(vector, dtype=float)
    if vector.shape != (n_dims(space),):
        raise ValueError(f"expected a vector of length {n_dims(space)}, got shape {vector.shape}")
    config, pos = {}, 0
    for name in space:
        value = space[name]
        if isinstance(value, Domain):
            k = value.n_dims()
            config[name] = value.decode(vector[pos : pos + k])
            pos += k
        else:
            config[name] = value
    return config


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
            elif isinstance(dom, Interval):
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


def _snap_interval(dom: Interval, u: np.ndarray) -> np.ndarray:
    if not dom.integer:
        return u
    return dom.to_unit(np.clip(np.round(dom.from_unit(u)), dom.low, dom.high))


class Columns:
    """One column per hyperparameter: numeric and ordinal values in [0,1] (on their
    scale, snapped to the valid grid), categorical ones as the category index.

    Example:
        >>> Columns(space).encode({"x": 0.3, "opt": "adam"})
    """

    def __init__(self, space: Space) -> None:
        self.space = space
        self.domains = list(space.tunable.values())
        self.names = list(space.tunable)
        self.is_cat = np.array(
            [isinstance(d, Categorical) and not isinstance(d, Ordinal) for d in self.domains]
        )
        self.n_cats = np.array(
            [len(d.categories) if c else 0 for d, c in zip(self.domains, self.is_cat, strict=True)]
        )

        cat = np.flatnonzero(self.is_cat)
        self._cat_cols = cat
        self._offsets = np.concatenate([[0], np.cumsum(self.n_cats[cat])[:-1]]).astype(int)
        self._n_onehot = int(self.n_cats[cat].sum())

    def onehot(self, x: np.ndarray) -> np.ndarray:
        """One-hot encoding of the categorical columns of the rows of x."""
        out = np.zeros((len(x), self._n_onehot))
        if self._n_onehot:
            idx = x[:, self._cat_cols].astype(int) + self._offsets
            np.put_along_axis(out, idx, 1.0, axis=1)
        return out

    def encode(self, config: dict[str, Any]) -> np.ndarray:
        return np.array(
            [
                float(d.index(config[n])) if c else d.encode(config[n])[0]
                for n, d, c in zip(self.names, self.domains, self.is_cat, strict=True)
            ]
        )

    def encode_many(self, configs: Sequence[dict[str, Any]]) -> np.ndarray:
        """`encode` of each config (rows), one lookup per distinct value of a column."""
        out = np.empty((len(configs), len(self.names)))
        for j, (n, d, c) in enumerate(zip(self.names, self.domains, self.is_cat, strict=True)):
            code: dict[Any, float] = {}
            for i, config in enumerate(configs):
                v = config[n]
                key = (type(v), v)
                x = code.get(key)
                if x is None:
                    x = code[key] = float(d.index(v)) if c else d.encode(v)[0]
                out[i, j] = x
        return out

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        out = dict(self.space.constants)
        for n, d, c, v in zip(self.names, self.domains, self.is_cat, x, strict=True):
            out[n] = d.categories[int(v)] if c else d.decode([v])
        return {k: out[k] for k in self.space}
