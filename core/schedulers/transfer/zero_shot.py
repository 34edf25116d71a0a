"""ZeroShot: a greedy portfolio of the source tasks' configurations (Wistuba et al. 2015,
"Sequential model-free hyperparameter tuning"), then random search."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from simtune.core.schedulers.base import check_count, check_mode, mode_sign
from simtune.core.schedulers.pool import CandidatePool
from simtune.core.schedulers.random import RandomSearcher
from simtune.core.schedulers.searcher import Searcher
from simtune.core.schedulers.transfer.data import TransferData, score_matrix, source_data
from simtune.core.space import Space


class ZeroShotSearcher(Searcher):
    """Suggests the source configurations in greedy-portfolio order: each next one is the
    configuration that most lowers the sum over source tasks of the best quantile reached
    so far (the first: the best mean quantile); once no configuration lowers it (every task
    has its best), the greedy starts again over those left. It never learns from the
    tuned task. After `portfolio_size` configurations (None: all the sources hold that
    the space or table has), it continues with random search, as Syne Tune's does.

    Example:
        >>> ZeroShotSearcher(space, metric="loss", mode="min", rng=rng,
        ...                  sources=["outputs/earlier"]).suggest()  # doctest: +SKIP
    """

    name = "zero_shot"

    def __init__(
        self,
        space: Space,
        *,
        metric: str,
        mode: str,
        rng: np.random.Generator,
        candidates: Sequence[dict[str, Any]] | None = None,
        transfer: TransferData | None = None,
        sources: Any = None,
        portfolio_size: int | None = None,
    ) -> None:
        self.space, self.mode, self.rng = space, check_mode(mode), rng
        self.sources = sources
        self.portfolio_size = check_count(self.name, "portfolio_size", portfolio_size,
                                          optional=True)
        self.data = source_data(self.name, transfer, sources, metric, space)
        configs, scores = score_matrix(self.data, space, mode_sign(mode))
        self._pool = CandidatePool(space, candidates)
        keep = [i for i, c in enumerate(configs) if self._pool.is_new(c)]  # in the table
        self._configs = [configs[i] for i in keep]
        self._scores = scores[keep]
        self._left = np.ones(len(keep), dtype=bool)
        self._best = np.full(scores.shape[1], np.inf)  # per task: the best quantile so far
        self._n_portfolio = 0
        self._random = RandomSearcher(space, rng=rng, candidates=candidates)

    def derived(self) -> dict[str, Any]:
        return {"source_tasks": self.data.sizes(), "source_configs": len(self._configs)}

    def suggest(self) -> dict[str, Any] | None:
        limit = self.portfolio_size or len(self._configs)
        while self._n_portfolio < limit:
            i = self._next()
            if i is None:
                break
            config = self._configs[i]
            if self._pool.is_new(config):  # not started already (points_to_evaluate)
                self._n_portfolio += 1
                self._pool.mark(config)
                self._random.on_start(-1, config)  # random search never draws it again
                return dict(config)
        return self._random.suggest()

    def on_start(self, trial_id: int, config: dict[str, Any]) -> None:
        self._pool.mark(config)
        self._random.on_start(trial_id, config)

    def _next(self) -> int | None:
        """The next configuration of the portfolio (marked taken), None when none is left."""
        left = np.flatnonzero(self._left)
        if not len(left):
            return None
        gain = greedy_objective(self._scores[left], self._best)
        if np.isfinite(self._best).all() and gain.min() >= self._best.sum():  # none improves
            self._best[:] = np.inf
            gain = greedy_objective(self._scores[left], self._best)
        i = int(left[int(np.argmin(gain))])  # ties: the first
        self._left[i] = False
        self._best = np.minimum(self._best, self._scores[i])
        return i


def greedy_objective(scores: np.ndarray, best: np.ndarray) -> np.ndarray:
    """For each configuration (row of `scores`, quantiles per task), the sum over tasks of
    the best quantile the portfolio would reach with it added (`best`: reached so far)."""
    return np.minimum(scores, best).sum(axis=1)
