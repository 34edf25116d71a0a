"""The searcher protocol: which configuration to try next (plugs into any scheduler), and
ModelSearcher, the base of the model-based searchers (GP, TPE)."""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

import numpy as np

from simtune.core.schedulers.base import Registered, Scheduler, check_mode, mode_sign
from simtune.core.schedulers.blas import single_threaded
from simtune.core.schedulers.initial_design import InitialDesign
from simtune.core.schedulers.pool import CandidatePool
from simtune.core.space import Space
from simtune.core.trial import Report, Trial


class Searcher(Registered):
    """Proposes configurations and learns from observations keyed by trial id.

    Schedulers decide *when* (stop, pause, promote); searchers decide *which config*.
    Every observation carries its trial id, so asynchronous workers never pair a
    config with another trial's result. Subclasses keep each constructor argument in an
    attribute of its name (metadata reads them there).
    """

    name = "searcher"

    def suggest(self) -> dict[str, Any] | None:
        """A new configuration, or None when the searcher has nothing left."""
        raise NotImplementedError

    def set_fidelities(self, levels: Sequence[int], fidelities: Sequence[int]) -> None:
        """A multi-fidelity scheduler's rung levels (the last one is its maximum resource)
        and the fidelities it uses; called once, before the first `suggest`. Searchers
        that model the fidelity (MOBSTER's GP) take them; others ignore them."""

    def set_level(self, level: int) -> None:
        """The rung level at which the next suggested configuration starts; multi-fidelity
        schedulers (ASHA and its family, sync_hyperband) call it before each `suggest`.
        Searchers that keep one model per level (DE) take it; others ignore it."""

    def on_start(self, trial_id: int, config: dict[str, Any]) -> None:
        """`config` is now being evaluated as trial `trial_id` (pending)."""

    def observe(self, trial_id: int, fidelity: int, value: float) -> None:
        """Trial `trial_id` reached `value` of the metric at `fidelity`."""

    def observe_constraints(self, trial_id: int, fidelity: int, value: float,
                            constraints: dict[str, float]) -> None:
        """A run with outcome constraints: trial `trial_id`'s `value` of the metric and its
        constraint values (each must be <= 0; NaN: missing) at `fidelity`, told just before
        `observe`, which gets NaN for an infeasible report. Constraint-aware searchers
        (ModelSearcher) keep them; others rank infeasible reports last through the NaN."""

    def on_cost(self, trial_id: int, seconds: float) -> None:
        """Trial `trial_id` took `seconds` to train (reported once, at its end, by FIFO
        scheduling); cost-aware searchers learn from it."""

    def on_end(self, trial_id: int) -> None:
        """Trial `trial_id` ended (completed, stopped or failed): no longer pending."""

    def inherit(self, trial_id: int, config: dict[str, Any],
                observations: Sequence[tuple[int, Any]]) -> None:
        """An earlier run's trial (warm start): `config` with its (fidelity, value)
        `observations`, observed as if this searcher had suggested it, and ended."""
        self.on_start(trial_id, config)
        for fidelity, value in observations:
            self.observe(trial_id, fidelity, value)
        self.on_end(trial_id)

    def check_started(self, trial_id: int, started: Container[int]) -> None:
        """A ValueError unless `trial_id` is among the `started` trials (`observe`)."""
        if trial_id not in started:
            raise ValueError(
                f"{self.name}: report for trial {trial_id}, which was never started "
                "(call on_start(trial_id, config) first)"
            )


class ModelSearcher(Searcher):
    """What every model-based searcher shares: the candidate pool (no configuration twice
    on a finite space or a table, unless `max_repeats`), the start-up phase (an
    `initial_design` of `n_startup` points, core/schedulers/initial_design.py), each
    trial's encoded config keyed by trial id, and the sign that makes every objective one
    to minimize (`sign * value`; a missing value is NaN).

    A subclass implements its model: `encode` (a config as the model's input),
    `in_startup` (no model yet), `propose` (the model's next config, None if it has none)
    and `add` (a trial's signed value at a fidelity), as Optuna's TPE owns a random sampler
    for its start-up trials and implements only its model.
    """

    def __init__(
        self,
        space: Space,
        *,
        mode: str,
        rng: np.random.Generator,
        candidates: Sequence[dict[str, Any]] | None,
        n_startup: int,
        initial_design: str,
        max_repeats: int,
    ) -> None:
        check_mode(mode)
        self.space, self.mode, self.rng = space, mode, rng
        self.initial_design, self.max_repeats = initial_design, max_repeats
        self.sign = mode_sign(mode)
        self.pool = CandidatePool(space, candidates)
        self.finite = self.pool.finite  # the table or enumerated space, else None
        self.startup = InitialDesign(initial_design, space, self.pool, n_startup, self.name)
        self.x_of: dict[int, np.ndarray] = {}  # trial id -> encoded config
        self.n_evals: dict[int, int] = {}  # row of the finite set -> times suggested
        self.n_suggested = 0
        self.n_inherited = 0  # trials of an earlier run (warm start): they count as suggested

        # outcome constraints (observe_constraints): (trial id, fidelity) -> values, and
        # the unmasked signed value that `observe` then uses instead of an infeasible NaN
        self.c_of: dict[tuple[int, int], np.ndarray] = {}
        self._unmasked: dict[tuple[int, int], float] = {}

    def encode(self, config: dict[str, Any]) -> np.ndarray:
        """`config` as the model's input."""
        raise NotImplementedError

    def in_startup(self) -> bool:
        """True while suggestions come from the initial design (no model yet)."""
        raise NotImplementedError

    def propose(self) -> dict[str, Any] | None:
        """The model's next configuration (unused in the pool), None if there is none."""
        raise NotImplementedError

    def add(self, trial_id: int, fidelity: int, y: float) -> None:
        """Trial `trial_id` reached `y` (to minimize; NaN if missing) at `fidelity`."""
        raise NotImplementedError

    def suggest(self) -> dict[str, Any] | None:
        if self.pool.exhausted:
            return None
        self.n_suggested += 1
        if self.in_startup():
            config = self.startup.draw(self.rng)
        else:
            with single_threaded():
                config = self.propose()
        if config is not None:
            self.pool.mark(config)
            if self.finite is not None:
                row = self.finite.row(config)
                self.n_evals[row] = self.n_evals.get(row, 0) + 1
        return config

    def on_start(self, trial_id: int, config: dict[str, Any]) -> None:
        self.pool.mark(config)
        if trial_id not in self.x_of:
            self.x_of[trial_id] = self.encode(config)

    def inherit(self, trial_id: int, config: dict[str, Any],
                observations: Sequence[tuple[int, Any]]) -> None:
        super().inherit(trial_id, config, observations)
        self.n_inherited += 1

    def observe(self, trial_id: int, fidelity: int, value: float) -> None:
        self.check_started(trial_id, self.x_of)
        y = self.sign * float(value) if value is not None else np.nan
        self.add(trial_id, int(fidelity), self._unmasked.pop((trial_id, int(fidelity)), y))

    def observe_constraints(self, trial_id: int, fidelity: int, value: float,
                            constraints: dict[str, float]) -> None:
        key = (trial_id, int(fidelity))
        self.c_of[key] = np.array(list(constraints.values()), dtype=float)
        self._unmasked[key] = self.sign * float(value) if value is not None else np.nan

    def constraints_at(self, trial_id: int, fidelity: int) -> np.ndarray | None:
        """The constraint values trial `trial_id` reported at `fidelity`; None in a run
        without constraints (all NaN if the trial reported none there)."""
        if not self.c_of:
            return None
        c = self.c_of.get((trial_id, int(fidelity)))
        return c if c is not None else np.full(len(next(iter(self.c_of.values()))), np.nan)

    def may_repeat(self, row: int) -> bool:
        """Row `row` of the finite set was suggested at most `max_repeats` times."""
        return self.n_evals.get(row, 1) <= self.max_repeats


def nan_as_worst(y: np.ndarray, among: np.ndarray | None = None) -> np.ndarray:
    """A copy of `y` (values to minimize) whose non-finite values (a failed trial's NaN)
    are the worst finite value of `among` (default `y`), or 0 if it has none."""
    y = np.array(y, dtype=float)
    bad = ~np.isfinite(y)
    if bad.any():
        ref = y if among is None else np.asarray(among, dtype=float)
        ref = ref[np.isfinite(ref)]
        y[bad] = ref.max() if len(ref) else 0.0
    return y


class SearcherScheduler(Scheduler):
    """A scheduler whose configurations come from `self.searcher`: it tells the searcher
    when a trial starts and when it ends (completed, stopped or failed)."""

    searcher: Searcher

    def on_start(self, trial: Trial) -> None:
        self.searcher.on_start(trial.trial_id, trial.config)

    def on_complete(self, trial: Trial, report: Report) -> None:
        self.searcher.on_end(trial.trial_id)

    def on_error(self, trial: Trial) -> None:
        self.searcher.on_end(trial.trial_id)

    def inherit(self, trial: Trial, reports: Sequence[Report]) -> None:
        self.searcher.inherit(trial.trial_id, trial.config,
                              [(r.fidelity, self._observation(r)) for r in reports])

    def _observation(self, report: Report) -> Any:
        """What the searcher learns from `report`: the metric's value (None if absent)."""
        return report.metrics.get(self.metric)

    def on_constraints(self, trial: Trial, fidelity: int, value: float,
                       constraints: dict[str, float]) -> None:
        self.searcher.observe_constraints(trial.trial_id, fidelity, value, constraints)
