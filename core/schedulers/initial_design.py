"""Initial designs: the configurations a model-based searcher suggests before its model.

`random` draws each one uniformly from the candidate pool (what the searchers did before
this option existed; same calls on the Generator, so the same traces). `sobol` and `lhs`
take the first n points of a scrambled Sobol' sequence or a Latin hypercube of n points
(scipy.stats.qmc, seeded from the searcher's Generator), one unit coordinate per
hyperparameter, mapped through the inverse of the domain's own sampling distribution (a
categorical's u picks category floor(u * c), a log interval's u is uniform on its log
scale, ...), so a design has the same marginals as random draws, only spread evenly. On a
finite pool (a table) a point that is not an unused row is snapped to the nearest unused
row of the encoding (`CandidatePool.nearest_unused`). On a conditional space a design
point's coordinates of inactive hyperparameters are dropped (`Space.prune`); a forbidden
point is treated as a used one (the nearest unused row, or a random draw).

Sobol' with n not a power of two (bo's n_init = 5): the design is the first n points of
the sequence (scipy draws 2^k >= n of them; the others wait, unused, in case the initial
phase runs longer). Its first 2^j points, for every 2^j <= n, form a balanced net, so the
leading part keeps Sobol's guarantees; rounding n up instead would silently change the
number of initial points, i.e. the searcher. Points beyond n (parallel workers before the model
has data, BOHB's first bracket) continue the Sobol' sequence; a Latin hypercube has
exactly n points, so points beyond n start a new one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simtune.core.domains import Categorical, Domain, Interval
from simtune.core.encoding import encode
from simtune.core.schedulers.pool import CandidatePool
from simtune.core.space import Space

INITIAL_DESIGNS = ("random", "sobol", "lhs")


class InitialDesign:
    """The configurations of a searcher's initial phase, one per `draw` (not marked used).

    Raises a ValueError naming `owner` when `kind` is not one of INITIAL_DESIGNS.

    Example:
        >>> design = InitialDesign("sobol", space, CandidatePool(space), n=5, owner="bo")
        >>> config = design.draw(np.random.default_rng(0))
    """

    def __init__(self, kind: str, space: Space, pool: CandidatePool, n: int, owner: str) -> None:
        if kind not in INITIAL_DESIGNS:
            raise ValueError(
                f"{owner}: initial_design must be one of {', '.join(INITIAL_DESIGNS)}, got {kind!r}"
            )
        self.kind, self.space, self.pool, self.n = kind, space, pool, max(int(n), 1)
        self._domains = list(space.tunable.values())
        self._points = np.empty((0, len(self._domains)))  # unit points drawn, in order
        self._next = 0
        self._sobol: Any = None  # the scipy Sobol' engine, once drawn from

    def draw(self, rng: np.random.Generator) -> dict[str, Any] | None:
        """The next configuration of the design (None if the pool has none left)."""
        if self.kind == "random" or not self._domains:
            return self.pool.random(rng)
        if self._next == len(self._points):
            self._points, self._next = self._more(rng), 0
        config = from_quantiles(self.space, self._points[self._next])
        self._next += 1
        if self.pool.is_new(config) and not self.space.is_forbidden(config):
            return config
        if self.pool.finite is not None:
            return self.pool.nearest_unused(encode(self.space, config))
        return self.pool.random(rng)  # seen before (a big finite space) or forbidden

    def _more(self, rng: np.random.Generator) -> np.ndarray:
        """The next unit points: the Sobol' sequence up to the next power of two >= n,
        then doubling it; or a new Latin hypercube of n points."""
        from scipy.stats import qmc  # `seed=` (not `rng=`): scipy >= 1.10 takes it

        d = len(self._domains)
        if self.kind == "lhs":
            return qmc.LatinHypercube(d, seed=rng).random(self.n)
        if self._sobol is None:
            self._sobol = qmc.Sobol(d, scramble=True, seed=rng)
            return self._sobol.random_base2(math.ceil(math.log2(self.n)))
        return self._sobol.random_base2(int(math.log2(self._sobol.num_generated)))


def from_quantiles(space: Space, u: np.ndarray) -> dict[str, Any]:
    """The configuration at `u` (one coordinate in [0, 1) per tunable hyperparameter):
    each coordinate through the inverse of its domain's sampling distribution (the
    coordinates of hyperparameters it leaves inactive are ignored)."""
    tunable = space.tunable.items()
    values = {name: _value(dom, float(x)) for (name, dom), x in zip(tunable, u, strict=True)}
    return space.prune({k: values[k] if k in values else space.constants[k] for k in space})


def _value(dom: Domain, u: float) -> Any:
    u = min(max(u, 0.0), 1.0)
    if isinstance(dom, Categorical):  # choice, ordinal, finrange: equal mass per value
        return dom.categories[min(int(u * len(dom.categories)), len(dom.categories) - 1)]
    if not isinstance(dom, Interval):
        raise TypeError(f"initial design: unsupported domain {dom!r}")
    if dom.integer and not dom.log:  # randint: equal mass per integer
        return dom.low + min(int(u * (dom.high - dom.low + 1)), dom.high - dom.low)
    if dom.integer:  # lograndint: uniform in log space over [low - 0.5, high + 0.5], rounded
        lo = math.log(dom.low - 0.5 if dom.low > 0.5 else dom.low)
        hi = math.log(dom.high + 0.5)
        return int(min(max(round(math.exp(lo + u * (hi - lo))), dom.low), dom.high))
    return float(min(max(dom.from_unit(u), dom.low), dom.high))
