"""Acquisition functions of the GP searcher: expected improvement, and EI per second."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from core.schedulers.gp import GP


class PerSecond:
    """EI divided by the predicted training time: exp(posterior mean of a GP on log s)."""

    def __init__(self, score: Acquisition, cost: tuple[GP, float, float]) -> None:
        self.score, self.cost = score, cost

    def __call__(self, x: np.ndarray) -> np.ndarray:
        value = self.score(x)
        gp, loc, scale = self.cost
        seconds = np.exp(gp.predict(x)[0] * scale + loc)
        return np.where(value > 0, value / seconds, value)


class Acquisition:
    """Expected improvement of a GP below `best` (at scaled fidelity `fidelity`, if any).

    Where EI underflows to 0 everywhere, candidates are ranked by (best - mean) / std.
    """

    def __init__(self, gp: GP, best: float, fidelity: float | None) -> None:
        self.gp, self.best, self.fidelity = gp, best, fidelity

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.fidelity is not None:
            x = np.hstack([x, np.full((len(x), 1), self.fidelity)])
        mean, var = self.gp.predict(x)
        ei = expected_improvement(mean, var, self.best)
        if ei.max() > 0:
            return ei
        return (self.best - mean) / np.sqrt(var) - 1e6  # below any positive EI


def expected_improvement(mean: np.ndarray, var: np.ndarray, best: float) -> np.ndarray:
    """E[max(best - f, 0)] for f ~ N(mean, var) (minimization)."""
    sigma = np.sqrt(np.maximum(var, 1e-24))
    z = (best - mean) / sigma
    return np.maximum(sigma * (z * ndtr(z) + np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)), 0.0)
