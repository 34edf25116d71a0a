"""The candidate pool: which configurations a searcher may suggest, and which it has.

One rule for every searcher: a table's configurations (`candidates`), or every point of a
finite space of at most MAX_ENUMERATE points, form an indexed FiniteConfigs; any other
space is sampled. The pool never hands out a configuration twice on a finite space
(evaluated or pending), draws unused ones uniformly (`random`), and snaps a point of the
[0,1]^d encoding to the nearest unused configuration (`nearest_unused`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from simtune.core.domains import Domain, Interval
from simtune.core.encoding import decode, encode
from simtune.core.space import Space

MAX_ENUMERATE = 100_000  # finite spaces up to this size are enumerated into a FiniteConfigs


class CandidatePool:
    """The configurations a searcher may suggest, with used-tracking.

    `finite` is the FiniteConfigs of the table (`candidates`) or of a finite space of at
    most `max_enumerate` points, else None; on a finite space too big to enumerate the
    pool remembers the keys it has seen; on an infinite space nothing repeats.

    Example:
        >>> pool = CandidatePool(space, candidates=table.configs())
        >>> config = pool.random(rng); pool.mark(config); pool.is_new(config)
        False
    """

    def __init__(
        self,
        space: Space,
        candidates: Sequence[dict[str, Any]] | None = None,
        max_enumerate: int = MAX_ENUMERATE,
    ) -> None:
        self.space = space
        self.finite: FiniteConfigs | None = None
        if candidates is not None or (space.is_finite and space.size() <= max_enumerate):
            self.finite = FiniteConfigs(space, candidates=candidates)
        self._seen: set[tuple] = set()
        self._check_seen = space.is_finite and self.finite is None
        self._size = space.size()

    @property
    def exhausted(self) -> bool:
        """True once every configuration of a finite space or table is used."""
        if self._check_seen:
            return len(self._seen) >= self._size
        return self.finite is not None and self.finite.n_available == 0

    def is_new(self, config: dict[str, Any]) -> bool:
        if self.finite is not None:
            row = self.finite.row(config)
            return row is not None and not self.finite.is_used(row)
        return not self._check_seen or self.space.key(config) not in self._seen

    def mark(self, config: dict[str, Any]) -> None:
        """`config` is used (suggested, pending or evaluated)."""
        if self.finite is not None:
            row = self.finite.row(config)
            if row is not None:
                self.finite.mark_used(row)
        elif self._check_seen:
            self._seen.add(self.space.key(config))

    def random(self, rng: np.random.Generator) -> dict[str, Any] | None:
        """An unused configuration drawn uniformly (not marked), or None if none is found."""
        if self.finite is not None:
            rows = self.finite.draw(rng, 1)
            return self.finite.config(int(rows[0])) if len(rows) else None
        for _ in range(100):
            config = self.space.sample(rng)
            if self.is_new(config):
                return config
        return None

    def nearest_unused(self, x: np.ndarray) -> dict[str, Any] | None:
        """The unused configuration of the finite pool nearest to the encoding `x`
        (squared Euclidean distance, first row on ties; not marked), None if all are
        used; the decoded `x` when the pool is not finite."""
        if self.finite is None:
            return decode(self.space, x)
        avail = self.finite.available()
        if not len(avail):
            return None
        d = ((self.finite.encoded()[avail] - x) ** 2).sum(axis=1)
        return self.finite.config(int(avail[int(np.argmin(d))]))

    def nearest(self, x: np.ndarray) -> dict[str, Any]:
        """The configuration of the finite pool nearest to `x`, used or not (the decoded
        `x` when the pool is not finite)."""
        if self.finite is None:
            return decode(self.space, x)
        d = ((self.finite.encoded() - x) ** 2).sum(axis=1)
        return self.finite.config(int(np.argmin(d)))


class FiniteConfigs:
    """A finite, indexed set of configurations: rows 0..n-1, with used-tracking.

    Built from `candidates` (a table's configs) when given; otherwise the grid of
    `grid_values(domain, resolution)` per hyperparameter (all values of a finite
    space; of a conditional or forbidden space, only its valid configurations). Row <->
    config lookups are O(1); available rows are kept in an array with
    swap-removal so drawing k unused rows costs O(k).

    Example:
        >>> fc = FiniteConfigs(Space({"a": choice([1, 2]), "b": choice(["x", "y"])}))
        >>> fc.config(3), fc.row({"a": 2, "b": "y"})
        ({'a': 2, 'b': 'y'}, 3)
    """

    def __init__(
        self,
        space: Space,
        candidates: Sequence[dict[str, Any]] | None = None,
        resolution: int | None = None,
    ) -> None:
        self.space = space
        self._names = list(space.tunable)
        self._candidates: list[dict[str, Any]] | None = None
        if candidates is None and space.structure:  # only the valid points of the grid
            if resolution is None and not space.is_finite:
                raise ValueError(
                    "FiniteConfigs: the space is not finite; give candidates or a resolution"
                )
            candidates = space.grid({k: grid_values(space[k], resolution) for k in self._names})
        if candidates is not None:
            self._candidates = [dict(c) for c in candidates]
            if not self._candidates:
                raise ValueError("candidates is empty: nothing to search")
            self._key_row = {space.key(c): i for i, c in enumerate(self._candidates)}
            n = len(self._candidates)
        else:
            if resolution is None and not space.is_finite:
                raise ValueError(
                    "FiniteConfigs: the space is not finite; give candidates or a resolution"
                )
            self._values = [grid_values(space[k], resolution) for k in self._names]
            self._index = [{v: i for i, v in enumerate(vals)} for vals in self._values]
            self._radix = [len(v) for v in self._values]
            n = math.prod(self._radix)
        self.n = n
        self._used = np.zeros(n, dtype=bool)
        self._avail: np.ndarray | None = None  # built on first draw (grid never needs it)
        self._pos: np.ndarray | None = None
        self._n_avail = n
        self._encoded: np.ndarray | None = None
        self._sqnorm: np.ndarray | None = None  # squared norms of the encodings, inf if used
        self._encoded_t: np.ndarray | None = None
        self._encoded_t32: np.ndarray | None = None  # single-precision copy (nearest_unused_rows)

    def __len__(self) -> int:
        return self.n

    def config(self, row: int) -> dict[str, Any]:
        if self._candidates is not None:
            return dict(self._candidates[row])
        out = dict(self.space.constants)
        for name, vals, r in zip(
            self._names[::-1], self._values[::-1], self._radix[::-1], strict=True
        ):
            row, i = divmod(row, r)
            out[name] = vals[i]
        return {k: out[k] for k in self.space}

    def row(self, config: dict[str, Any]) -> int | None:
        """Row of `config`, or None if it is not one of the configurations."""
        try:
            if self._candidates is not None:
                return self._key_row.get(self.space.key(config))
            row = 0
            for name, index, r in zip(self._names, self._index, self._radix, strict=True):
                i = index.get(config[name])
                if i is None:
                    return None
                row = row * r + i
            return row
        except (KeyError, TypeError):
            return None

    def encoded(self) -> np.ndarray:
        """All rows encoded by `encode` (core.encoding) (n x d), built once."""
        if self._encoded is None:
            if self._candidates is not None:
                self._encoded = np.array([encode(self.space, c) for c in self._candidates])
            else:
                blocks = []
                for name, vals in zip(self._names, self._values, strict=True):
                    dom = self.space[name]
                    blocks.append(np.array([dom.encode(v) for v in vals], dtype=float))
                idx = np.indices(self._radix).reshape(len(self._radix), -1)
                self._encoded = np.hstack([b[i] for b, i in zip(blocks, idx, strict=True)])
        return self._encoded

    def nearest_unused_rows(self, rows: np.ndarray, k: int, single: bool = False) -> np.ndarray:
        """For each of `rows` (m), its `k` nearest unused rows by squared Euclidean distance
        of the encodings, in no particular order (m x k; k at most `n_available`). With
        `single`, the distances in single precision (half the memory to read; exact on
        one-hot and small-integer encodings, else ties may break differently)."""
        if self._sqnorm is None:
            x = self.encoded()
            self._sqnorm, self._encoded_t = (x * x).sum(1), np.ascontiguousarray(x.T)
            self._sqnorm[self._used] = np.inf  # used rows are never near (mark_used too)
        if single:
            if self._encoded_t32 is None:
                self._encoded_t32 = self._encoded_t.astype(np.float32)
            d = self.encoded()[rows].astype(np.float32) @ self._encoded_t32
            d *= -2.0
            d += self._sqnorm  # float64 from here: inf where used
            return np.argpartition(d, k - 1, axis=1)[:, :k]
        d = self.encoded()[rows] @ self._encoded_t  # m x n: squared distance - constant
        d *= -2.0
        d += self._sqnorm
        return np.argpartition(d, k - 1, axis=1)[:, :k]

    def is_used(self, row: int) -> bool:
        return bool(self._used[row])

    @property
    def used(self) -> np.ndarray:
        """Boolean mask of the used rows (read-only by convention)."""
        return self._used

    @property
    def n_available(self) -> int:
        return self._n_avail

    def mark_used(self, row: int) -> None:
        if self._used[row]:
            return
        self._used[row] = True
        self._n_avail -= 1
        if self._sqnorm is not None:
            self._sqnorm[row] = np.inf
        if self._avail is not None:
            pos, last = self._pos[row], self._n_avail
            moved = self._avail[last]
            self._avail[pos], self._pos[moved] = moved, pos

    def available(self) -> np.ndarray:
        """The unused rows (a view; order changes as rows are used)."""
        if self._avail is None:
            self._avail = np.concatenate([np.flatnonzero(~self._used), np.flatnonzero(self._used)])
            self._pos = np.empty(self.n, dtype=np.int64)
            self._pos[self._avail] = np.arange(self.n)
        return self._avail[: self._n_avail]

    def draw(self, rng: np.random.Generator, k: int) -> np.ndarray:
        """Up to k distinct unused rows, uniformly at random (not marked used)."""
        avail = self.available()
        if k >= len(avail):
            return avail.copy()
        return avail[rng.choice(len(avail), size=k, replace=False)]


def grid_values(domain: Domain, resolution: int | None) -> list:
    """All values of a finite domain (if it has at most `resolution` values or no
    resolution is given), else `resolution` points evenly spaced on its scale."""
    if domain.is_finite:
        values = domain.values()
        if resolution is None or len(values) <= resolution or not isinstance(domain, Interval):
            return values
    if resolution is None:
        raise ValueError(f"{domain!r} is not finite: give a resolution")
    if not isinstance(domain, Interval):
        return domain.values()
    points = domain.evenly_spaced(resolution)
    if domain.integer:
        return sorted({int(min(max(round(p), domain.low), domain.high)) for p in points})
    return sorted({float(min(max(p, domain.low), domain.high)) for p in points})


