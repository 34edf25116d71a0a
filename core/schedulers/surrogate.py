"""What the scikit-learn surrogate searchers (BORE, CQR) share: their observations per
fidelity, the fidelity their model is fitted on, and the proposal over the candidate pool.

A subclass implements only `fit(x, y)`: a score to maximize over encoded configurations
(None when the data say nothing, e.g. all values equal). The model is refit on the
highest fidelity with at least `min_points` observations, as Syne Tune's multi-fidelity
BORE and BOHB's TPE do: under FIFO scheduling that is the trials' final values, under
ASHA the highest rung with enough data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from simtune.core.encoding import Coords, decode, encode
from simtune.core.schedulers.acquisition import maximize, maximize_on_table
from simtune.core.schedulers.base import check_count
from simtune.core.schedulers.searcher import ModelSearcher, nan_as_worst
from simtune.core.space import Space

Score = Callable[[np.ndarray], np.ndarray]  # encoded configurations -> values to maximize


class SurrogateSearcher(ModelSearcher):
    """A ModelSearcher whose model is fitted on the observations at one fidelity, then
    maximized over `n_candidates` unused configurations (rows of the table, or random
    points of the space) and, with `n_local` > 0, hill climbs from the best of them
    (core/schedulers/acquisition.py); the model is refit once `refit_every` new
    observations came in (Syne Tune's update_frequency). Until some fidelity has
    `min_points` observations, suggestions follow the `initial_design`. A failed trial's
    missing value counts as the worst observed (with outcome constraints, so does an
    infeasible one).
    """

    def __init__(
        self,
        space: Space,
        *,
        mode: str,
        rng: np.random.Generator,
        candidates: Sequence[dict[str, Any]] | None,
        min_points: int,
        n_candidates: int,
        n_local: int,
        refit_every: int,
        initial_design: str,
    ) -> None:
        self.min_points = check_count(self.name, "min_points", min_points)
        self.refit_every = check_count(self.name, "refit_every", refit_every)
        self.n_candidates = check_count(self.name, "n_candidates", n_candidates)
        if isinstance(n_local, bool) or not isinstance(n_local, int) or n_local < 0:
            raise ValueError(f"{self.name}: n_local must be an integer >= 0, got {n_local!r}")
        self.n_local = n_local
        super().__init__(
            space, mode=mode, rng=rng, candidates=candidates, n_startup=self.min_points,
            initial_design=initial_design, max_repeats=0,
        )
        self._coords = Coords(space)
        self._obs: dict[int, dict[int, tuple[np.ndarray, float]]] = {}  # fidelity -> trial
        self._model: tuple[int, int, Score | None] | None = None  # (fidelity, n, score)

    def fit(self, x: np.ndarray, y: np.ndarray) -> Score | None:
        """The model on encoded configurations `x` and their values `y` (to minimize, all
        finite): a score whose maximum is the next configuration; None if it has none."""
        raise NotImplementedError

    # --- ModelSearcher -----------------------------------------------------------------
    def encode(self, config: dict[str, Any]) -> np.ndarray:
        return encode(self.space, config)

    def in_startup(self) -> bool:
        return self.model_fidelity() is None

    def add(self, trial_id: int, fidelity: int, y: float) -> None:
        self._obs.setdefault(fidelity, {})[trial_id] = (self.x_of[trial_id], y)

    def propose(self) -> dict[str, Any] | None:
        score = self._score()
        if score is None:
            return self.pool.random(self.rng)
        if self.finite is not None:
            row = maximize_on_table(score, self.finite, self.rng, self.n_candidates, self.n_local)
            return None if row is None else self.finite.config(row)
        if self.n_local:
            best = maximize(score, self._coords, self.rng, self.n_candidates, self.n_local)
        else:
            cand = self._coords.sample(self.rng, self.n_candidates)
            best = cand[int(np.argmax(score(cand)))]
        config = decode(self.space, best)
        return config if self.pool.is_new(config) else self.pool.random(self.rng)

    def _score(self) -> Score | None:
        """The model's score: refit when the model's fidelity changed or it has
        `refit_every` new observations since the last fit."""
        fidelity = self.model_fidelity()
        n = len(self._obs[fidelity])
        if (self._model is None or self._model[0] != fidelity
                or n - self._model[1] >= self.refit_every):
            self._model = (fidelity, n, self.fit(*self.data(fidelity)))
        return self._model[2]

    # --- the data ----------------------------------------------------------------------
    def model_fidelity(self) -> int | None:
        """The highest fidelity with at least `min_points` observations (None: none yet)."""
        enough = [f for f, rows in self._obs.items() if len(rows) >= self.min_points]
        return max(enough) if enough else None

    def data(self, fidelity: int) -> tuple[np.ndarray, np.ndarray]:
        """The encoded configurations and values (to minimize; a missing one as the worst
        observed) of the trials observed at `fidelity`, in the order first observed."""
        rows = list(self._obs[fidelity].values())
        return np.array([x for x, _ in rows]), nan_as_worst([y for _, y in rows])

    def sklearn_seed(self) -> int:
        """A seed for a scikit-learn estimator, drawn from the searcher's Generator."""
        return int(self.rng.integers(2**31 - 1))
