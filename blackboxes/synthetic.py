"""Closed-form multi-fidelity blackboxes with a known optimum, for tests and demos."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from blackboxes.blackbox import TIME, Blackbox, Curve
from core.space import Space, uniform

BRANIN_MIN = (
    0.397887357729739  # global minimum of Branin, at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475)
)


def branin(x1: float, x2: float) -> float:
    """The Branin-Hoo function on [-5, 10] x [0, 15]."""
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


class BraninCurves(Blackbox):
    """Branin with learning curves: loss(x, r) = branin(x) + c(x) * ((R - r) / (R - 1))^2.

    At the maximum fidelity R the loss equals Branin, so the optimum is known exactly
    (0.397887). The curve's offset c(x) = 10 + 2 * x2 makes early rankings an imperfect
    guide to final ones, as with real learning curves. One epoch costs 1 + (x1 + 5) / 5
    seconds, so configurations differ in cost too. Deterministic: one seed, 0.

    Example:
        >>> bb = BraninCurves()
        >>> bb.evaluate({"x1": math.pi, "x2": 2.275}, fidelity=81)["loss"]
    """

    def __init__(self, max_fidelity: int = 81) -> None:
        if max_fidelity < 2:
            raise ValueError(f"max_fidelity must be >= 2, got {max_fidelity}")
        self.name, self.task = "synthetic", "branin"
        self.space = Space({"x1": uniform(-5.0, 10.0), "x2": uniform(0.0, 15.0)})
        self.objectives = {"loss": "min"}
        self.fidelity_name = "epoch"
        self.fidelities = list(range(1, max_fidelity + 1))
        self.seeds = [0]
        self.source = "closed form"
        self.optimum = {"loss": BRANIN_MIN}
        r = np.asarray(self.fidelities, dtype=float)
        self._shape = ((max_fidelity - r) / (max_fidelity - 1)) ** 2
        self._r = r

    def curve(self, config: dict[str, Any], seed: int = 0) -> Curve:
        x1, x2 = float(config["x1"]), float(config["x2"])
        if seed != 0:
            raise ValueError(f"synthetic/branin has only seed 0, got {seed!r}")
        loss = branin(x1, x2) + (10.0 + 2.0 * x2) * self._shape
        per_epoch = 1.0 + (x1 + 5.0) / 5.0
        return Curve(self.fidelities, (self._r * per_epoch).tolist(), {"loss": loss.tolist()})


__all__ = ["BraninCurves", "branin", "BRANIN_MIN", "TIME"]
