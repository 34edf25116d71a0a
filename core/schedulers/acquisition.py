"""Acquisition functions of the GP searcher (expected improvement, EI per second) and
their maximization: over random candidates of the space, or rows of a table, each
followed by a batched hill climb from the best of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import ndtr

from simtune.core.encoding import Coords
from simtune.core.schedulers.gp import GP
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
) -> int | None:
    """The row of highest `score` among `n_candidates` unused rows of `table` drawn at
    random, the hill climbs from the best `n_local` of them (each step to the best of the
    16 nearest unused rows, while that improves) and the used rows `again` (repeats);
    None if no row is unused."""
    x = table.encoded()
    rows = table.draw(rng, n_candidates)
    if len(rows) == 0:
        return None
    values = score(x[rows])
    if len(rows) < table.n_available and n_local > 0:
        k = min(16, table.n_available)
        top = np.argsort(-values, kind="stable")[:n_local]
        starts, best = hill_climb(
            rows[top].copy(), values[top].copy(), lambda r, step: table.nearest_unused_rows(r, k),
            lambda r: score(x[r]), 5, until_stuck=True,
        )
        rows, values = np.append(rows, starts), np.append(values, best)
    if len(again):
        rows = np.append(rows, again)
        values = np.append(values, score(x[np.asarray(again)]))
    return int(rows[int(np.argmax(values))])


def hill_climb(
    starts: np.ndarray,
    values: np.ndarray,
    neighbours: Callable[[np.ndarray, int], np.ndarray],
    score: Score,
    steps: int,
    until_stuck: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Batched hill climbing: at each of `steps` steps every start moves to the best of its
    `neighbours(starts, step)` (one row of k per start) if that scores above its value;
    with `until_stuck`, stop at the first step where none moves. Updates `starts` and
    `values` in place and returns them."""
    for step in range(steps):
        nb = neighbours(starts, step)
        n, k = nb.shape[:2]
        v = score(nb.reshape(n * k, *nb.shape[2:])).reshape(n, k)
        j = v.argmax(1)
        best = v[np.arange(n), j]
        gain = best > values
        if until_stuck and not gain.any():
            break
        starts[gain] = nb[np.arange(n), j][gain]
        values[gain] = best[gain]
    return starts, values
