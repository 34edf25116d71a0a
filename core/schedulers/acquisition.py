"""Acquisition functions of the GP searcher (expected improvement, EI per second) and
their maximization: over random candidates of the space, or rows of a table, each
followed by a batched hill climb from the best of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import ndtr

from simtune.core.encoding import Coords
from simtune.core.schedulers.gp import GP, matern52
from simtune.core.schedulers.pool import FiniteConfigs

Score = Callable[[np.ndarray], np.ndarray]  # encoded points (rows) -> acquisition values


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

    def top(self, x: np.ndarray, k: int) -> np.ndarray:
        """The scores of the rows of `x` where they may be among the `k` best, -inf where
        they cannot: the posterior variance (the costlier half of a score) is computed
        only for the rows whose EI bound, from the mean and the variance after the
        nearest observation alone, can still beat the k-th best score found."""
        if self.fidelity is not None:
            x = np.hstack([x, np.full((len(x), 1), self.fidelity)])
        gp, m = self.gp, len(x)
        if len(gp.x) == 0 or m <= 2 * k:
            return self(x)
        kx, mean, bound = self._bounds(x)
        order = np.argsort(-bound, kind="stable")
        values = np.full(m, -np.inf)
        step = max(2 * k, m // 8)
        for start in range(0, m, step):
            idx = order[start : start + step]
            values[idx] = expected_improvement(mean[idx], gp.variance(kx[:, idx]), self.best)
            kth = np.partition(values, m - k)[m - k]
            if start + step < m and kth > 0 and kth > bound[order[start + step]]:
                return values
        if values.max() > 0:
            return values
        return self(x)  # no positive EI: the ranking by (best - mean) / std

    def _bounds(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The prior covariances of the inputs with the rows of `x` (n x m), the posterior
        means there and upper bounds of EI (slightly inflated against rounding): from the
        variance after the nearest observation alone, v - k^2 / (v + noise), which more
        data only lowers; EI grows with the variance."""
        gp = self.gp
        kx = matern52(gp.x, x, gp.hp)
        mean = kx.T @ gp.alpha
        v, s = gp.hp.variance, gp.hp.noise + gp.jitter
        cap = (v - kx.max(axis=0) ** 2 / (v + s)) * (1.0 + 1e-6) + 1e-12
        return kx, mean, expected_improvement(mean - 1e-9, cap, self.best) * (1.0 + 1e-6)


def observed_ei_bound(gp: GP, mean: np.ndarray, best: float) -> np.ndarray:
    """Upper bounds of the expected improvement (as `Acquisition` scores it, slightly
    inflated against rounding) at inputs of `gp`'s data with posterior means `mean`: there
    the posterior variance is at most that after that one observation alone,
    v s / (v + s) for the signal variance v and the noise s (more data only lowers it), and
    EI grows with the variance."""
    v, s = gp.hp.variance, gp.hp.noise + gp.jitter
    cap = max(v * s / (v + s) * (1.0 + 1e-6), 1e-12)
    return expected_improvement(mean - 1e-9, np.full(len(mean), cap), best) * (1.0 + 1e-6)


def expected_improvement(mean: np.ndarray, var: np.ndarray, best: float) -> np.ndarray:
    """E[max(best - f, 0)] for f ~ N(mean, var) (minimization)."""
    sigma = np.sqrt(np.maximum(var, 1e-24))
    z = (best - mean) / sigma
    return np.maximum(sigma * (z * ndtr(z) + np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)), 0.0)


def maximize(
    score: Score, coords: Coords, rng: np.random.Generator, n_candidates: int, n_local: int
) -> np.ndarray:
    """The encoded point of highest `score` among `n_candidates` random points and the
    hill climbs from the best `n_local` of them (8 steps of 16 mutations each, shrinking)."""
    cand = coords.sample(rng, n_candidates)
    values = score(cand)

    def mutations(xs: np.ndarray, step: int) -> np.ndarray:
        nb = coords.mutate(np.repeat(xs, 16, axis=0), rng, 0.1 * 0.7**step)
        return nb.reshape(len(xs), 16, -1)

    top = np.argsort(-values, kind="stable")[:n_local]
    xs, vs = hill_climb(cand[top], values[top], mutations, score, 8)
    i = int(np.argmax(vs))
    return xs[i] if vs[i] >= values.max() else cand[int(np.argmax(values))]


def maximize_on_table(
    score: Score,
    table: FiniteConfigs,
    rng: np.random.Generator,
    n_candidates: int,
    n_local: int,
    again: Sequence[int] = (),
    again_bound: np.ndarray | None = None,
    screen: Acquisition | None = None,
) -> int | None:
    """The row of highest `score` among `n_candidates` unused rows of `table` drawn at
    random, the hill climbs from the best `n_local` of them (each step to the best of the
    16 nearest unused rows, while that improves) and the used rows `again` (repeats);
    None if no row is unused. `again_bound` (one per row of `again`): upper bounds of
    their scores; a row whose bound is below the best positive score found is not scored
    (it cannot win). With `screen` (the Acquisition `score` is), the random candidates'
    posterior variances are computed only where they may be among the `n_local` best
    (`Acquisition.top`), a hill climb that did not move is not continued and neighbours
    are found in single precision: the same choice, up to rounding and ties, at a
    fraction of the cost."""
    x = table.encoded()
    rows = table.draw(rng, n_candidates)
    if len(rows) == 0:
        return None
    values = score(x[rows]) if screen is None else screen.top(x[rows], max(n_local, 1))
    if len(rows) < table.n_available and n_local > 0:
        k = min(16, table.n_available)
        top = np.argsort(-values, kind="stable")[:n_local]
        starts, best = hill_climb(
            rows[top].copy(), values[top].copy(),
            lambda r, step: table.nearest_unused_rows(r, k, single=screen is not None),
            lambda r: score(x[r]), 5, until_stuck=True, moving_only=screen is not None,
        )
        rows, values = np.append(rows, starts), np.append(values, best)
    again = np.asarray(again, dtype=np.int64)
    if again_bound is not None and values.max() > 0:
        again = again[np.asarray(again_bound) >= values.max()]
    if len(again):
        rows = np.append(rows, again)
        values = np.append(values, score(x[again]))
    return int(rows[int(np.argmax(values))])


def hill_climb(
    starts: np.ndarray,
    values: np.ndarray,
    neighbours: Callable[[np.ndarray, int], np.ndarray],
    score: Score,
    steps: int,
    until_stuck: bool = False,
    moving_only: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Batched hill climbing: at each of `steps` steps every start moves to the best of its
    `neighbours(starts, step)` (one row of k per start) if that scores above its value;
    with `until_stuck`, stop at the first step where none moves. With `moving_only`
    (neighbours that depend on the start alone, as a table's), a start that did not move
    is not climbed again: it would stay. Updates `starts` and `values` in place and
    returns them."""
    active = np.arange(len(starts))
    for step in range(steps):
        nb = neighbours(starts[active], step)
        n, k = nb.shape[:2]
        v = score(nb.reshape(n * k, *nb.shape[2:])).reshape(n, k)
        j = v.argmax(1)
        best = v[np.arange(n), j]
        gain = best > values[active]
        if until_stuck and not gain.any():
            break
        moved = active[gain]
        starts[moved] = nb[np.arange(n), j][gain]
        values[moved] = best[gain]
        if moving_only:
            active = moved
    return starts, values
