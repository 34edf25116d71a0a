"""Multi-objective Bayesian optimization by expected hypervolume improvement (EHVI;
Emmerich et al., 2006), computed exactly over a box decomposition of the region the
observed Pareto front does not dominate (Yang et al., 2019), one GP per objective."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import ndtr

from simtune.core.encoding import Coords, decode, encode
from simtune.core.schedulers.acquisition import maximize, maximize_on_table
from simtune.core.schedulers.base import check_count, check_range
from simtune.core.schedulers.fifo import MultiObjectiveFIFO
from simtune.core.schedulers.gp import GP, Hyperparameters, fit_hyperparameters
from simtune.core.schedulers.gp_data import standardize
from simtune.core.schedulers.pareto import nondominated_sort, rank_order
from simtune.core.schedulers.searcher import ModelSearcher, nan_as_worst
from simtune.core.space import Space

_SQRT_2PI = np.sqrt(2.0 * np.pi)


class EHVISearcher(ModelSearcher):
    """EHVI on objective vectors (to minimize, as `pareto.to_min` gives them).

    The first `n_init` configurations are an `initial_design` (random, sobol, lhs). Then
    each suggestion fits one GP per objective (Matérn-5/2, one lengthscale per
    hyperparameter, core/schedulers/gp.py) on the standardized values at the highest
    fidelity each trial reported (a missing value counts as the objective's worst), and
    maximizes the expected hypervolume improvement over `n_candidates` random candidates
    and a local search around the best `n_local` (on a table: its unused rows). With
    independent GPs the EHVI is exact: the sum over the boxes of the non-dominated region
    of the product over objectives of a one-dimensional Gaussian expectation.

    Reference point: the worst standardized value of each objective among all the
    observations (`ref_point="observations"`, as Optuna's BoTorch sampler) or on their
    Pareto front only (`"front"`, BoTorch's `infer_reference_point`), plus `ref_margin`
    times the range of those values, at least `ref_margin` standard deviations (a front
    of one point has no range). Syne Tune's EHVI fixes it at 2 in every objective. The
    front's worst point hides the front's far ends: on a 2-d ZDT1-like function it left
    f1 > 0.6 unexplored for 25 trials (tests/test_ehvi.py, docs/search_quality.md).

    Pending trials are fantasized (kriging believer, as `bo`): their posterior means join
    each GP as observations, which shrinks the variance around them, and the front, so a
    second worker is sent elsewhere. Hyperparameters are refit at every suggestion, with
    `n_restarts` random restarts each time the data has doubled and a warm start from the
    last fit otherwise, on at most `max_fit_points` observations (the best half by Pareto
    rank and a random half).

    Example:
        >>> s = EHVISearcher(space, mode="min", rng=np.random.default_rng(0))
        >>> config = s.suggest(); s.on_start(0, config)
        >>> s.observe(0, 9, np.array([0.3, 1.2])); s.on_end(0)
    """

    name = "ehvi"

    def __init__(
        self,
        space: Space,
        *,
        mode: str,
        rng: np.random.Generator,
        candidates: Sequence[dict[str, Any]] | None = None,
        n_init: int = 5,
        n_candidates: int = 500,
        n_local: int = 3,
        max_fit_points: int = 100,
        n_restarts: int = 2,
        ref_margin: float = 0.1,
        ref_point: str = "observations",
        warp_outputs: bool | None = None,
        initial_design: str = "random",
    ) -> None:
        n_init, n_candidates, max_fit_points = (
            check_count(self.name, arg, value)
            for arg, value in [("n_init", n_init), ("n_candidates", n_candidates),
                               ("max_fit_points", max_fit_points)]
        )
        super().__init__(space, mode=mode, rng=rng, candidates=candidates, n_startup=n_init,
                         initial_design=initial_design, max_repeats=0)
        self.n_init, self.n_candidates, self.n_local = n_init, n_candidates, n_local
        self.max_fit_points, self.n_restarts = max_fit_points, n_restarts
        self.ref_margin = check_range(self.name, "ref_margin", ref_margin, 0, 10, "high")
        self.warp_outputs = warp_outputs
        if ref_point not in ("observations", "front"):
            raise ValueError(
                f"{self.name}: ref_point must be 'observations' or 'front', got {ref_point!r}")
        self.ref_point = ref_point
        self._coords = Coords(space)
        self._groups = np.concatenate(
            [np.full(w, b) for b, (_, w, _) in enumerate(self._coords.blocks)]
        ).astype(np.int64)
        self._y: dict[int, tuple[int, np.ndarray]] = {}  # trial -> (fidelity, vector)
        self._pending: dict[int, np.ndarray] = {}  # started, nothing reported yet
        self._hp: list[Hyperparameters | None] = []
        self._n_at_restart = 0

    # --- the model (ModelSearcher does the rest) -------------------------------------
    def encode(self, config: dict[str, Any]) -> np.ndarray:
        return encode(self.space, config)

    def in_startup(self) -> bool:
        return self.n_suggested + self.n_inherited <= self.n_init or len(self._y) < 2

    def on_start(self, trial_id: int, config: dict[str, Any]) -> None:
        super().on_start(trial_id, config)
        if trial_id not in self._y:
            self._pending[trial_id] = self.x_of[trial_id]

    def observe(self, trial_id: int, fidelity: int, value: Any) -> None:
        """Trial `trial_id`'s objective vector (to minimize) at `fidelity`."""
        self.check_started(trial_id, self.x_of)
        self.add(trial_id, int(fidelity), np.atleast_1d(np.asarray(value, dtype=float)))

    def observe_constraints(self, trial_id: int, fidelity: int, value: float,
                            constraints: dict[str, float]) -> None:
        """Not modelled: an infeasible report reaches `observe` as a missing (worst) value."""

    def add(self, trial_id: int, fidelity: int, y: Any) -> None:
        self._pending.pop(trial_id, None)
        if trial_id in self._y and fidelity < self._y[trial_id][0]:
            return
        self._y[trial_id] = (fidelity, np.where(np.isnan(y), np.inf, y))

    def on_end(self, trial_id: int) -> None:
        self._pending.pop(trial_id, None)

    def propose(self) -> dict[str, Any] | None:
        """The maximizer of EHVI, pending trials fantasized at their posterior means."""
        gps, ys = self._fit()
        front = ys[nondominated_sort(ys)[0]]
        ref = reference_point(ys if self.ref_point == "observations" else front, self.ref_margin)
        if self._pending:
            x_p = np.asarray([self._pending[t] for t in sorted(self._pending)])
            means = []
            for j, gp in enumerate(gps):
                mean = gp.predict(x_p)[0]
                gps[j] = gp.extend(x_p, mean)
                means.append(mean)
            front = np.vstack([front, np.column_stack(means)])
        lower, upper = nondominated_cells(front, ref)

        def score(x: np.ndarray) -> np.ndarray:
            moments = [gp.predict(x) for gp in gps]
            mean = np.column_stack([m for m, _ in moments])
            sd = np.sqrt(np.column_stack([v for _, v in moments]))
            value = expected_hvi(mean, sd, lower, upper)
            if value.max() > 0:
                return value
            return closeness(mean, sd, upper) - 1e6  # EHVI underflows: below any positive

        if self.finite is not None:
            row = maximize_on_table(score, self.finite, self.rng, self.n_candidates,
                                    self.n_local)
            return None if row is None else self.finite.config(row)
        config = decode(self.space, maximize(score, self._coords, self.rng,
                                             self.n_candidates, self.n_local))
        return config if self.pool.is_new(config) else self.pool.random(self.rng)

    def _fit(self) -> tuple[list[GP], np.ndarray]:
        """One GP per objective on the standardized observations, and those."""
        trials = sorted(self._y)
        x = np.asarray([self.x_of[t] for t in trials])
        raw = np.vstack([self._y[t][1] for t in trials])
        ys = np.column_stack([
            standardize(col, float(np.median(col)), float(col.std()) or 1.0,
                        self.warp_outputs, self.finite is not None)
            for col in (nan_as_worst(c) for c in raw.T)
        ])
        order = rank_order(ys)
        fit = np.sort(order) if len(order) <= self.max_fit_points else np.sort(np.concatenate([
            order[: self.max_fit_points // 2],
            self.rng.choice(order[self.max_fit_points // 2:],
                            self.max_fit_points - self.max_fit_points // 2, replace=False),
        ]))
        full = not self._hp or len(trials) >= 2 * self._n_at_restart
        if full:
            self._n_at_restart = len(trials)
        if len(self._hp) != ys.shape[1]:
            self._hp = [None] * ys.shape[1]
        gps = []
        for j in range(ys.shape[1]):
            self._hp[j] = fit_hyperparameters(
                x[fit], ys[fit, j], self.rng, init=self._hp[j],
                n_restarts=self.n_restarts if full else 0, max_iter=100 if full else 30,
                groups=self._groups,
            )
            gps.append(GP(x, ys[:, j], self._hp[j]))
        return gps, ys


class EHVI(MultiObjectiveFIFO):
    """Expected hypervolume improvement (`ehvi`): FIFO scheduling around an EHVISearcher,
    fed the objective vectors of `objectives` (name -> mode) that `metrics` selects
    (default: all but test_*).

    Example:
        >>> EHVI(searcher=EHVISearcher(space, mode="min", rng=np.random.default_rng(0)),
        ...      objectives={"f1": "min", "f2": "min"})
    """

    name = "ehvi"


def reference_point(front: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """The worst value of each objective on `front` (n, m; to minimize) plus `margin`
    times the front's range in it, or times 1 (a standard deviation of standardized
    values) where the range is smaller."""
    front = np.asarray(front, dtype=float)
    nadir, ideal = front.max(axis=0), front.min(axis=0)
    return nadir + margin * np.maximum(nadir - ideal, 1.0)


def nondominated_cells(front: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint boxes (lower, upper), each (c, m), whose union is the part of the region
    below `ref` that no point of `front` (n, m; to minimize) weakly dominates.

    A grid over the first m - 1 objectives, cut at the front's values (the first cell of
    each from -inf); over each of its cells, the last objective from -inf up to the least
    value among the points that dominate the cell's lower corner (or `ref`): (n + 1)^(m-1)
    boxes at most, n + 1 for two objectives. Points not below `ref` in every objective
    are left out: they dominate nothing there.
    """
    ref = np.asarray(ref, dtype=float)
    m = len(ref)
    front = np.asarray(front, dtype=float).reshape(-1, m)
    front = front[np.all(front < ref, axis=1)]
    edges = [np.concatenate([[-np.inf], np.unique(front[:, j]), [ref[j]]]) for j in range(m - 1)]
    index = np.meshgrid(*[np.arange(len(e) - 1) for e in edges], indexing="ij")
    lo = np.column_stack([e[i.ravel()] for e, i in zip(edges, index, strict=True)]
                         ) if m > 1 else np.empty((1, 0))
    hi = np.column_stack([e[i.ravel() + 1] for e, i in zip(edges, index, strict=True)]
                         ) if m > 1 else np.empty((1, 0))
    dominating = np.all(front[None, :, : m - 1] <= lo[:, None, :], axis=2)  # (c, n)
    top = np.where(dominating, front[None, :, m - 1], np.inf).min(axis=1, initial=np.inf)
    top = np.minimum(top, ref[m - 1])
    lower = np.column_stack([lo, np.full(len(lo), -np.inf)])
    upper = np.column_stack([hi, top])
    return lower, upper


def expected_hvi(mean: np.ndarray, sd: np.ndarray, lower: np.ndarray,
                 upper: np.ndarray) -> np.ndarray:
    """The expected hypervolume improvement of each of n points whose objectives (to
    minimize) are independent Gaussians (`mean`, `sd`: n x m) over a front whose
    non-dominated region is the boxes `lower`, `upper` (c x m, `nondominated_cells`).

    A point y improves box k by the volume of [max(lower_k, y), upper_k], a product over
    objectives, so its expectation is the product of one-dimensional ones.
    """
    out = np.ones((len(mean), len(lower)))
    for j in range(mean.shape[1]):
        out *= _psi(lower[:, j], upper[:, j], mean[:, j : j + 1], sd[:, j : j + 1])
    return out.sum(axis=1)


def _psi(lo: np.ndarray, hi: np.ndarray, mu: np.ndarray, s: np.ndarray) -> np.ndarray:
    """E[max(0, hi - max(lo, Y))] for Y ~ N(mu, s^2): (n, c) from lo, hi (c,), mu, s (n, 1)."""
    s = np.maximum(s, 1e-12)
    a, b = (lo - mu) / s, (hi - mu) / s
    cdf_a, cdf_b = ndtr(a), ndtr(b)
    pdf_a, pdf_b = np.exp(-0.5 * a * a) / _SQRT_2PI, np.exp(-0.5 * b * b) / _SQRT_2PI
    inside = (hi - mu) * (cdf_b - cdf_a) + s * (pdf_b - pdf_a)  # lo < Y < hi
    finite = np.isfinite(lo)
    below = np.where(finite, hi - np.where(finite, lo, 0.0), 0.0) * cdf_a  # Y <= lo
    return np.maximum(inside + below, 0.0)


def closeness(mean: np.ndarray, sd: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """For ranking where EHVI underflows: the largest, over boxes, of the least number of
    standard deviations by which each objective's mean lies below the box's upper end."""
    z = (upper[None, :, :] - mean[:, None, :]) / np.maximum(sd, 1e-12)[:, None, :]
    return z.min(axis=2).max(axis=1)
