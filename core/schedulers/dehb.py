"""DEHB's searcher: differential evolution proposing configurations for Hyperband
(Awad et al., 2021); scheduler=dehb is core.schedulers.hyperband.Hyperband with it.

An asynchronous variant: brackets and promotions are those of asynchronous Hyperband;
each new trial's configuration is a DE offspring (rand/1 mutation, binomial crossover on
the [0,1]^d encoding) of the population at its bracket's first rung level, or at the
highest lower level with enough members.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from simtune.core.encoding import Coords, decode, encode
from simtune.core.schedulers.base import check_range, mode_sign
from simtune.core.schedulers.pool import CandidatePool
from simtune.core.schedulers.searcher import Searcher
from simtune.core.space import Space

_TRIES = 100  # offspring drawn before a forbidden-only streak falls back to a random config


class DESearcher(Searcher):
    """Differential evolution over the [0,1]^d encoding, one population per fidelity level.

    The population at a level (`set_level`, before `suggest`) is the `population_size`
    best configurations observed there. An offspring mixes a random member (target) with the mutant
    r1 + F * (r2 - r3) of three others. Until a level (or a lower one) has
    `population_size` observations, configurations are random: DEHB's random initial
    population (DE from 4 observations on searched worse: 1.02 vs 0.31 regret at 100
    trials on NAS-Bench-201, docs/search_quality.md).
    On a finite space or table, the offspring is snapped to the nearest configuration
    not tried yet. On a conditional space the population holds full vectors (DEHB's
    way): a trial's configuration is its offspring decoded and pruned, and the
    coordinates of its inactive hyperparameters stay in the vector for later
    offspring; a forbidden offspring is drawn again.

    Example:
        >>> de = DESearcher(space, mode="min", rng=np.random.default_rng(0))
        >>> de.set_level(1); config = de.suggest()
    """

    name = "de"

    def __init__(
        self,
        space: Space,
        *,
        mode: str,
        rng: np.random.Generator,
        candidates: Sequence[dict[str, Any]] | None = None,
        mutation_factor: float = 0.5,
        crossover_prob: float = 0.5,
        population_size: int = 20,
    ) -> None:
        check_range(self.name, "mutation_factor", mutation_factor, 0, 2, closed="high")
        check_range(self.name, "crossover_prob", crossover_prob, 0, 1)
        if (
            isinstance(population_size, bool)
            or int(population_size) != population_size
            or population_size < 4
        ):
            raise ValueError(
                f"{self.name}: population_size must be an integer >= 4, got {population_size!r}"
            )
        self.space = space
        self.rng = rng
        self.mutation_factor = mutation_factor
        self.crossover_prob = crossover_prob
        self.population_size = int(population_size)
        self._sign = mode_sign(mode)
        self._encoded: dict[int, np.ndarray] = {}
        self._values: dict[int, dict[int, float]] = {}  # level -> trial id -> loss
        self._pool = CandidatePool(space, candidates)
        self._level: int | None = None  # set_level: None = every level
        self._full: dict[tuple, np.ndarray] = {}  # conditional: key -> offspring vector
        self._blocks = dict(zip(space.tunable, Coords(space).blocks, strict=True))

    def set_level(self, level: int) -> None:
        """The next offspring comes from the population at `level` (or a lower one)."""
        self._level = level

    def suggest(self) -> dict[str, Any] | None:
        if self._pool.exhausted:
            return None
        population = self._population(self._level)
        if len(population) < 4:
            return self._random()
        for _ in range(_TRIES):
            target, r1, r2, r3 = (population[i] for i in self.rng.choice(len(population), 4, False))
            mutant = mutate(r1, r2, r3, self.mutation_factor, self.rng)
            child = crossover(target, mutant, self.crossover_prob, self.rng)
            if not self.space.structure:
                config = self._pool.nearest_unused(child)
                break
            # the pruned child (its inactive coordinates imputed, as the pool's rows are)
            config = self._pool.nearest_unused(encode(self.space, decode(self.space, child)))
            if not self.space.is_forbidden(config):
                if self.space.conditions:
                    self._full[self.space.key(config)] = child
                break
        else:
            return self._random()
        self._pool.mark(config)
        return config

    def on_start(self, trial_id: int, config: dict[str, Any]) -> None:
        if trial_id not in self._encoded:
            self._encoded[trial_id] = self._vector(config)
        self._pool.mark(config)

    def _vector(self, config: dict[str, Any]) -> np.ndarray:
        """`config` encoded; on a conditional space with the coordinates of its inactive
        hyperparameters kept from the offspring it was decoded from (uniform draws for
        any other config), so DE's arithmetic always acts on full vectors."""
        x = encode(self.space, config)
        if self.space.conditions:
            full = self._full.pop(self.space.key(config), None)
            if full is None:
                full = self.rng.uniform(size=len(x))
            for name, (pos, width, _) in self._blocks.items():
                if name not in config:
                    x[pos : pos + width] = full[pos : pos + width]
        return x

    def observe(self, trial_id: int, fidelity: int, value: float) -> None:
        loss = self._sign * value if value == value else np.inf
        self._values.setdefault(fidelity, {})[trial_id] = loss

    def _population(self, level: int | None) -> list[np.ndarray]:
        """Encodings of the best configurations at `level`, or at the highest lower level
        with at least `population_size` observations (the random initial population)."""
        levels = sorted((f for f in self._values if level is None or f <= level), reverse=True)
        for f in levels:
            values = self._values[f]
            if len(values) >= self.population_size:
                best = sorted(values, key=lambda t: (values[t], t))[: self.population_size]
                return [self._encoded[t] for t in best if t in self._encoded]
        return []

    def _random(self) -> dict[str, Any]:
        if self._pool.finite is None:
            return self.space.sample(self.rng)
        config = self._pool.random(self.rng)
        self._pool.mark(config)
        return config


def mutate(
    r1: np.ndarray, r2: np.ndarray, r3: np.ndarray, factor: float, rng: np.random.Generator
) -> np.ndarray:
    """rand/1 mutation r1 + factor * (r2 - r3); coordinates leaving [0, 1] are redrawn
    uniformly (as in DEHB)."""
    mutant = r1 + factor * (r2 - r3)
    outside = (mutant < 0.0) | (mutant > 1.0)
    mutant[outside] = rng.uniform(0.0, 1.0, int(outside.sum()))
    return mutant


def crossover(
    target: np.ndarray, mutant: np.ndarray, prob: float, rng: np.random.Generator
) -> np.ndarray:
    """Binomial crossover: each coordinate from `mutant` with probability `prob`, and at
    least one (drawn at random) always."""
    take = rng.uniform(size=target.shape) < prob
    take[rng.integers(target.size)] = True
    return np.where(take, mutant, target)

