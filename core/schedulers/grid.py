"""Grid search, and FiniteConfigs: a finite set of configurations with used-tracking.

FiniteConfigs (an enumerated finite space, a grid, or a table's candidate list) is
shared by the model-based searchers (bo, tpe, rea) so that none of them re-suggests
a configuration already evaluated or pending.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.domains import Domain, _Interval
from core.schedulers.fifo import FIFOScheduler
from core.schedulers.searcher import Searcher
from core.space import Space

_PERMUTE_MAX = 1 << 22  # above this many grid points, a seeded affine bijection orders them


class GridSearcher(Searcher):
    """Every point of a finite space (or of `candidates`), or `resolution` points per
    numeric domain, in an order drawn from `rng`; None once all have been suggested.

    Example:
        >>> GridSearcher(Space({"x": uniform(0, 1)}), rng=np.random.default_rng(0),
        ...              resolution=5).suggest()
    """

    def __init__(
        self,
        space: Space,
        *,
        rng: np.random.Generator,
        candidates: Sequence[dict[str, Any]] | None = None,
        resolution: int = 5,
    ) -> None:
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
            raise ValueError(f"grid: resolution must be a positive integer, got {resolution!r}")
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

    def metadata(self) -> dict[str, Any]:
        return {"name": "grid", "resolution": self.resolution, "n_points": self._n}


class GridSearch(FIFOScheduler):
    """Grid search: each trial runs to the maximum fidelity on the next grid point.

    Example:
        >>> GridSearch(space=space, metric="loss", mode="min", rng=np.random.default_rng(0))
    """

    def __init__(
        self,
        *,
        space: Space,
        metric: str,
        mode: str,
        rng: np.random.Generator,
        candidates: Sequence[dict[str, Any]] | None = None,
        resolution: int = 5,
    ) -> None:
        searcher = GridSearcher(space, rng=rng, candidates=candidates, resolution=resolution)
        super().__init__(searcher=searcher, metric=metric, mode=mode)
        self.args = {"resolution": resolution}

    def metadata(self) -> dict[str, Any]:
        return {"name": "grid", "args": self.args, "n_points": len(self.searcher)}


class FiniteConfigs:
    """A finite, indexed set of configurations: rows 0..n-1, with used-tracking.

    Built from `candidates` (a table's configs) when given; otherwise the grid of
    `grid_values(domain, resolution)` per hyperparameter (all values of a finite
    space). Row <-> config lookups are O(1); available rows are kept in an array with
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
        """All rows encoded by `space.encode` (n x d), built once."""
        if self._encoded is None:
            if self._candidates is not None:
                self._encoded = np.array([self.space.encode(c) for c in self._candidates])
            else:
                blocks = []
                for name, vals in zip(self._names, self._values, strict=True):
                    dom = self.space[name]
                    blocks.append(np.array([dom.encode(v) for v in vals], dtype=float))
                idx = np.indices(self._radix).reshape(len(self._radix), -1)
                self._encoded = np.hstack([b[i] for b, i in zip(blocks, idx, strict=True)])
        return self._encoded

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
        if resolution is None or len(values) <= resolution or not isinstance(domain, _Interval):
            return values
    if resolution is None:
        raise ValueError(f"{domain!r} is not finite: give a resolution")
    if not isinstance(domain, _Interval):
        return domain.values()
    lo, hi = domain._warp(domain.low), domain._warp(domain.high)
    points = domain._unwarp(np.linspace(lo, hi, resolution))
    if domain.integer:
        return sorted({int(min(max(round(p), domain.low), domain.high)) for p in points})
    return sorted({float(min(max(p, domain.low), domain.high)) for p in points})


def _affine_bijection(n: int, rng: np.random.Generator) -> tuple[int, int]:
    """i -> (a*i + b) mod n with gcd(a, n) = 1: a seeded order of n points in O(1) memory."""
    while True:
        a = int(rng.integers(1, n))
        if math.gcd(a, n) == 1:
            return a, int(rng.integers(0, n))


class UsedConfigs:
    """Which configurations a searcher has used: rows of `finite` when it has one, else
    keys of a finite space too big to enumerate (on infinite spaces nothing repeats).

    Example:
        >>> used = UsedConfigs(space, FiniteConfigs(space))
        >>> used.mark(config); used.is_new(config)
        False
    """

    def __init__(self, space: Space, finite: FiniteConfigs | None) -> None:
        self.space, self.finite = space, finite
        self._seen: set[tuple] = set()
        self._check_seen = space.is_finite and finite is None

    def is_new(self, config: dict[str, Any]) -> bool:
        if self.finite is not None:
            row = self.finite.row(config)
            return row is not None and not self.finite.is_used(row)
        return not self._check_seen or self.space.key(config) not in self._seen

    def mark(self, config: dict[str, Any]) -> None:
        if self.finite is not None:
            row = self.finite.row(config)
            if row is not None:
                self.finite.mark_used(row)
        elif self._check_seen:
            self._seen.add(self.space.key(config))

    def random(self, rng: np.random.Generator) -> dict[str, Any] | None:
        """An unused configuration drawn uniformly, or None if none is found."""
        if self.finite is not None:
            rows = self.finite.draw(rng, 1)
            return self.finite.config(int(rows[0])) if len(rows) else None
        for _ in range(100):
            config = self.space.sample(rng)
            if self.is_new(config):
                return config
        return None
