"""Bayesian optimization: a GP searcher with expected improvement, asynchronous.

The GPSearcher plugs into any scheduler: FIFO (`bo`) or ASHA (MOBSTER, with
`fidelity_aware=True`: the fidelity is an extra GP input, log-scaled to [0,1], and the
acquisition is evaluated at the maximum fidelity).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from simtune.core.encoding import Coords, decode, encode
from simtune.core.schedulers.acquisition import (
    Acquisition,
    PerSecond,
    maximize,
    maximize_on_table,
    observed_ei_bound,
)
from simtune.core.schedulers.base import check_count
from simtune.core.schedulers.feasibility import (
    ConstrainedAcquisition,
    FeasibilityModel,
    best_feasible,
)
from simtune.core.schedulers.gp import GP, Hyperparameters, fantasize, fit_hyperparameters
from simtune.core.schedulers.gp_data import standardize, subsample
from simtune.core.schedulers.searcher import ModelSearcher, nan_as_worst
from simtune.core.space import Space


class GPSearcher(ModelSearcher):
    """Gaussian-process BO: Matérn-5/2 ARD GP, expected improvement, pending fantasies.

    The first `n_init` configurations are an `initial_design`: "random" (uniform),
    "sobol" or "lhs" (core/schedulers/initial_design.py). Then each suggestion fits
    (every few observations) the GP hyperparameters, fantasizes pending trials with the
    posterior mean (so parallel workers spread out), and maximises EI over
    `n_candidates` random candidates plus a local search around the best of them. On a
    finite space or a table (`candidates`), candidates are unused rows of the table.
    Observations are keyed by trial id; a trial's value is the one at the highest
    fidelity it reached (or, with `fidelity_aware`, every (config, fidelity) report).
    The defaults (also scheduler=bo's) are those measured to search best on tables
    (docs/search_quality.md): one lengthscale per hyperparameter, hyperparameters refit
    after every observation on at most 100 points, a table row may be evaluated twice
    (with EI then measured from the best posterior mean, not the luckiest observation),
    outputs spanning more than two decades are warped to normal scores. From
    `large_data_from` observations on (not with `fidelity_aware`), the hyperparameters
    are refit every `large_refit_every` observations (the factor grows by a block update
    in between) and on a table `large_candidates` rows are drawn, their posterior variance
    computed only where they may be among the best (docs/search_quality.md).

    Example:
        >>> s = GPSearcher(space, mode="min", rng=np.random.default_rng(0))
        >>> config = s.suggest(); s.on_start(0, config); s.observe(0, 1, 0.3)
    """

    name = "bo"

    def __init__(
        self,
        space: Space,
        *,
        mode: str,
        rng: np.random.Generator,
        candidates: Sequence[dict[str, Any]] | None = None,
        n_init: int = 5,
        fidelity_aware: bool = False,
        fidelities: Sequence[int] | None = None,
        n_candidates: int = 500,
        n_local: int = 3,
        refit_every: int = 1,
        large_data_from: int = 150,
        large_refit_every: int = 10,
        large_candidates: int = 250,
        max_observations: int = 400,
        max_fit_points: int = 100,
        n_restarts: int = 2,
        tie_lengthscales: bool = True,
        max_repeats: int = 1,
        cost_aware: bool = False,
        warp_outputs: bool | None = None,
        initial_design: str = "random",
    ) -> None:
        (n_init, n_candidates, refit_every, large_data_from, large_refit_every,
         large_candidates, max_observations, max_fit_points) = (
            check_count(self.name, arg, value)
            for arg, value in [
                ("n_init", n_init),
                ("n_candidates", n_candidates),
                ("refit_every", refit_every),
                ("large_data_from", large_data_from),
                ("large_refit_every", large_refit_every),
                ("large_candidates", large_candidates),
                ("max_observations", max_observations),
                ("max_fit_points", max_fit_points),
            ]
        )
        if fidelity_aware and not fidelities:
            raise ValueError(f"{self.name}: fidelity_aware=True needs the benchmark's fidelities")
        if fidelity_aware and min(fidelities) <= 0:
            raise ValueError(
                f"{self.name}: fidelities must be positive (they are log-scaled), "
                f"got min {min(fidelities)!r}"
            )
        super().__init__(
            space, mode=mode, rng=rng, candidates=candidates, n_startup=n_init,
            initial_design=initial_design, max_repeats=max_repeats,
        )
        self.warp_outputs = warp_outputs
        self.cost_aware = cost_aware
        self._log_cost: dict[int, float] = {}  # trial id -> log seconds (cost_aware)
        self._cost_hp: Hyperparameters | None = None
        self.n_init, self.fidelity_aware = n_init, fidelity_aware
        self.n_candidates, self.n_local, self.refit_every = n_candidates, n_local, refit_every
        self.large_data_from, self.large_refit_every = large_data_from, large_refit_every
        self.large_candidates = large_candidates
        self.max_observations, self.max_fit_points = max_observations, max_fit_points
        self.n_restarts, self.tie_lengthscales = n_restarts, tie_lengthscales
        self._coords = Coords(space)
        self._groups: np.ndarray | None = None  # input column -> lengthscale
        if tie_lengthscales:
            self._groups = np.concatenate(
                [np.full(w, b) for b, (_, w, _) in enumerate(self._coords.blocks)]
                + ([[len(self._coords.blocks)]] if fidelity_aware else [])
            ).astype(np.int64)
        if fidelity_aware:
            lo, hi = float(min(fidelities)), float(max(fidelities))
            self._f_lo, self._f_span = np.log(lo), max(np.log(hi) - np.log(lo), 1e-12)
        self._levels: set[int] | None = None  # set_fidelities: the rung levels
        self._target = 1.0  # scaled fidelity at which EI is evaluated: the largest one used
        # observations: one row per trial (or per (trial, fidelity) when fidelity_aware)
        self._pending: dict[int, np.ndarray] = {}  # started, nothing reported yet
        self._table_row: dict[int, int | None] = {}  # trial -> its row of `finite`
        self._row_of: dict[tuple[int, int], int] = {}
        self._top_fid: dict[int, int] = {}  # trial -> highest fidelity reported
        self._rows_x: list[np.ndarray] = []
        self._rows_y: list[float] = []
        self._rows_trial: list[int] = []
        # model state
        self._hp: Hyperparameters | None = None
        self._gp: GP | None = None
        self._model_rows: list[int] = []
        self._fit_rows: set[int] = set()  # the rows the hyperparameters were last fit on
        self._n_at_fit = 0
        self._n_at_restart = 0
        self._n_rows_seen = 0
        self._y_loc, self._y_scale = 0.0, 1.0
        self._feasibility: FeasibilityModel | None = None  # outcome constraints only

    # --- the model (ModelSearcher does the rest) --------------------------------------
    def encode(self, config: dict[str, Any]) -> np.ndarray:
        return encode(self.space, config)

    def in_startup(self) -> bool:
        return self.n_suggested + self.n_inherited <= self.n_init or len(self._rows_y) < 2

    def set_fidelities(self, levels: Sequence[int], fidelities: Sequence[int]) -> None:
        """With `fidelity_aware`: model only the reports at `levels`, scale the fidelity
        over `fidelities`, evaluate EI at the largest level."""
        if not self.fidelity_aware:
            return
        lo, hi = float(min(fidelities)), float(max(fidelities))
        self._f_lo, self._f_span = np.log(lo), max(np.log(hi) - np.log(lo), 1e-12)
        self._levels = {int(f) for f in levels}
        self._target = self._scale_fidelity(max(self._levels))

    def on_start(self, trial_id: int, config: dict[str, Any]) -> None:
        super().on_start(trial_id, config)
        if self.finite is not None and trial_id not in self._table_row:
            self._table_row[trial_id] = self.finite.row(config)
        if trial_id not in self._top_fid:
            self._pending[trial_id] = self.x_of[trial_id]

    def add(self, trial_id: int, fidelity: int, y: float) -> None:
        self._pending.pop(trial_id, None)
        if self.fidelity_aware:
            if self._levels is not None and fidelity not in self._levels:
                return
            key = (trial_id, fidelity)
            x = np.append(self.x_of[trial_id], self._scale_fidelity(fidelity))
        else:
            if fidelity < self._top_fid.get(trial_id, fidelity):
                return
            key = (trial_id, -1)
            x = self.x_of[trial_id]
        self._top_fid[trial_id] = max(fidelity, self._top_fid.get(trial_id, fidelity))
        row = self._row_of.get(key)
        if row is None:
            self._row_of[key] = len(self._rows_y)
            self._rows_x.append(x)
            self._rows_y.append(y)
            self._rows_trial.append(trial_id)
        else:
            self._rows_y[row] = y

    def on_cost(self, trial_id: int, seconds: float) -> None:
        if self.cost_aware and trial_id in self.x_of:
            self._log_cost[trial_id] = float(np.log(max(seconds, 1e-3)))

    def on_end(self, trial_id: int) -> None:
        self._pending.pop(trial_id, None)

    # --- internals --------------------------------------------------------------------
    def _scale_fidelity(self, fidelity: float) -> float:
        return float(np.clip((np.log(fidelity) - self._f_lo) / self._f_span, 0.0, 1.0))

    def _targets(self, rows: list[int]) -> np.ndarray:
        return nan_as_worst([self._rows_y[i] for i in rows], among=self._rows_y)

    def _update_model(self) -> GP:
        n = len(self._rows_y)
        every = self.refit_every
        if self._large():  # as Syne Tune's opt_skip_init_length / opt_skip_period
            every = max(every, self.large_refit_every)
        due = self._gp is None or n - self._n_at_fit >= min(every, max(1, self._n_at_fit // 5))
        if due:
            everything = list(range(n))
            rows = subsample(everything, self._targets(everything), self.max_observations, self.rng)
            y = self._targets(rows)
            self._y_loc = float(np.median(y)) if len(y) else 0.0
            self._y_scale = float(y.std()) or 1.0
            ys = self._standardize(y)
            fit_rows = subsample(rows, ys, self.max_fit_points, self.rng, keep=self._fit_rows)
            self._fit_rows = set(fit_rows)
            position = {row: i for i, row in enumerate(rows)}
            fit = [position[row] for row in fit_rows]
            x = np.asarray([self._rows_x[i] for i in rows])
            # random restarts whenever the data has doubled since the last ones; otherwise
            # a short warm start from the current hyperparameters
            full = self._hp is None or n >= 2 * self._n_at_restart
            if full:
                self._n_at_restart = n
            self._hp = fit_hyperparameters(
                x[fit],
                ys[fit],
                self.rng,
                init=self._hp,
                n_restarts=self.n_restarts if full else 0,
                max_iter=100 if full else 10 if self._large() else 30,
                groups=self._groups,
            )
            self._gp = GP(x, ys, self._hp)
            self._model_rows, self._n_at_fit = rows, n
        else:
            new = list(range(self._n_rows_seen, n))
            if new:
                x_new = np.asarray([self._rows_x[i] for i in new])
                self._gp = self._gp.extend(x_new, np.zeros(len(new)))
                self._model_rows = self._model_rows + new
            y = self._standardize(self._targets(self._model_rows))
            self._gp = self._gp.with_targets(y)
        self._n_rows_seen = n
        return self._gp

    def _large(self) -> bool:
        """Past `large_data_from` observations (not fidelity-aware: MOBSTER has its own
        refit period and candidates): refit every `large_refit_every` observations,
        `large_candidates` candidates."""
        return not self.fidelity_aware and len(self._rows_y) >= self.large_data_from

    def _standardize(self, y: np.ndarray) -> np.ndarray:
        """`standardize` with this searcher's location, scale and `warp_outputs`."""
        on_table = self.finite is not None
        return standardize(y, self._y_loc, self._y_scale, self.warp_outputs, on_table)

    def _cost_model(self) -> tuple[GP, float, float]:
        """A GP on the standardized log training time of the trials that reported one
        (hyperparameters warm-started from the last fit), and its (loc, scale)."""
        trials = sorted(self._log_cost)[-self.max_fit_points :]
        x = np.asarray([self.x_of[t] for t in trials])
        c = np.asarray([self._log_cost[t] for t in trials])
        loc, scale = float(c.mean()), float(c.std()) or 1.0
        cs = (c - loc) / scale
        self._cost_hp = fit_hyperparameters(
            x, cs, self.rng, init=self._cost_hp, n_restarts=0, max_iter=30, groups=self._groups
        )
        return GP(x, cs, self._cost_hp), loc, scale

    def propose(self) -> dict[str, Any] | None:
        """The maximizer of EI (per second, if `cost_aware`) under the GP, with pending
        trials fantasized at their posterior mean."""
        gp = self._update_model()
        means = {}  # table row -> posterior mean there, of the rows with data (repeats)
        if self.fidelity_aware:
            trials = sorted({self._rows_trial[i] for i in self._model_rows})
            x_obs = np.asarray([np.append(self.x_of[t], self._target) for t in trials])
            best = float(gp.mean(x_obs).min())
        else:
            best = float(gp.y.min())
            if self.max_repeats:  # noisy: the incumbent is the best posterior mean
                fitted = gp.fitted_mean()
                best = float(fitted.min())
                means = self._by_table_row([self._rows_trial[i] for i in self._model_rows],
                                           fitted)
        if self._pending:
            x_p = np.asarray([self._pending[t] for t in sorted(self._pending)])
            if self.fidelity_aware:
                x_p = np.hstack([x_p, np.full((len(x_p), 1), self._target)])
            mean_p = gp.mean(x_p)
            # kriging believer: mean unchanged, variance shrinks
            if self._large() and not self.c_of:
                gp = fantasize(gp, x_p, mean_p)
            else:
                gp = gp.extend(x_p, mean_p, keep_kernel=False)
            if means:
                means.update(self._by_table_row(sorted(self._pending), mean_p))
            best = min(best, float(mean_p.min()))
        score = Acquisition(gp, best, self._target if self.fidelity_aware else None)
        if self.c_of:  # outcome constraints: expected constrained improvement
            score = self._constrained(gp)
        if self.cost_aware and len(self._log_cost) >= 2 and not self.fidelity_aware:
            score = PerSecond(score, self._cost_model())
        if self.finite is not None:
            again = [r for r in self.n_evals if self.may_repeat(r)] if self.max_repeats else []
            bound = None  # EI bounds at the rows with data: most need not be scored
            if type(score) is Acquisition and means:
                mean = np.array([means.get(r, np.nan) for r in again])
                bound = np.where(np.isnan(mean), np.inf,
                                 observed_ei_bound(gp, np.nan_to_num(mean), best))
            screen, n_candidates = None, self.n_candidates
            if self._large():  # fewer candidates, the variance only where they may win
                screen = score if type(score) is Acquisition else None
                n_candidates = min(n_candidates, self.large_candidates)
            row = maximize_on_table(score, self.finite, self.rng, n_candidates,
                                    self.n_local, again, bound, screen)
            return None if row is None else self.finite.config(row)
        x = maximize(score, self._coords, self.rng, self.n_candidates, self.n_local)
        config = decode(self.space, x)
        if not self.pool.is_new(config):
            return self.pool.random(self.rng)
        return config

    def _by_table_row(self, trials: list[int], values: np.ndarray) -> dict[int, float]:
        """{table row of trial: value} for the `trials` (one value each) that have a row."""
        rows = (self._table_row.get(t) for t in trials)
        return {r: float(v) for r, v in zip(rows, values, strict=True) if r is not None}

    def _constrained(self, gp: GP) -> ConstrainedAcquisition:
        """EI from the best feasible observation times the probability of feasibility under
        one GP per constraint (core/schedulers/feasibility.py), fitted on the model's rows;
        `gp` is the objective's, pending trials fantasized."""
        n = len(self._model_rows)
        key_of = {row: key for key, row in self._row_of.items()}
        c = np.array([self._row_constraints(key_of[r]) for r in self._model_rows])
        x = gp.x[:n]
        if self._feasibility is None:
            self._feasibility = FeasibilityModel()
        fit = subsample(list(range(n)), np.nan_to_num(c.max(axis=1), nan=np.inf),
                        self.max_fit_points, self.rng)
        feasibility = self._feasibility.fit(x[fit], c[fit], self.rng, self._groups,
                                            self.n_restarts)
        feasibility.extend(gp.x[n:])
        ok = np.all(c <= 0, axis=1)
        y = gp.mean(x) if self.max_repeats or self.fidelity_aware else gp.y[:n]
        return ConstrainedAcquisition(gp, best_feasible(y, ok),
                                      self._target if self.fidelity_aware else None, feasibility)

    def _row_constraints(self, key: tuple[int, int]) -> np.ndarray:
        """The constraint values of the observation `key` ((trial, fidelity), fidelity -1:
        the highest the trial reported)."""
        trial, fidelity = key
        return self.constraints_at(trial, self._top_fid[trial] if fidelity < 0 else fidelity)
