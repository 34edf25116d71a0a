"""Encodings of a Space's configurations as arrays, for the searchers' models.

`encode`/`decode`: a configuration <-> a point of [0,1]^d (each domain's own coordinates:
numbers on their scale, one-hot categoricals, ordinals evenly spaced; constants dropped).
Coords: the same encoding with sampling, snapping to valid configurations and mutation
vectorized over many candidates (the GP searcher's acquisition). Columns: one column per
hyperparameter, categoricals as their category index (TPE's kernel densities).

Conditional spaces: an inactive hyperparameter's coordinates are imputed with INACTIVE_CODE
(-1, outside [0,1]) and a one-hot block with zeros, as SMAC does for its models: a value no
active configuration takes, the same in every configuration that lacks the hyperparameter,
so a model compares two configurations of one branch on their active coordinates alone and
sees configurations of different branches as further apart. Columns use NaN.

Example:
    >>> x = encode(space, config); decode(space, x) == config
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from simtune.core.domains import Categorical, Domain, Interval, Ordinal, Value, _category_key
from simtune.core.space import Space


def n_dims(space: Space) -> int:
    """The dimension d of the [0,1]^d encoding of `space`."""
    return sum(d.n_dims() for d in space.tunable.values())


INACTIVE_CODE = -1.0  # the coordinate of an inactive numeric or ordinal hyperparameter


def encode(space: Space, config: Mapping[str, Value]) -> np.ndarray:
    """`config` as a point of [0,1]^d (one-hot for choices; constants dropped; an inactive
    hyperparameter of a conditional space imputed, see the module's docstring)."""
    out: list[float] = []
    conditional = space.conditions
    for name, domain in space.tunable.items():
        if name in conditional and name not in config:
            out.extend(_inactive(domain))
        else:
            out.extend(domain.encode(config[name]))
    return np.asarray(out, dtype=float)


def _inactive(domain: Domain) -> list[float]:
    if isinstance(domain, Categorical) and not isinstance(domain, Ordinal):
        return [0.0] * domain.n_dims()
    return [INACTIVE_CODE]


def decode(space: Space, vector: Sequence[float]) -> dict:
    """Inverse of `encode` (up to rounding): the nearest valid configuration (inactive
    hyperparameters left out)."""
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
    return space.prune(config)


class Coords:
    """Vectorized sampling, snapping and mutation in the [0,1]^d encoding of a Space.

    On a conditional space the rows hold the imputed codes of their inactive
    hyperparameters; sampled and mutated rows are never forbidden.

    Example:
        >>> Coords(space).sample(np.random.default_rng(0), 100).shape
    """

    def __init__(self, space: Space) -> None:
        self.space = space
        self.blocks: list[tuple[int, int, Any]] = []
        self._block_of: dict[str, tuple[int, int, Any]] = {}
        pos = 0
        for name, dom in space.tunable.items():
            self.blocks.append((pos, dom.n_dims(), dom))
            self._block_of[name] = self.blocks[-1]
            pos += dom.n_dims()
        self.d = pos

    def sample(self, rng: np.random.Generator, m: int) -> np.ndarray:
        x = self.snap(rng.uniform(size=(m, self.d)), rng)
        if self.space.forbidden:
            for _ in range(100):
                bad = np.flatnonzero(self.forbidden(x))
                if not len(bad):
                    break
                x[bad] = self.snap(rng.uniform(size=(len(bad), self.d)), rng)
            else:
                x = x[~self.forbidden(x)]
        return x

    def snap(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Move each row to the encoding of the nearest valid configuration (in place;
        inactive hyperparameters imputed; one a row activates that was imputed before is
        drawn from `rng`, or set to its domain's middle without one)."""
        was_off = {}
        if self.space.conditions:
            for name in self.space.conditions:
                if name in self._block_of:
                    pos, width, dom = self._block_of[name]
                    was_off[name] = (x[:, pos : pos + width] == _inactive(dom)).all(1)
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
        if self.space.conditions:
            self._walk(x, was_off, rng)
        return x

    def active(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """For each conditional hyperparameter, the rows of snapped `x` where it is active."""
        return self._walk(x)

    def _walk(
        self,
        x: np.ndarray,
        was_off: dict[str, np.ndarray] | None = None,
        rng: np.random.Generator | None = None,
    ) -> dict[str, np.ndarray]:
        """Activity masks, parents before children; with `was_off`, also impute each
        inactive block and fill each block a row activates (before its children are
        looked at, so a filled parent may activate them in turn)."""
        mask: dict[str, np.ndarray] = {}
        for name in self.space.structure.order:
            on = np.ones(len(x), dtype=bool)
            for parent, values in self.space.conditions[name].items():
                on &= mask.get(parent, True) & self._matches(x, parent, values)
            mask[name] = on
            if was_off is not None and name in self._block_of:
                self._fill(x, name, on, was_off[name], rng)
        return mask

    def _fill(
        self,
        x: np.ndarray,
        name: str,
        on: np.ndarray,
        was_off: np.ndarray,
        rng: np.random.Generator | None,
    ) -> None:
        pos, width, dom = self._block_of[name]
        cols = range(pos, pos + width)
        x[np.ix_(np.flatnonzero(~on), cols)] = _inactive(dom)
        woken = np.flatnonzero(on & was_off)
        if not len(woken):
            return
        u = rng.uniform(size=(len(woken), width)) if rng is not None else np.full(
            (len(woken), width), 0.5)
        if isinstance(dom, Categorical) and width > 1:
            u = np.eye(width)[u.argmax(1)]
        elif isinstance(dom, Ordinal):
            n = len(dom.categories)
            u = np.round(u * (n - 1)) / (n - 1) if n > 1 else np.full_like(u, 0.5)
        elif isinstance(dom, Interval):
            u[:, 0] = _snap_interval(dom, u[:, 0])
        x[np.ix_(woken, cols)] = u

    def _matches(self, x: np.ndarray, name: str, values: tuple) -> np.ndarray:
        """Rows of snapped `x` where `name` takes one of `values` (activity not checked)."""
        if name not in self._block_of:  # a constant
            const = self.space.constants[name]
            return np.full(len(x), any(_category_key(v) == _category_key(const) for v in values))
        pos, width, dom = self._block_of[name]
        if isinstance(dom, Categorical):
            codes = [dom.encode(v) for v in values]
            if width == 1:  # ordinal
                return np.isin(np.round(x[:, pos], 12), np.round([c[0] for c in codes], 12))
            return np.isin(x[:, pos : pos + width].argmax(1), [int(np.argmax(c)) for c in codes])
        decoded = dom.from_unit(np.clip(x[:, pos], 0.0, 1.0))
        if dom.integer:
            decoded = np.clip(np.round(decoded), dom.low, dom.high)
        return np.isin(decoded, np.asarray(values, dtype=float))

    def forbidden(self, x: np.ndarray) -> np.ndarray:
        """Rows of snapped `x` that are forbidden configurations."""
        out = np.zeros(len(x), dtype=bool)
        if not self.space.forbidden:
            return out
        active = self.active(x)
        for clause in self.space.forbidden:
            if callable(clause):
                out |= [self.space.is_forbidden(decode(self.space, row)) for row in x]
                continue
            hit = np.ones(len(x), dtype=bool)
            for name, values in clause.items():
                hit &= active.get(name, True) & self._matches(x, name, values)
            out |= hit
        return out

    def mutate(self, x: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
        """Each row with one hyperparameter changed: a Gaussian step of sd `scale` on
        numeric ones, a random category on categorical ones."""
        parent, x = x, x.copy()
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
        x = self.snap(x, rng)
        if self.space.forbidden:  # a forbidden child stays its parent
            bad = self.forbidden(x)
            x[bad] = parent[bad]
        return x


def _snap_interval(dom: Interval, u: np.ndarray) -> np.ndarray:
    if not dom.integer:
        return u
    return dom.to_unit(np.clip(np.round(dom.from_unit(u)), dom.low, dom.high))


class Columns:
    """One column per hyperparameter: numeric and ordinal values in [0,1] (on their
    scale, snapped to the valid grid), categorical ones as the category index, NaN for an
    inactive one.

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
        """One value per column; NaN for an inactive hyperparameter of a conditional space."""
        if self.space.conditions:
            return self.encode_many([config])[0]
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
            conditional = n in self.space.conditions
            for i, config in enumerate(configs):
                if conditional and n not in config:
                    out[i, j] = np.nan
                    continue
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
            if not np.isnan(v):
                out[n] = d.categories[int(v)] if c else d.decode([v])
        if self.space.conditions:
            return self.space.prune(out)
        return {k: out[k] for k in self.space}
