"""NSGA-II (Deb et al., 2002): non-dominated sorting and crowding distance, binary
tournaments, SBX crossover and polynomial mutation; steady-state or generational."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from simtune.core.encoding import encode
from simtune.core.schedulers.base import check_count, check_mode, check_range
from simtune.core.schedulers.fifo import MultiObjectiveFIFO
from simtune.core.schedulers.pareto import rank_order
from simtune.core.schedulers.pool import CandidatePool
from simtune.core.schedulers.searcher import Searcher
from simtune.core.space import Categorical, Ordinal, Space


class NSGA2Searcher(Searcher):
    """NSGA-II on objective vectors (to minimize, as `pareto.to_min` gives them).

    The first `population_size` configurations are random. Then each one is a child of two
    parents, each the winner of a binary tournament (lower non-dominated front wins, then
    larger crowding distance). With probability `crossover_prob` the parents cross:
    numeric and ordinal hyperparameters (on their [0, 1] scale, log for log domains) by
    SBX with index `eta_crossover`, each with probability 1/2, categorical ones uniformly;
    else the child is the first parent. Each hyperparameter then mutates with probability
    `mutation_prob` (None: 1 / the number of hyperparameters): polynomial mutation with
    index `eta_mutation`, or a categorical one redrawn uniformly.

    `steady_state` (the default, and the asynchronous variant: any number of workers
    keeps busy): each finished trial joins the population at once, which keeps its best
    `population_size` by front, then crowding distance (Durillo et al., 2009). Otherwise
    generational, as published: children come in batches of `population_size` from the
    same population, and once a batch is suggested the next population is the best
    `population_size` of the old one and the batch's finished children (with several
    workers, children still running join the selection after theirs).

    On a finite space or a table no configuration is suggested twice: a child that is not
    new is drawn again (20 times), then moved to the nearest unused row of the table (or a
    random unused configuration). On a conditional space a hyperparameter active in one
    parent only is inherited from it, and `Space.complete` draws what a child's values
    newly activate.

    Example:
        >>> s = NSGA2Searcher(space, mode="min", rng=np.random.default_rng(0))
        >>> config = s.suggest(); s.on_start(0, config)
        >>> s.observe(0, 9, np.array([0.3, 1.2])); s.on_end(0)
    """

    name = "nsga2"

    def __init__(
        self,
        space: Space,
        *,
        mode: str,
        rng: np.random.Generator,
        candidates: Sequence[dict[str, Any]] | None = None,
        population_size: int = 20,
        crossover_prob: float = 0.9,
        eta_crossover: float = 15.0,
        eta_mutation: float = 20.0,
        mutation_prob: float | None = None,
        steady_state: bool = True,
    ) -> None:
        self.space, self.mode, self.rng = space, check_mode(mode), rng
        self.population_size = check_count(self.name, "population_size", population_size)
        if self.population_size < 2:
            raise ValueError(f"{self.name}: population_size must be >= 2, got {population_size!r}")
        self.crossover_prob = check_range(self.name, "crossover_prob", crossover_prob, 0, 1)
        self.eta_crossover = check_range(self.name, "eta_crossover", eta_crossover, 0, 1e6,
                                         closed="high")
        self.eta_mutation = check_range(self.name, "eta_mutation", eta_mutation, 0, 1e6,
                                        closed="high")
        if mutation_prob is not None:
            check_range(self.name, "mutation_prob", mutation_prob, 0, 1)
        self.mutation_prob = mutation_prob
        self.steady_state = bool(steady_state)
        self._pool = CandidatePool(space, candidates)
        self._names = list(space.tunable)
        self._p_mut = mutation_prob if mutation_prob is not None else 1.0 / max(len(self._names), 1)
        self.population: list[tuple[dict[str, Any], np.ndarray]] = []
        self._children: list[tuple[dict[str, Any], np.ndarray]] = []  # generational: finished
        self._batch_left = 0  # generational: children left to suggest in this batch
        self._config_of: dict[int, dict[str, Any]] = {}
        self._last: dict[int, tuple[int, np.ndarray]] = {}  # trial -> (fidelity, vector)
        self._order: np.ndarray | None = None  # the population's positions by rank_order

    def suggest(self) -> dict[str, Any] | None:
        if self._pool.exhausted:
            return None
        config = None
        if len(self.population) >= self.population_size:
            if not self.steady_state:
                self._next_generation()
            config = self._child()
        if config is None:
            config = self._pool.random(self.rng)
        if config is not None:
            self._pool.mark(config)
        return config

    def on_start(self, trial_id: int, config: dict[str, Any]) -> None:
        self._pool.mark(config)
        self._config_of.setdefault(trial_id, dict(config))

    def observe(self, trial_id: int, fidelity: int, value: Any) -> None:
        if trial_id in self._last and fidelity < self._last[trial_id][0]:
            return
        y = np.atleast_1d(np.asarray(value, dtype=float))
        self._last[trial_id] = (int(fidelity), np.where(np.isnan(y), np.inf, y))

    def on_end(self, trial_id: int) -> None:
        if trial_id not in self._last or trial_id not in self._config_of:
            return  # failed before its first report: nothing to select on
        member = (self._config_of[trial_id], self._last.pop(trial_id)[1])
        if self.steady_state or len(self.population) < self.population_size:
            self.population = survivors(self.population + [member], self.population_size)
            self._order = None
        else:
            self._children.append(member)

    # --- internals ---------------------------------------------------------------------
    def _next_generation(self) -> None:
        """Generational: at a batch's start, select among the population and the finished
        children of earlier batches; a batch is `population_size` suggestions."""
        if self._batch_left == 0:
            if self._children:
                self.population = survivors(self.population + self._children,
                                            self.population_size)
                self._children, self._order = [], None
            self._batch_left = self.population_size
        self._batch_left -= 1

    def _parent(self) -> dict[str, Any]:
        """The winner of a binary tournament: the member ranked first by front, then
        crowding distance (Deb's crowded comparison)."""
        if self._order is None:
            ys = np.vstack([y for _, y in self.population])
            self._order = np.empty(len(ys), dtype=int)
            self._order[rank_order(ys)] = np.arange(len(ys))
        a, b = self.rng.choice(len(self.population), size=2, replace=False)
        return self.population[int(a if self._order[a] < self._order[b] else b)][0]

    def _child(self) -> dict[str, Any] | None:
        for _ in range(20):
            child = self._vary(self._parent(), self._parent())
            if self._pool.is_new(child) and not self.space.is_forbidden(child):
                return child
        if self._pool.finite is not None:
            return self._pool.nearest_unused(encode(self.space, child))
        return None  # a random configuration instead

    def _vary(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        """One child of `a` and `b`: crossover, then mutation, per hyperparameter."""
        cross = self.rng.random() < self.crossover_prob
        child = dict(self.space.constants)
        for name in self._names:
            if name not in a and name not in b:
                continue
            if name not in a or name not in b:  # active in one parent only
                child[name] = a[name] if name in a else b[name]
                continue
            domain = self.space[name]
            mutate = self.rng.random() < self._p_mut
            if isinstance(domain, Categorical) and not isinstance(domain, Ordinal):
                value = a[name] if not cross or self.rng.random() < 0.5 else b[name]
                if mutate:
                    value = domain.categories[int(self.rng.integers(len(domain.categories)))]
                child[name] = value
                continue
            u = domain.encode(a[name])[0]
            if cross and self.rng.random() < 0.5:  # each variable with probability 1/2
                u = sbx(u, domain.encode(b[name])[0], self.rng, self.eta_crossover)
            if mutate:
                u = polynomial_mutation(u, self.rng, self.eta_mutation)
            child[name] = domain.decode([u])
        if self.space.conditions:
            return self.space.complete(self.space.prune(child), self.rng)
        return {k: child[k] for k in self.space}


class NSGA2(MultiObjectiveFIFO):
    """NSGA-II (`nsga2`): FIFO scheduling around an NSGA2Searcher, fed the objective
    vectors of `objectives` (name -> mode) that `metrics` selects (default: all but test_*).

    Example:
        >>> NSGA2(searcher=NSGA2Searcher(space, mode="min", rng=np.random.default_rng(0)),
        ...       objectives={"f1": "min", "f2": "min"})
    """

    name = "nsga2"


def survivors(members: list, k: int) -> list:
    """The best `k` of `members` ((config, objective vector) pairs) by non-dominated front,
    then crowding distance within a front (NSGA-II's environmental selection), in their
    order in `members`."""
    if len(members) <= k:
        return list(members)
    keep = np.sort(rank_order(np.vstack([y for _, y in members]))[:k])
    return [members[i] for i in keep]


def sbx(a: float, b: float, rng: np.random.Generator, eta: float) -> float:
    """One child of `a` and `b` in [0, 1] by simulated binary crossover (Deb & Agrawal
    1995, the bounded form of Deb's NSGA-II code): spread around the parents by a factor
    whose distribution has index `eta` (larger: closer to the parents)."""
    if abs(a - b) < 1e-14:
        return a
    lo, hi = min(a, b), max(a, b)
    u = rng.random()
    near_lo = rng.random() < 0.5  # which of the two children this is
    beta = 1.0 + 2.0 * ((lo if near_lo else 1.0 - hi) / (hi - lo))
    alpha = 2.0 - beta ** -(eta + 1.0)
    if u <= 1.0 / alpha:
        betaq = (u * alpha) ** (1.0 / (eta + 1.0))
    else:
        betaq = (1.0 / (2.0 - u * alpha)) ** (1.0 / (eta + 1.0))
    mid, half = 0.5 * (lo + hi), 0.5 * betaq * (hi - lo)
    return float(min(max(mid - half if near_lo else mid + half, 0.0), 1.0))


def polynomial_mutation(x: float, rng: np.random.Generator, eta: float) -> float:
    """`x` in [0, 1] moved by Deb's bounded polynomial mutation with index `eta` (larger:
    smaller steps); the step never leaves [0, 1]."""
    u = rng.random()
    power = 1.0 / (eta + 1.0)
    if u < 0.5:
        val = 2.0 * u + (1.0 - 2.0 * u) * (1.0 - x) ** (eta + 1.0)
        delta = val**power - 1.0
    else:
        val = 2.0 * (1.0 - u) + 2.0 * (u - 0.5) * x ** (eta + 1.0)
        delta = 1.0 - val**power
    return float(min(max(x + delta, 0.0), 1.0))
