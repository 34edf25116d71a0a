"""TPE with multivariate kernel density estimates, as in BOHB (Falkner et al., 2018).

The TPESearcher plugs into any scheduler: FIFO (`tpe`) or Hyperband (BOHB), where it
fits its densities on the highest fidelity that has enough observations. On a
conditional space it follows Optuna's group decomposition: one pair of densities per
group of hyperparameters active together, the suggestion built group by group, parents
first (core/schedulers/tpe_groups.py). It never suggests a forbidden configuration.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from simtune.core.constraints import violation
from simtune.core.encoding import Columns
from simtune.core.schedulers.base import check_range
from simtune.core.schedulers.searcher import ModelSearcher, nan_as_worst
from simtune.core.schedulers.tpe_groups import GroupedTPE
from simtune.core.space import Space


class TPESearcher(ModelSearcher):
    """Multivariate-KDE TPE: sample from the density l(x) of good configurations and
    keep the sample maximising l(x) / g(x), g being the density of the others.

    The densities are fitted on the highest fidelity with at least `min_points`
    observations (default: number of hyperparameters + 2); the best `gamma` fraction is
    "good". Before a model exists, suggestions follow the `initial_design` ("random",
    "sobol" or "lhs", of min_points points: core/schedulers/initial_design.py); after,
    a `random_fraction` of them are random. On a finite space or a table (`candidates`),
    configurations already evaluated or pending are not suggested again, unless
    `max_repeats` > 0: then a row evaluated at most `max_repeats` times competes with the
    new candidates (while unused rows remain: once every row is used, the searcher ends).
    `categorical_bandwidth`: "prior" (Optuna: the observed category keeps (1 + 1/c) / 2
    of the mass; it searched better, docs/search_quality.md) or "scott" (BOHB, whose
    scheduler keeps it: the normal-reference rule applied to the category index, which
    makes a kernel nearly uniform on 5 categories).

    Example:
        >>> s = TPESearcher(space, mode="min", rng=np.random.default_rng(0))
        >>> config = s.suggest(); s.on_start(0, config); s.observe(0, 9, 0.3)
    """

    name = "tpe"

    def __init__(
        self,
        space: Space,
        *,
        mode: str,
        rng: np.random.Generator,
        candidates: Sequence[dict[str, Any]] | None = None,
        min_points: int | None = None,
        gamma: float = 0.15,
        n_samples: int = 64,
        random_fraction: float = 1 / 3,
        bandwidth_factor: float = 3.0,
        min_bandwidth: float = 1e-3,
        max_repeats: int = 0,
        categorical_bandwidth: str = "prior",
        initial_design: str = "random",
    ) -> None:
        if categorical_bandwidth not in ("scott", "prior"):
            raise ValueError(
                f"{self.name}: categorical_bandwidth must be 'scott' or 'prior', "
                f"got {categorical_bandwidth!r}"
            )
        check_range(self.name, "gamma", gamma, 0, 1, closed="neither")
        check_range(self.name, "random_fraction", random_fraction, 0, 1)
        if min_points is not None and (not isinstance(min_points, int) or min_points < 2):
            raise ValueError(f"{self.name}: min_points must be an integer >= 2, got {min_points!r}")
        self._cols = Columns(space)
        self.min_points = min_points if min_points is not None else len(self._cols.domains) + 2
        super().__init__(
            space, mode=mode, rng=rng, candidates=candidates, n_startup=self.min_points,
            initial_design=initial_design, max_repeats=max_repeats,
        )
        self.categorical_bandwidth = categorical_bandwidth
        self.gamma, self.n_samples, self.random_fraction = gamma, n_samples, random_fraction
        self.bandwidth_factor, self.min_bandwidth = bandwidth_factor, min_bandwidth
        self._obs: dict[int, _Table] = {}  # fidelity -> (column encoding, sign * value) rows
        self._fids: list[int] = []  # fidelities with observations, descending
        self._cols_cache: np.ndarray | None = None
        self._row_of_cols: dict[bytes, int] = {}  # column encoding -> row of the finite set
        self._model: tuple[tuple[int, int], _KDE, _KDE] | None = None
        self._grouped = (  # a conditional space: one pair of densities per group
            GroupedTPE(space, self._cols, self._kde) if space.conditions else None
        )

    # --- the model (ModelSearcher does the rest) --------------------------------------
    def encode(self, config: dict[str, Any]) -> np.ndarray:
        return self._cols.encode(config)

    def in_startup(self) -> bool:
        return self._model_fidelity() is None

    def propose(self) -> dict[str, Any] | None:
        """From the model, or (a `random_fraction` of the time, or when the model has
        nothing unused) uniformly from the pool."""
        config = None
        if self.rng.random() >= self.random_fraction:
            config = self._from_model(self._model_fidelity())
        return config if config is not None else self.pool.random(self.rng)

    def add(self, trial_id: int, fidelity: int, y: float) -> None:
        if fidelity not in self._obs:
            self._obs[fidelity] = _Table(len(self._cols.names))
            self._fids = sorted(self._obs, reverse=True)
        self._obs[fidelity].put(trial_id, self.x_of[trial_id], y)

    def _model_fidelity(self) -> int | None:
        """The highest fidelity with at least `min_points` observations."""
        for fidelity in self._fids:
            if len(self._obs[fidelity]) >= self.min_points:
                return fidelity
        return None

    def _densities(self, fidelity: int) -> tuple[_KDE, _KDE]:
        table = self._obs[fidelity]
        key = (fidelity, table.version)
        if self._model is None or self._model[0] != key:
            x = table.x[: table.n]
            good, bad = self._split(fidelity, table)
            self._model = (
                key,
                _KDE(x[good], self._cols, self.min_bandwidth, self.categorical_bandwidth),
                _KDE(x[bad], self._cols, self.min_bandwidth, self.categorical_bandwidth),
            )
        return self._model[1], self._model[2]

    def _split(self, fidelity: int, table: _Table) -> tuple[np.ndarray, np.ndarray]:
        """The good and the bad observations at `fidelity` (with outcome constraints:
        feasible ones first, as Optuna's constrained TPE)."""
        y = nan_as_worst(table.y[: table.n])
        violations = self._violations(fidelity, table)
        if violations is None:
            return split_good_bad(y, self.gamma)
        return split_constrained(y, violations, self.gamma)

    def _violations(self, fidelity: int, table: _Table) -> np.ndarray | None:
        """Each observation's total constraint violation at `fidelity` (in the table's row
        order); None in a run without outcome constraints."""
        if not self.c_of:
            return None
        out = np.empty(table.n)
        for trial_id, i in table.row.items():
            out[i] = violation(self.constraints_at(trial_id, fidelity))
        return out

    def _from_model(self, fidelity: int) -> dict[str, Any] | None:
        if self._grouped is not None:
            return self._from_groups(fidelity)
        good, bad = self._densities(fidelity)
        x = good.sample(self.rng, self.n_samples, self.bandwidth_factor)
        if self.finite is None:
            score = good.logpdf(x) - bad.logpdf(x)
            for i in np.argsort(-score, kind="stable"):
                config = self._cols.decode(x[i])
                if self.pool.is_new(config) and not self.space.is_forbidden(config):
                    return config
            return None
        table = self._table_cols()
        rows = [self._row_of_cols.get(xi.tobytes()) for xi in x]
        # unused rows, or rows suggested at most max_repeats times
        rows = [
            r for r in rows if r is not None and (not self.finite.is_used(r) or self.may_repeat(r))
        ]
        rows = np.unique(
            np.concatenate(
                [np.asarray(rows, dtype=np.int64), self.finite.draw(self.rng, self.n_samples)]
            )
        )
        if not len(rows):
            return None
        xr = table[rows]
        score = good.logpdf(xr) - bad.logpdf(xr)
        return self.finite.config(int(rows[int(np.argmax(score))]))

    def _kde(self, data: np.ndarray, cols: Columns) -> _KDE:
        return _KDE(data, cols, self.min_bandwidth, self.categorical_bandwidth)

    def _from_groups(self, fidelity: int) -> dict[str, Any] | None:
        """On a conditional space: group by group (core/schedulers/tpe_groups.py); on a
        finite one, the unused row of highest summed group ratio among the model's
        configurations and `n_samples` random unused rows."""
        table = self._obs[fidelity]
        self._grouped.fit(table.x[: table.n], *self._split(fidelity, table), source=fidelity)
        m, factor = self.n_samples, self.bandwidth_factor
        if self.finite is None:
            return self._grouped.suggest(self.rng, m, factor, self._allowed)
        rows = []
        for config in itertools.islice(self._grouped.configs(self.rng, m, factor), 16):
            r = self.finite.row(config)
            if r is not None and (not self.finite.is_used(r) or self.may_repeat(r)):
                rows.append(r)
        rows = np.unique(np.concatenate([np.asarray(rows, dtype=np.int64),
                                         self.finite.draw(self.rng, m)]))
        if not len(rows):
            return None
        score = self._grouped.score_rows(self._table_cols()[rows])
        return self.finite.config(int(rows[int(np.argmax(score))]))

    def _allowed(self, config: dict[str, Any]) -> bool:
        return self.pool.is_new(config) and not self.space.is_forbidden(config)

    def _table_cols(self) -> np.ndarray:
        """Column encodings of every row of the finite set (built once)."""
        if self._cols_cache is None:
            rows = [self.finite.config(r) for r in range(len(self.finite))]
            self._cols_cache = self._cols.encode_many(rows)
            self._row_of_cols = {x.tobytes(): r for r, x in enumerate(self._cols_cache)}
        return self._cols_cache


class _Table:
    """Observations at one fidelity: growing arrays, one row per trial (O(1) updates)."""

    def __init__(self, d: int) -> None:
        self.x, self.y = np.empty((16, d)), np.empty(16)
        self.n, self.version = 0, 0
        self.row: dict[int, int] = {}

    def __len__(self) -> int:
        return self.n

    def put(self, trial_id: int, x: np.ndarray, y: float) -> None:
        self.version += 1
        i = self.row.get(trial_id)
        if i is None:
            if self.n == len(self.y):
                self.x = np.vstack([self.x, np.empty_like(self.x)])
                self.y = np.concatenate([self.y, np.empty_like(self.y)])
            i = self.row[trial_id] = self.n
            self.n += 1
            self.x[i] = x
        self.y[i] = y


def split_good_bad(y: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the best ceil(gamma * n) values (at least 1) and of the rest (at
    least 1: with a single observation, it is in both)."""
    order = np.argsort(y, kind="stable")
    n_good = min(max(int(np.ceil(gamma * len(y))), 1), len(y))
    good, bad = order[:n_good], order[n_good:]
    return good, (bad if len(bad) else good)


def split_constrained(
    y: np.ndarray, violations: np.ndarray, gamma: float
) -> tuple[np.ndarray, np.ndarray]:
    """`split_good_bad` with outcome constraints, as Optuna's TPESampler with a
    `constraints_func` (optuna/samplers/_tpe/sampler.py, `_split_trials`; the c-TPE idea):
    the feasible observations (violation 0) ranked by value come first, then the
    infeasible ones ranked by their total violation sum(max(c, 0)); the best
    ceil(gamma * n) of that order are "good"."""
    infeasible = violations > 0
    order = np.lexsort((np.where(infeasible, violations, y), infeasible))
    n_good = min(max(int(np.ceil(gamma * len(y))), 1), len(y))
    good, bad = order[:n_good], order[n_good:]
    return good, (bad if len(bad) else good)


class _KDE:
    """Product-kernel density: Gaussian on numeric columns (Scott's bandwidth, floored
    at 1/min(100, n+1) as in Optuna's TPE), Aitchison-Aitken on categorical ones."""

    def __init__(
        self, data: np.ndarray, cols: Columns, min_bandwidth: float, categorical: str = "scott"
    ) -> None:
        self.data, self.cols = data, cols
        n = len(data)
        floor = max(min_bandwidth, 1.0 / min(100, n + 1))
        scott = 1.06 * data.std(0) * n ** (-0.2)
        self.bw = np.clip(scott, floor, 1.0)
        c = np.maximum(cols.n_cats, 2)
        # categorical: "scott" applies the normal-reference rule to the category index
        # (BOHB's statsmodels KDE); "prior" is Optuna's kernel with prior weight 1: the
        # observed category (1 + 1/c) / 2, each other one 1 / (2c), whatever n
        lam_cat = np.minimum(self.bw, (c - 1) / c) if categorical == "scott" else (c - 1) / (2 * c)
        self.lam = np.where(cols.is_cat, lam_cat, 0.0)
        # precomputed for logpdf: Gaussian part as a matrix product, categorical lookups
        self._num, self._cat = ~cols.is_cat, np.flatnonzero(cols.is_cat)
        self._b = data[:, self._num] / self.bw[self._num]
        self._const = -0.5 * (self._b * self._b).sum(1) - np.log(self.bw[self._num]).sum()
        # Aitchison-Aitken: log(1 - lam) if the category matches, else log(lam / (c - 1)),
        # summed over categorical columns as one product of one-hot matrices
        self._h = np.zeros((n, 0))
        if len(self._cat):  # (without categorical columns: nothing to add, skipped)
            lam, c = self.lam[self._cat], c[self._cat]
            same, other = np.log1p(-lam), np.log(lam / (c - 1))
            self._const = self._const + other.sum()
            self._h = cols.onehot(data) * np.repeat(same - other, cols.n_cats[self._cat])

    def logpdf(self, q: np.ndarray) -> np.ndarray:
        """Log density (up to a constant shared by all KDEs) at the rows of q."""
        num, cat = self._num, self._cat
        a = q[:, num] / self.bw[num]
        total = (a @ self._b.T) - 0.5 * (a * a).sum(1)[:, None] + self._const  # m x n
        if len(cat):
            total += self.cols.onehot(q) @ self._h.T
        top = total.max(1, keepdims=True)
        return top[:, 0] + np.log(np.exp(total - top).mean(1))

    def sample(self, rng: np.random.Generator, m: int, factor: float) -> np.ndarray:
        """m draws: a random data point, perturbed by a kernel `factor` times wider."""
        base = self.data[rng.integers(0, len(self.data), size=m)]
        cat = self.cols.is_cat
        bw = self.bw * factor
        out = base + bw * rng.standard_normal(base.shape)
        for _ in range(10):  # truncate to [0, 1] by redrawing what fell outside
            bad = ~cat & ((out < 0) | (out > 1))
            if not bad.any():
                break
            out = np.where(bad, base + bw * rng.standard_normal(base.shape), out)
        out = np.where(cat, base, np.clip(out, 0.0, 1.0))
        flip = cat & (rng.random(out.shape) < self.lam)
        new = np.floor(rng.random(out.shape) * np.maximum(self.cols.n_cats, 1))
        out = np.where(flip, new, out)
        for j, d in enumerate(self.cols.domains):  # snap integers and ordinals to their grid
            if not cat[j] and d.is_finite:
                out[:, j] = [d.encode(d.decode([v]))[0] for v in out[:, j]]
        return out
