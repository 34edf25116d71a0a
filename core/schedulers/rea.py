"""Regularized evolution (Real et al., 2019): tournament selection, ageing population."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from simtune.core.encoding import encode
from simtune.core.schedulers.base import check_count, check_mode, mode_sign
from simtune.core.schedulers.pool import CandidatePool
from simtune.core.schedulers.searcher import Searcher
from simtune.core.space import Categorical, Space


class REASearcher(Searcher):
    """Regularized evolution: the first `population_size` configurations are random;
    then each is a mutation (one hyperparameter changed) of the best of `sample_size`
    members drawn from the population, which holds the `population_size` most recently
    finished trials (the oldest dies, not the worst).

    On a finite space or a table no configuration is suggested twice; a mutation that
    lands outside the table or on a used configuration is moved to the nearest unused
    row of the table. On a conditional space a mutation changes an active hyperparameter
    (a parent's new value activates or deactivates its children: `Space.complete`); a
    forbidden child is never suggested.

    Example:
        >>> s = REASearcher(space, mode="min", rng=np.random.default_rng(0))
        >>> config = s.suggest(); s.on_start(0, config); s.observe(0, 9, 0.3); s.on_end(0)
    """

    name = "rea"  # also names the scheduler in error messages

    def __init__(
        self,
        space: Space,
        *,
        mode: str,
        rng: np.random.Generator,
        candidates: Sequence[dict[str, Any]] | None = None,
        population_size: int = 20,
        sample_size: int = 5,
        mutation_scale: float | None = 0.1,
    ) -> None:
        check_mode(mode)
        population_size = check_count(self.name, "population_size", population_size)
        sample_size = check_count(self.name, "sample_size", sample_size)
        if sample_size > population_size:
            raise ValueError(
                f"{self.name}: sample_size={sample_size} exceeds population_size={population_size}"
            )
        self.space, self.mode, self.rng = space, mode, rng
        if mutation_scale is not None and not mutation_scale > 0:
            raise ValueError(
                f"{self.name}: mutation_scale must be > 0 or null, got {mutation_scale!r}"
            )
        self.population_size, self.sample_size = population_size, sample_size
        self.mutation_scale = mutation_scale
        self._sign = mode_sign(mode)
        self._used = CandidatePool(space, candidates)
        self._finite = self._used.finite
        self._mutable = [
            n for n, d in space.tunable.items() if not (d.is_finite and len(d.values()) < 2)
        ]
        self.population: deque[tuple[dict[str, Any], Any]] = deque(maxlen=population_size)
        self._config_of: dict[int, dict[str, Any]] = {}
        self._last: dict[int, tuple[int, Any]] = {}  # trial -> (fidelity, score)

    def suggest(self) -> dict[str, Any] | None:
        if self._used.exhausted:
            return None
        config = None
        if len(self.population) >= self.population_size and self._mutable:
            config = self._mutate(self._tournament())
        if config is None:
            config = self._used.random(self.rng)
        if config is not None:
            self._used.mark(config)
        return config

    def on_start(self, trial_id: int, config: dict[str, Any]) -> None:
        self._used.mark(config)
        self._config_of.setdefault(trial_id, dict(config))

    def observe(self, trial_id: int, fidelity: int, value: Any) -> None:
        if trial_id in self._last and fidelity < self._last[trial_id][0]:
            return
        self._last[trial_id] = (int(fidelity), self._score(value))

    def _score(self, value: Any) -> Any:
        """What a tournament compares (smaller is better): sign * value, +inf if missing."""
        y = self._sign * float(value) if value is not None else np.nan
        return np.inf if np.isnan(y) else y

    def on_end(self, trial_id: int) -> None:
        if trial_id in self._last and trial_id in self._config_of:
            self.population.append((self._config_of[trial_id], self._last[trial_id][1]))

    def _tournament(self) -> dict[str, Any]:
        """The best of `sample_size` members drawn from the population (the parent)."""
        idx = self.rng.choice(len(self.population), size=self.sample_size, replace=False)
        return self.population[min(idx.tolist(), key=lambda i: (self.population[i][1], i))][0]

    def _mutate(self, parent: dict[str, Any]) -> dict[str, Any] | None:
        child = mutate(parent, self.space, self._mutable, self.rng, self.mutation_scale)
        for _ in range(20):
            if self._used.is_new(child) and not self.space.is_forbidden(child):
                return child
            child = mutate(parent, self.space, self._mutable, self.rng, self.mutation_scale)
        if self._finite is not None:  # project onto the nearest unused row of the table
            return self._used.nearest_unused(encode(self.space, child))
        return None


def mutate(
    config: dict[str, Any],
    space: Space,
    names: Sequence[str],
    rng: np.random.Generator,
    scale: float | None = None,
) -> dict[str, Any]:
    """`config` with one hyperparameter of `names` changed: a categorical one to another
    category; a numeric one by a Gaussian step of sd `scale` on its [0,1] scale (log for
    log domains), or redrawn from the whole domain when `scale` is None. On a conditional
    space only an active one changes, and the children it activates are drawn from `rng`
    (those it deactivates are dropped)."""
    if space.conditions:
        names = [n for n in names if n in config] or names
    name = names[int(rng.integers(len(names)))]
    domain = space[name]
    child = dict(config)
    if isinstance(domain, Categorical):
        values = [v for v in domain.values() if v != config[name]]
        child[name] = values[int(rng.integers(len(values)))]
        return space.complete(child, rng) if space.conditions else child
    for _ in range(10):  # an interval: redraw until the value changes
        if scale is None:
            child[name] = domain.sample(rng, 1)[0]
        else:
            u = domain.encode(config[name])[0] + scale * rng.standard_normal()
            child[name] = domain.decode([min(max(u, 0.0), 1.0)])
        if child[name] != config[name]:
            break
    return space.complete(child, rng) if space.conditions else child
