"""Closed-form multi-fidelity blackboxes with a known optimum, for tests and demos.

Every function gets learning curves of the same construction as BraninCurves:
value(x, r) = f(x) + c(x) * ((R - r) / (R - 1))^2 with c(x) >= 0, so the value at the
maximum fidelity R is f(x) exactly and the known optimum of f is the optimum of the table.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simtune.blackboxes.blackbox import TIME, Blackbox, Curve
from simtune.core.space import Space, uniform

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


# Hartmann-3 and Hartmann-6 on [0,1]^d (Dixon & Szegoe 1978; constants as in the SFU
# library of test functions, https://www.sfu.ca/~ssurjano/hart6.html).
HARTMANN3_MIN = -3.86278214782076
HARTMANN3_ARGMIN = (0.114614, 0.555649, 0.852547)
HARTMANN6_MIN = -3.32236801141551
HARTMANN6_ARGMIN = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array(
    [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
)
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann(x: np.ndarray) -> float:
    """Hartmann-3 (len(x) == 3) or Hartmann-6 (len(x) == 6) on [0, 1]^d."""
    x = np.asarray(x, dtype=float)
    a, p = {3: (_H3_A, _H3_P), 6: (_H6_A, _H6_P)}[len(x)]
    return float(-_H_ALPHA @ np.exp(-(a * (x - p) ** 2).sum(axis=1)))


def zdt1(x: np.ndarray) -> tuple[float, float]:
    """ZDT1 (Zitzler, Deb & Thiele 2000) on [0, 1]^n: both objectives minimized.

    The Pareto front is f2 = 1 - sqrt(f1), f1 in [0, 1], reached where x[1:] == 0.
    """
    x = np.asarray(x, dtype=float)
    g = 1.0 + 9.0 * float(x[1:].mean())
    f1 = float(x[0])
    return f1, g * (1.0 - math.sqrt(f1 / g))


def zdt1_front(n: int = 1001) -> np.ndarray:
    """`n` points of the ZDT1 Pareto front, shape (n, 2)."""
    f1 = np.linspace(0.0, 1.0, n)
    return np.column_stack([f1, 1.0 - np.sqrt(f1)])


def zdt1_front_hypervolume(ref: tuple[float, float] = (1.0, 1.0)) -> float:
    """Hypervolume of the whole ZDT1 front against `ref` >= (1, 1), in closed form.

    Over f1 in [0, 1] the front dominates f2 from 1 - sqrt(f1) up to r2, an area of
    (r2 - 1) + 2/3; its point (1, 0) dominates the whole strip f1 in [1, r1].
    """
    r1, r2 = ref
    if r1 < 1.0 or r2 < 1.0:
        raise ValueError(f"zdt1_front_hypervolume needs ref >= (1, 1), got {ref}")
    # region dominated by the front: for f1 in [0, 1], f2 from 1 - sqrt(f1) up to r2;
    # for f1 in [1, r1], f2 from 0 up to r2
    return (r2 - 1.0) + 2.0 / 3.0 + (r1 - 1.0) * r2


class CurveFunction(Blackbox):
    """A closed-form function of x in [0, 1]^d with learning curves (see the module doc).

    `f` maps a vector to one value per objective, `offset` to the curve offset of each
    objective (>= 0, so that no fidelity looks better than the final one), and `cost`
    to the seconds one epoch takes; `constraints` (name -> function of the vector), if
    any, are outcome constraints reported with the same value at every fidelity (a
    report is feasible when each is <= 0). Deterministic: one seed, 0.

    Example:
        >>> bb = hartmann6_curves()
        >>> bb.evaluate(dict(zip(bb.space, HARTMANN6_ARGMIN)), fidelity=81)["loss"]
    """

    def __init__(
        self,
        *,
        task: str,
        dims: int,
        objectives: dict[str, str],
        f: Any,
        offset: Any,
        cost: Any,
        optimum: dict[str, float],
        max_fidelity: int = 81,
        constraints: dict[str, Any] | None = None,
    ) -> None:
        if max_fidelity < 2:
            raise ValueError(f"max_fidelity must be >= 2, got {max_fidelity}")
        self.name, self.task = "synthetic", task
        self.space = Space({f"x{i}": uniform(0.0, 1.0) for i in range(dims)})
        self.objectives = dict(objectives)
        self.fidelity_name = "epoch"
        self.fidelities = list(range(1, max_fidelity + 1))
        self.seeds = [0]
        self.source = "closed form"
        self.optimum = dict(optimum)
        self._f, self._offset, self._cost = f, offset, cost
        self._constraints = dict(constraints or {})
        self.constraints = tuple(self._constraints)
        self._names = [f"x{i}" for i in range(dims)]
        r = np.asarray(self.fidelities, dtype=float)
        self._shape = ((max_fidelity - r) / (max_fidelity - 1)) ** 2
        self._r = r

    def curve(self, config: dict[str, Any], seed: int = 0) -> Curve:
        if seed != 0:
            raise ValueError(f"synthetic/{self.task} has only seed 0, got {seed!r}")
        x = np.array([float(config[n]) for n in self._names])
        finals, offsets = self._f(x), self._offset(x)
        metrics = {
            name: (final + off * self._shape).tolist()
            for name, final, off in zip(self.objectives, finals, offsets, strict=True)
        }
        for name, c in self._constraints.items():
            metrics[name] = [float(c(x))] * len(self.fidelities)
        return Curve(self.fidelities, (self._r * self._cost(x)).tolist(), metrics)


def hartmann3_curves(max_fidelity: int = 81) -> CurveFunction:
    """Hartmann-3 with learning curves; optimum -3.86278. Offset 0.5 + 0.5 * x2 (larger
    near the optimum, so early rankings are an imperfect guide), epoch cost 1 + 3 * x0 s."""
    return CurveFunction(
        task="hartmann3",
        dims=3,
        objectives={"loss": "min"},
        f=lambda x: (hartmann(x),),
        offset=lambda x: (0.5 + 0.5 * x[2],),
        cost=lambda x: 1.0 + 3.0 * x[0],
        optimum={"loss": HARTMANN3_MIN},
        max_fidelity=max_fidelity,
    )


def hartmann6_curves(max_fidelity: int = 81) -> CurveFunction:
    """Hartmann-6 with learning curves; optimum -3.32237. Offset 0.5 + 0.5 * x5 (larger
    near the optimum, so early rankings are an imperfect guide), epoch cost 1 + 3 * x0 s."""
    return CurveFunction(
        task="hartmann6",
        dims=6,
        objectives={"loss": "min"},
        f=lambda x: (hartmann(x),),
        offset=lambda x: (0.5 + 0.5 * x[5],),
        cost=lambda x: 1.0 + 3.0 * x[0],
        optimum={"loss": HARTMANN6_MIN},
        max_fidelity=max_fidelity,
    )


def zdt1_curves(max_fidelity: int = 81, dims: int = 6) -> CurveFunction:
    """ZDT1 (objectives f1, f2, both min) with learning curves; Pareto front
    f2 = 1 - sqrt(f1). Offsets 0.5 * x1 and 1 + 2 * x0 (so early on the two objectives
    trade off differently than at the end), epoch cost 1 + 3 * mean(x[1:]) s."""
    if dims < 2:
        raise ValueError(f"zdt1 needs dims >= 2, got {dims}")
    return CurveFunction(
        task="zdt1",
        dims=dims,
        objectives={"f1": "min", "f2": "min"},
        f=zdt1,
        offset=lambda x: (0.5 * x[1], 1.0 + 2.0 * x[0]),
        cost=lambda x: 1.0 + 3.0 * float(x[1:].mean()),
        optimum={"f1": 0.0, "f2": 0.0},
        max_fidelity=max_fidelity,
    )


# Gramacy et al. 2016 ("Modeling an augmented Lagrangian for blackbox constrained
# optimization", Technometrics 58(1)), the toy problem: minimize x0 + x1 on [0, 1]^2 subject
# to c1 <= 0 and c2 <= 0. Its global solution, x = (0.19512, 0.40467) with value 0.599788
# (the paper: 0.5998 at (0.1954, 0.4044)), from SLSQP started at 300 random points and a
# 4001^2 grid; the unconstrained optimum, (0, 0), is infeasible (c1 = 1.5).
GRAMACY_MIN = 0.599788052  # 0.599788052009986, rounded down: regret never negative
GRAMACY_ARGMIN = (0.1951226881417946, 0.4046653638681914)


def gramacy_c1(x: np.ndarray) -> float:
    """The first constraint of Gramacy et al.'s toy problem (feasible where <= 0)."""
    return float(1.5 - x[0] - 2.0 * x[1] - 0.5 * math.sin(2.0 * math.pi * (x[0] ** 2 - 2.0 * x[1])))


def gramacy_c2(x: np.ndarray) -> float:
    """The second constraint of Gramacy et al.'s toy problem (feasible where <= 0)."""
    return float(x[0] ** 2 + x[1] ** 2 - 1.5)


def gramacy_curves(max_fidelity: int = 81) -> CurveFunction:
    """Gramacy et al.'s constrained toy problem with learning curves: loss = x0 + x1,
    outcome constraints c1, c2 (reported at every epoch, feasible when <= 0); constrained
    optimum 0.599788. Offset 0.5 + x0, epoch cost 1 + x1 s."""
    return CurveFunction(
        task="gramacy",
        dims=2,
        objectives={"loss": "min"},
        f=lambda x: (float(x[0] + x[1]),),
        offset=lambda x: (0.5 + x[0],),
        cost=lambda x: 1.0 + float(x[1]),
        optimum={"loss": GRAMACY_MIN},
        max_fidelity=max_fidelity,
        constraints={"c1": gramacy_c1, "c2": gramacy_c2},
    )


TASKS = {
    "branin": BraninCurves,
    "hartmann3": hartmann3_curves,
    "hartmann6": hartmann6_curves,
    "zdt1": zdt1_curves,
    "gramacy": gramacy_curves,
}


def load_synthetic(task: str, max_fidelity: int = 81) -> Blackbox:
    """The synthetic blackbox `task` (one of TASKS)."""
    if task not in TASKS:
        raise ValueError(f"unknown synthetic task {task!r}; tasks: {', '.join(TASKS)}")
    return TASKS[task](max_fidelity=max_fidelity)


__all__ = [
    "BRANIN_MIN",
    "GRAMACY_ARGMIN",
    "GRAMACY_MIN",
    "HARTMANN3_ARGMIN",
    "HARTMANN3_MIN",
    "HARTMANN6_ARGMIN",
    "HARTMANN6_MIN",
    "TASKS",
    "TIME",
    "BraninCurves",
    "CurveFunction",
    "branin",
    "gramacy_c1",
    "gramacy_c2",
    "gramacy_curves",
    "hartmann",
    "load_synthetic",
    "zdt1",
    "zdt1_front",
    "zdt1_front_hypervolume",
]
