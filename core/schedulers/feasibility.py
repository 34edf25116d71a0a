"""The GP searcher's feasibility model for outcome constraints (core.constraints).

One GP per constraint on its observed values (the objective's kernel and fitting code,
core/schedulers/gp.py), and expected constrained improvement (Gardner et al., "Bayesian
optimization with inequality constraints", ICML 2014; Gelbart, Snoek & Adams, UAI 2014;
Syne Tune's constrained BO): EI measured from the best *feasible* value, times the
probability that every constraint holds, prod_k P(c_k(x) <= 0). Before any feasible
observation there is no improvement to measure, and the acquisition is the probability
of feasibility alone.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr

from simtune.core.schedulers.acquisition import expected_improvement
from simtune.core.schedulers.gp import GP, Hyperparameters, fit_hyperparameters


class FeasibilityModel:
    """One GP per constraint, each on the standardized constraint values; a missing value
    (NaN: the trial did not report it, so it counts as violated) is imputed above the
    largest observed one. Keeps each GP's hyperparameters to warm-start the next fit."""

    def __init__(self) -> None:
        self._hp: list[Hyperparameters | None] = []
        self.gps: list[tuple[GP, float, float]] = []  # (GP, loc, scale) per constraint

    def fit(self, x: np.ndarray, c: np.ndarray, rng: np.random.Generator,
            groups: np.ndarray | None, n_restarts: int) -> FeasibilityModel:
        """Fit on inputs `x` (n rows) and constraint values `c` (n x k)."""
        if len(self._hp) != c.shape[1]:
            self._hp = [None] * c.shape[1]
        self.gps = []
        for k in range(c.shape[1]):
            target, loc, scale = standardize_constraint(c[:, k])
            first = self._hp[k] is None
            self._hp[k] = fit_hyperparameters(
                x, target, rng, init=self._hp[k], n_restarts=n_restarts if first else 0,
                max_iter=100 if first else 30, groups=groups)
            self.gps.append((GP(x, target, self._hp[k]), loc, scale))
        return self

    def extend(self, x_pending: np.ndarray) -> None:
        """Pending trials fantasized at each constraint's posterior mean (as the objective)."""
        if len(x_pending):
            self.gps = [(gp.extend(x_pending, gp.predict(x_pending)[0]), loc, scale)
                        for gp, loc, scale in self.gps]

    def log_prob_feasible(self, x: np.ndarray) -> np.ndarray:
        """log prod_k P(c_k(x) <= 0) under the GPs."""
        out = np.zeros(len(x))
        for gp, loc, scale in self.gps:
            mean, var = gp.predict(x)
            out += log_ndtr((-loc / scale - mean) / np.sqrt(var))
        return out


def standardize_constraint(c: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(standardized values, loc, scale) of one constraint's observations; missing ones
    (NaN) imputed at max(largest observed, 0) + one standard deviation: violated."""
    c = np.asarray(c, dtype=float)
    seen = c[np.isfinite(c)]
    spread = float(seen.std()) if len(seen) > 1 else 0.0
    spread = spread or (abs(float(seen[0])) if len(seen) else 0.0) or 1.0
    worst = max(float(seen.max()), 0.0) + spread if len(seen) else 1.0
    c = np.where(np.isfinite(c), c, worst)
    loc, scale = float(c.mean()), float(c.std()) or spread
    return (c - loc) / scale, loc, scale


class ConstrainedAcquisition:
    """Expected constrained improvement: EI of `gp` below `best` (the best feasible
    standardized value; None: no feasible observation yet) times the probability of
    feasibility; without a feasible observation, that probability alone. Where the product
    underflows to 0 everywhere, candidates are ranked by log P(feasible) + the EI
    fallback (best - mean) / std, below any positive value."""

    def __init__(self, gp: GP, best: float | None, fidelity: float | None,
                 feasibility: FeasibilityModel) -> None:
        self.gp, self.best, self.fidelity, self.feasibility = gp, best, fidelity, feasibility

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.fidelity is not None:
            x = np.hstack([x, np.full((len(x), 1), self.fidelity)])
        log_pf = self.feasibility.log_prob_feasible(x)
        if self.best is None:
            return log_pf  # monotone in the probability of feasibility
        mean, var = self.gp.predict(x)
        score = expected_improvement(mean, var, self.best) * np.exp(log_pf)
        if score.max() > 0:
            return score
        return log_pf + (self.best - mean) / np.sqrt(var) - 1e6


def best_feasible(y: np.ndarray, feasible: np.ndarray) -> float | None:
    """The least of `y` (standardized values to minimize) among the `feasible` rows;
    None if there is none."""
    y = np.asarray(y, dtype=float)[np.asarray(feasible, dtype=bool)]
    y = y[np.isfinite(y)]
    return float(y.min()) if len(y) else None


__all__ = ["ConstrainedAcquisition", "FeasibilityModel", "best_feasible",
           "standardize_constraint"]
