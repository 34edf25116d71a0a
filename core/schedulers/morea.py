"""MO-REA: regularized evolution with Pareto-rank tournaments (Real et al., 2019;
multi-objective selection as in NSGA-II, Deb et al., 2002)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.schedulers.base import Scheduler
from core.schedulers.pareto import rank_order, select_objectives, to_min
from core.space import Categorical, Ordinal, Space
from core.trial import Decision, Report, Start, Suggestion, Trial


class MOREA(Scheduler):
    """Evolves a population of the last `population_size` finished trials.

    Until the population is full, configurations are drawn at random. Then each
    suggestion samples `sample_size` members, takes the one ranked best in the whole
    population (non-dominated front, then crowding distance) as parent, and mutates one
    of its hyperparameters. The oldest member leaves when a new one joins. Trials run to
    their maximum fidelity; the last report gives the objective vector. On a finite
    space no configuration is suggested twice; with `candidates` (a partial table) a
    mutant is snapped to the nearest candidate not yet suggested.

    Example:
        >>> MOREA(space=space, objectives={"f1": "min", "f2": "min"},
        ...       rng=np.random.default_rng(0))
    """

    multi_objective = True

    def __init__(
        self,
        *,
        space: Space,
        objectives: Mapping[str, str],
        rng: np.random.Generator,
        metrics: Sequence[str] | None = None,
        population_size: int = 20,
        sample_size: int = 5,
        mutation_scale: float = 0.2,
        candidates: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        self.objectives = select_objectives("morea", objectives, metrics)
        self.metric, self.mode = next(iter(self.objectives.items()))
        self.metrics = metrics
        if isinstance(population_size, bool) or not int(population_size) >= 2:
            raise ValueError(f"morea: population_size must be >= 2, got {population_size!r}")
        if not 1 <= int(sample_size) <= int(population_size):
            raise ValueError(
                f"morea: need 1 <= sample_size <= population_size ({population_size}), "
                f"got {sample_size!r}"
            )
        if not mutation_scale > 0:
            raise ValueError(f"morea: mutation_scale must be > 0, got {mutation_scale!r}")
        self.population_size = int(population_size)
        self.sample_size = int(sample_size)
        self.mutation_scale = float(mutation_scale)
        self.space = space
        self.rng = rng
        self._population: deque[tuple[dict[str, Any], np.ndarray]] = deque(
            maxlen=self.population_size
        )
        self._seen: set[tuple] = set()
        self._size = space.size()
        self._candidates = list(candidates) if candidates is not None else None
        if self._candidates is not None:
            if not self._candidates:
                raise ValueError("morea: candidates is empty: nothing to search")
            self._cand_x = np.array([space.encode(c) for c in self._candidates])
            self._cand_free = np.ones(len(self._candidates), dtype=bool)
            self._cand_row = {space.key(c): i for i, c in enumerate(self._candidates)}

    def suggest(self, trial_id: int) -> Suggestion | None:
        if self._exhausted():
            return None
        config = None
        if len(self._population) >= self.population_size:
            parent = self._select()
            for _ in range(16):
                config = self._admit(mutate(self.space, parent, self.rng, self.mutation_scale))
                if config is not None:
                    break
        if config is None:
            config = self._random()
        return None if config is None else Start(config)

    def on_start(self, trial: Trial) -> None:
        """A configuration started from elsewhere (points_to_evaluate) is not suggested."""
        key = self.space.key(trial.config)
        if self._candidates is not None:
            row = self._cand_row.get(key)
            if row is not None:
                self._cand_free[row] = False
        elif self._size is not None:
            self._seen.add(key)

    def on_report(self, trial: Trial, report: Report) -> Decision:
        if report.last:
            point = to_min([report.metrics], self.objectives)[0]
            if np.isfinite(point).all():
                self._population.append((trial.config, point))
        return Decision.CONTINUE

    def _select(self) -> dict[str, Any]:
        """Tournament: the best-ranked (in the population) of `sample_size` random members."""
        ys = np.vstack([y for _, y in self._population])
        position = np.empty(len(ys), dtype=int)
        position[rank_order(ys)] = np.arange(len(ys))
        sample = self.rng.choice(len(ys), size=self.sample_size, replace=False)
        return self._population[int(sample[np.argmin(position[sample])])][0]

    def _exhausted(self) -> bool:
        if self._candidates is not None:
            return not self._cand_free.any()
        return self._size is not None and len(self._seen) >= self._size

    def _admit(self, config: dict[str, Any]) -> dict[str, Any] | None:
        """`config` (snapped to the nearest free candidate) if not suggested before, else None."""
        if self._candidates is not None:
            row = self._cand_row.get(self.space.key(config))
            if row is None or not self._cand_free[row]:
                free = np.flatnonzero(self._cand_free)
                dist = ((self._cand_x[free] - self.space.encode(config)) ** 2).sum(axis=1)
                row = int(free[np.argmin(dist)])
            self._cand_free[row] = False
            return dict(self._candidates[row])
        if self._size is not None:
            key = self.space.key(config)
            if key in self._seen:
                return None
            self._seen.add(key)
        return config

    def _random(self) -> dict[str, Any] | None:
        if self._candidates is not None:
            free = np.flatnonzero(self._cand_free)
            return self._admit(self._candidates[int(free[self.rng.integers(len(free))])])
        for _ in range(256):
            config = self._admit(self.space.sample(self.rng))
            if config is not None:
                return config
        return None  # a nearly exhausted finite space: stop rather than loop

    def metadata(self) -> dict[str, Any]:
        return {
            "name": "morea",
            "args": {
                "objectives": self.objectives,
                "population_size": self.population_size,
                "sample_size": self.sample_size,
                "mutation_scale": self.mutation_scale,
            },
        }


def mutate(
    space: Space, config: dict[str, Any], rng: np.random.Generator, scale: float = 0.2
) -> dict[str, Any]:
    """`config` with one tunable hyperparameter changed: a categorical takes another
    category; a numeric or ordinal one moves by N(0, scale) in its [0, 1] encoding
    (clipped), retried until its value changes when that is possible."""
    names = list(space.tunable)
    name = names[int(rng.integers(len(names)))]
    domain = space.tunable[name]
    out = dict(config)
    if isinstance(domain, Categorical) and not isinstance(domain, Ordinal):
        others = [v for v in domain.values() if v != config[name]]
        if others:
            out[name] = others[int(rng.integers(len(others)))]
        return out
    u = float(domain.encode(config[name])[0])
    for _ in range(8):
        value = domain.decode([min(max(u + scale * float(rng.normal()), 0.0), 1.0)])
        if value != config[name]:
            break
    out[name] = value
    return out
