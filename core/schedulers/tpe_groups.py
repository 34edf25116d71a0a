"""TPE on a conditional space: Optuna's group decomposition (its `group=True` sampler).

The hyperparameters that are active together form a group: those with the same
activation chain (their own condition and their ancestors', merged), the unconditional
ones the root group. Each group has its own pair of densities, good and bad, fitted on
the observations where the group is active (the good/bad split is the one of all
observations). A suggestion is built group by group, parents first: the root group's
candidate of highest log l/g, then, for each group the values chosen so far activate,
its own candidate of highest ratio. A group with no good (bad) observation uses the
uniform density in place of l (g).

Example:
    >>> groups = GroupedTPE(space, Columns(space), lambda data, cols: _KDE(data, cols, 1e-3))
    >>> groups.fit(x, good, bad, source=fidelity)
    >>> config = groups.suggest(rng, 64, 3.0, accept=lambda c: not space.is_forbidden(c))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from simtune.core.domains import _category_key
from simtune.core.encoding import Columns
from simtune.core.space import Space


class Density(Protocol):
    """What a group's density offers (tpe._KDE)."""

    def logpdf(self, q: np.ndarray) -> np.ndarray: ...

    def sample(self, rng: np.random.Generator, m: int, factor: float) -> np.ndarray: ...


@dataclass
class Group:
    """Hyperparameters active together: their columns of the full Columns encoding, the
    Columns of their own flat sub-space, and the activation chain {ancestor: keys of the
    values it must take} (empty for the root group)."""

    names: list[str]
    cols: np.ndarray
    columns: Columns
    chain: dict[str, frozenset]
    uniform_log: float = 0.0  # the uniform density, in the KDE's convention (tpe._KDE)
    index: int = 0  # its place in the groups, parents first
    model: tuple[Density | None, Density | None] | None = field(default=None, repr=False)
    fits: dict[int, tuple[Any, Density | None]] = field(default_factory=dict, repr=False)

    def active(self, config: dict[str, Any]) -> bool:
        """The values of `config` (built parents first) activate this group."""
        try:
            return all(p in config and _category_key(config[p]) in keys
                       for p, keys in self.chain.items())
        except TypeError:
            return False


def decompose(space: Space, columns: Columns) -> list[Group]:
    """The groups of `space`'s tunable hyperparameters, parents' groups first."""
    conditions = space.conditions
    chains: dict[str, dict[str, frozenset]] = {}

    def chain(name: str) -> dict[str, frozenset]:
        if name not in chains:
            out: dict[str, frozenset] = {}
            for parent, values in conditions.get(name, {}).items():
                for p, keys in [*chain(parent).items(), (parent, _keys(values))]:
                    out[p] = out[p] & keys if p in out else keys
            chains[name] = out
        return chains[name]

    by_key: dict[tuple, list[str]] = {}
    for name in columns.names:
        c = chain(name)
        by_key.setdefault(tuple(sorted((p, tuple(sorted(map(repr, k)))) for p, k in c.items())),
                          []).append(name)
    groups = []
    for names in by_key.values():
        sub = Columns(Space({n: space.tunable[n] for n in names}))
        n_num = int((~sub.is_cat).sum())
        uniform = 0.5 * n_num * np.log(2 * np.pi) - np.log(sub.n_cats[sub.is_cat]).sum()
        cols = np.asarray([columns.names.index(n) for n in names], dtype=np.int64)
        groups.append(Group(names, cols, sub, chain(names[0]), float(uniform)))
    # an ancestor's chain is a strict subset of its descendants': shorter chains first
    return sorted(groups, key=lambda g: (len(g.chain), int(g.cols[0])))


def _keys(values: tuple) -> frozenset:
    return frozenset(_category_key(v) for v in values)


class GroupedTPE:
    """The per-group densities of a TPE searcher on a conditional space, and its
    group-by-group proposal (module docstring). `kde(data, columns)` fits one density
    on rows of a group's sub-space Columns encoding."""

    def __init__(
        self, space: Space, columns: Columns, kde: Callable[[np.ndarray, Columns], Density]
    ) -> None:
        self.space, self.columns, self.kde = space, columns, kde
        self.groups = decompose(space, columns)
        # a constant may be conditional too: then `configs` prunes what it builds
        self._prune = any(n in space.conditions for n in space.constants)
        self._order = {n: i for i, n in enumerate(space)}
        for i, group in enumerate(self.groups):
            group.index = i
        self._firsts = np.asarray([g.cols[0] for g in self.groups], dtype=np.int64)
        self._sizes = np.asarray([len(g.cols) for g in self.groups], dtype=float)
        self._active_dims = 1.0
        self._data: tuple | None = None

    def fit(self, x: np.ndarray, good: np.ndarray, bad: np.ndarray, source: Any) -> None:
        """Observations `x` (rows of the full Columns encoding, NaN where inactive; `source`
        names the table they come from, e.g. a fidelity), the indices of the good and bad
        ones. A group's density is fitted when first needed, and again only when the
        observations it is fitted on change."""
        on = ~np.isnan(x[:, self._firsts])  # n x groups: where each group is active
        # the hyperparameters an observation activates, on average: a group's share of
        # the candidates is its share of them
        self._active_dims = float((on @ self._sizes).mean()) if len(x) else 1.0
        masks = np.zeros((2, len(x)), dtype=bool)
        masks[0, good], masks[1, bad] = True, True
        self._data = (x, masks, on, source)
        for group in self.groups:
            group.model = None

    def densities(self, group: Group) -> tuple[Density | None, Density | None]:
        """The group's good and bad densities (None: no such observation where it is
        active)."""
        if group.model is None:
            x, masks, on, source = self._data
            model = []
            for which, rows in enumerate(masks & on[:, group.index]):
                idx = np.flatnonzero(rows)
                key = (source, idx.tobytes())
                cached = group.fits.get(which)
                if cached is None or cached[0] != key:
                    data = x[idx[:, None], group.cols]
                    cached = group.fits[which] = (key, self.kde(data, group.columns)
                                                  if len(idx) else None)
                model.append(cached[1])
            group.model = (model[0], model[1])
        return group.model

    def score(self, group: Group, q: np.ndarray) -> np.ndarray:
        """log l(q) - log g(q) of rows `q` of the group's sub-space encoding."""
        good, bad = self.densities(group)
        lg = good.logpdf(q) if good is not None else group.uniform_log
        return lg - (bad.logpdf(q) if bad is not None else group.uniform_log)

    def candidates(
        self, group: Group, rng: np.random.Generator, m: int, factor: float
    ) -> np.ndarray:
        """`m` candidates of the group drawn from its good density (uniform without
        one), best ratio first (rows of its sub-space encoding)."""
        good, _ = self.densities(group)
        q = good.sample(rng, m, factor) if good is not None else uniform(group.columns, rng, m)
        return q[np.argsort(-self.score(group, q), kind="stable")]

    def share(self, group: Group, m: int) -> int:
        """The group's share of `m` candidates: in proportion to its number of
        hyperparameters among those an observation activates on average (at least 1),
        so that a suggestion scores about `m` candidates in all, as on a flat space."""
        return min(m, max(1, round(m * len(group.cols) / self._active_dims)))

    def configs(
        self, rng: np.random.Generator, m: int, factor: float
    ) -> Iterator[dict[str, Any]]:
        """Configurations built group by group: first from each active group's best
        candidate (of `m` drawn), then from each one's second best, and so on (`m` in
        all)."""
        ranked: dict[int, np.ndarray] = {}
        for k in range(m):
            config = dict(self.space.constants)
            for i, group in enumerate(self.groups):
                if not group.active(config):
                    continue
                if i not in ranked:
                    ranked[i] = self.candidates(group, rng, self.share(group, m), factor)
                q = ranked[i]
                config.update(group.columns.decode(q[min(k, len(q) - 1)]))
            if self._prune:
                config = self.space.prune(config)
            yield dict(sorted(config.items(), key=lambda kv: self._order[kv[0]]))

    def suggest(
        self,
        rng: np.random.Generator,
        m: int,
        factor: float,
        accept: Callable[[dict[str, Any]], bool],
    ) -> dict[str, Any] | None:
        """The first of `configs` that `accept` takes (not forbidden, not used), None if
        it takes none."""
        return next((c for c in self.configs(rng, m, factor) if accept(c)), None)

    def score_rows(self, x: np.ndarray) -> np.ndarray:
        """The log l/g of full Columns rows `x` (a table's): the sum over the groups
        active in each row of the group's ratio."""
        total = np.zeros(len(x))
        for group in self.groups:
            on = ~np.isnan(x[:, group.cols[0]])
            if on.any():
                total[on] += self.score(group, x[np.ix_(on, group.cols)])
        return total


def uniform(columns: Columns, rng: np.random.Generator, m: int) -> np.ndarray:
    """`m` rows of `columns`' encoding drawn uniformly on each domain's scale (a
    category index uniformly; integers and ordinals snapped to their grid)."""
    q = rng.uniform(size=(m, len(columns.names)))
    cat = columns.is_cat
    q[:, cat] = np.floor(q[:, cat] * columns.n_cats[cat])
    for j, d in enumerate(columns.domains):
        if not cat[j] and d.is_finite:
            q[:, j] = [d.encode(d.decode([v]))[0] for v in q[:, j]]
    return q

