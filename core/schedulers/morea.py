"""MO-REA: regularized evolution with Pareto-rank tournaments (Real et al., 2019;
multi-objective selection as in NSGA-II, Deb et al., 2002)."""

from __future__ import annotations

from typing import Any

import numpy as np

from simtune.core.schedulers.fifo import MultiObjectiveFIFO
from simtune.core.schedulers.pareto import rank_order
from simtune.core.schedulers.rea import REASearcher
from simtune.core.space import Space


class MOREASearcher(REASearcher):
    """REASearcher on objective vectors (to minimise, as `pareto.to_min` gives them):
    the tournament's winner is the sampled member ranked best in the whole population
    by non-dominated front, then crowding distance (larger first). Population, ageing,
    mutation and the candidate pool are REA's."""

    name = "morea"

    def __init__(self, space: Space, *, mutation_scale: float | None = 0.2, **rea: Any) -> None:
        super().__init__(space, mutation_scale=mutation_scale, **rea)

    def _score(self, value: Any) -> np.ndarray:
        return np.asarray(value, dtype=float)

    def _tournament(self) -> dict[str, Any]:
        ys = np.vstack([y for _, y in self.population])
        position = np.empty(len(ys), dtype=int)
        position[rank_order(ys)] = np.arange(len(ys))
        sample = self.rng.choice(len(ys), size=self.sample_size, replace=False)
        return self.population[int(sample[np.argmin(position[sample])])][0]


class MOREA(MultiObjectiveFIFO):
    """Regularized evolution (`morea`) whose tournaments rank objective vectors: FIFO
    scheduling around a MOREASearcher, fed the objective vectors of `objectives`
    (name -> mode) that `metrics` selects (default: all but test_*). Trials run to their
    maximum fidelity; the last report gives the objective vector.

    Example:
        >>> MOREA(searcher=MOREASearcher(space, mode="min", rng=np.random.default_rng(0)),
        ...       objectives={"f1": "min", "f2": "min"})
    """

    name = "morea"
