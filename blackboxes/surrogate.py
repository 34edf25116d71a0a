"""Off-table answers for a TabularBlackbox: nearest neighbour or a scikit-learn regressor.

Schedulers that propose configurations outside a table (continuous BO, PBT
mutations) wrap the table in a `SurrogateBlackbox`. A configuration the table
has gets the table's values unchanged. Any other configuration of the space is
encoded to [0,1]^d (core.space) and answered, per seed, over the whole curve:
- "nearest" (default): the curve of the closest table row with that seed
  (Euclidean distance in the encoding, through a k-d tree built once per seed);
- "knn" / "random_forest": a scikit-learn KNeighborsRegressor (distance-weighted,
  5 neighbours) / RandomForestRegressor fitted, per seed, on the table rows whose
  curves are complete, predicting every objective at every fidelity at once.
Cumulative time is kept monotone (running maximum, floored at 0).

Example:
    >>> bb = SurrogateBlackbox(load("lcbench", "Fashion-MNIST"), model="knn")
    >>> bb.evaluate({**bb.space.sample(np.random.default_rng(0))}, fidelity=52, seed=0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simtune.blackboxes.blackbox import TIME, Blackbox, Curve, TabularBlackbox
from simtune.core.encoding import encode

MODELS = ("nearest", "knn", "random_forest")


class SurrogateBlackbox(Blackbox):
    """A table that also answers configurations it does not hold (see module docstring).

    Example:
        >>> bb = SurrogateBlackbox(table)          # nearest neighbour
        >>> bb.curve(off_table_config, seed=table.seeds[0])
    """

    def __init__(self, table: TabularBlackbox, model: str = "nearest", seed: int = 0) -> None:
        if not isinstance(table, TabularBlackbox):
            raise ValueError(
                f"a surrogate wraps a table; {type(table).__name__} {table.name!r} already "
                "answers every configuration: set surrogate to null"
            )
        if model not in MODELS:
            raise ValueError(f"unknown surrogate model {model!r}; choose one of {MODELS}")
        self.table, self.model, self.seed = table, model, seed
        self.name, self.task, self.space = table.name, table.task, table.space
        self.objectives, self.fidelity_name = table.objectives, table.fidelity_name
        self.fidelities, self.seeds, self.optimum = table.fidelities, table.seeds, table.optimum
        self.source = f"{table.source}; off-table configs: {model} surrogate"
        self._names = [*table.objectives, TIME]
        self._x = np.stack([encode(table.space, c) for c in table.configs()])
        self._fitted: dict[int, Any] = {}

    def seeds_of(self, config: dict[str, Any]) -> list[int]:
        if self._in_table(config):
            return self.table.seeds_of(config)
        return [s for i, s in enumerate(self.seeds) if self.table._has_seed[:, i].any()]

    def curve(self, config: dict[str, Any], seed: int) -> Curve:
        if self._in_table(config):
            return self.table.curve(config, seed)
        self.space.validate(config)
        if seed not in self.table._seed_index:
            raise ValueError(f"{self.name}/{self.task}: no seed {seed!r}; seeds {self.seeds}")
        x = encode(self.space, config)[None, :]
        if self.model == "nearest":
            return self._nearest(x, seed)
        return self._regress(x, seed)

    def _in_table(self, config: dict[str, Any]) -> bool:
        try:
            return self.space.key(config) in self.table._row
        except (KeyError, TypeError):
            return False

    def _nearest(self, x: np.ndarray, seed: int) -> Curve:
        s = self.table._seed_index[seed]
        if seed not in self._fitted:
            from scipy.spatial import cKDTree

            rows = np.flatnonzero(self.table._has_seed[:, s])
            self._fitted[seed] = (rows, cKDTree(self._x[rows]))
        rows, tree = self._fitted[seed]
        _, i = tree.query(x[0])
        return self.table.curve_at(int(rows[int(i)]), s)

    def _regress(self, x: np.ndarray, seed: int) -> Curve:
        if seed not in self._fitted:
            self._fitted[seed] = self._fit(self.table._seed_index[seed])
        y = self._fitted[seed].predict(x)[0].reshape(len(self._names), len(self.fidelities))
        values = dict(zip(self._names, y, strict=True))
        values[TIME] = np.maximum.accumulate(np.maximum(values[TIME], 0.0))
        return Curve(
            fidelities=list(self.fidelities),
            elapsed=values[TIME].tolist(),
            metrics={k: values[k].tolist() for k in self.objectives},
        )

    def _fit(self, s: int) -> Any:
        a = self.table._arrays
        y = np.concatenate([a[n][:, s, :] for n in self._names], axis=1)  # (config, names*fid)
        full = np.isfinite(y).all(axis=1)
        if not full.any():
            raise ValueError(
                f"{self.name}/{self.task}: no configuration has a complete curve for seed "
                f"{self.seeds[s]}; use surrogate model 'nearest'"
            )
        if self.model == "knn":
            from sklearn.neighbors import KNeighborsRegressor

            model = KNeighborsRegressor(n_neighbors=min(5, int(full.sum())), weights="distance")
        else:
            from sklearn.ensemble import RandomForestRegressor

            model = RandomForestRegressor(n_estimators=50, random_state=self.seed, n_jobs=1)
        return model.fit(self._x[full], y[full])


def with_surrogate(blackbox: Blackbox, model: str | None) -> Blackbox:
    """`blackbox` wrapped in a SurrogateBlackbox of `model`, or unchanged if `model` is None."""
    if model is None:
        return blackbox
    return SurrogateBlackbox(blackbox, model=model)  # type: ignore[arg-type]
