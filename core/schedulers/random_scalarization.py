"""Random scalarization (ParEGO-style, Knowles 2006; Paria et al., 2019) on top of any
single-objective searcher."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from simtune.core.schedulers.base import Scheduler
from simtune.core.schedulers.pareto import MultiObjective, normalize, to_min
from simtune.core.schedulers.pool import CandidatePool
from simtune.core.schedulers.random import RandomSearcher
from simtune.core.schedulers.searcher import Searcher
from simtune.core.space import Space
from simtune.core.trial import Decision, Report, Start, Suggestion, Trial


class RandomScalarization(MultiObjective, Scheduler):
    """Each suggestion draws weights w ~ Dirichlet(1, ..., 1) and asks a single-objective
    searcher, fitted afresh on the augmented Chebyshev scalarization
    s = max_i w_i z_i + rho * sum_i w_i z_i of the finished trials' objectives z, each
    normalized to [0, 1] over the trials seen so far (all "lower is better"). Over many
    suggestions the weights sweep the Pareto front. Trials run to their maximum fidelity.
    The first `n_initial` configurations are random.

    `searcher` builds that searcher afresh from a generator, for the scalarized value
    (mode "min"): core.schedulers.create gives a SearcherFactory of the searcher its
    config names (tpe by default) with `searcher_args`.

    Example:
        >>> new = SearcherFactory("tpe", {"space": space, "mode": "min"}, {})
        >>> RandomScalarization(searcher=new, space=space,
        ...                     objectives={"f1": "min", "f2": "min"},
        ...                     rng=np.random.default_rng(0))
    """

    name = "random_scalarization"
    multi_fidelity = False  # trials run to the end

    def __init__(
        self,
        *,
        searcher: Callable[[np.random.Generator], Searcher],
        space: Space,
        objectives: Mapping[str, str],
        rng: np.random.Generator,
        metrics: Sequence[str] | None = None,
        n_initial: int = 5,
        rho: float = 0.05,
        candidates: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        self.metric, self.mode = self.choose_objectives(objectives, metrics)
        if isinstance(n_initial, bool) or not int(n_initial) >= 1:
            raise ValueError(f"random_scalarization: n_initial must be >= 1, got {n_initial!r}")
        if not rho >= 0:
            raise ValueError(f"random_scalarization: rho must be >= 0, got {rho!r}")
        self.searcher = searcher
        self.n_initial = n_initial
        self.rho = rho
        self.space = space
        self.rng = rng
        self.candidates = list(candidates) if candidates is not None else None
        self._random = RandomSearcher(space, rng=rng, candidates=self.candidates)
        self._pool = CandidatePool(space, self.candidates)  # never suggest a config twice
        self._pending: dict[int, dict[str, Any]] = {}
        self._done: dict[int, tuple[dict[str, Any], int, np.ndarray]] = {}

    def suggest(self, trial_id: int) -> Suggestion | None:
        config = None
        if len(self._done) >= self.n_initial:
            inner = self._fit(self.rng.dirichlet(np.ones(len(self.objectives))))
            for _ in range(8):
                proposal = inner.suggest()
                if proposal is None or self._pool.is_new(proposal):
                    config = proposal
                    break
        if config is None:
            config = self._random_unseen()
        if config is None:
            return None
        self._pool.mark(config)
        return Start(config)

    def on_start(self, trial: Trial) -> None:
        self._pending[trial.trial_id] = trial.config
        self._pool.mark(trial.config)

    def on_report(self, trial: Trial, report: Report) -> Decision:
        if report.last:
            point = to_min([report.metrics], self.objectives)[0]
            self._done[trial.trial_id] = (trial.config, report.fidelity, point)
        return Decision.CONTINUE

    def on_complete(self, trial: Trial, report: Report) -> None:
        self._pending.pop(trial.trial_id, None)

    def on_error(self, trial: Trial) -> None:
        self._pending.pop(trial.trial_id, None)

    def _fit(self, weights: np.ndarray) -> Searcher:
        """A fresh searcher that has seen every finished trial's scalarized value."""
        inner = self.searcher(self.rng)
        ids = list(self._done)
        values = scalarize(normalize(np.vstack([self._done[i][2] for i in ids])), weights, self.rho)
        for trial_id, value in zip(ids, values.tolist(), strict=True):
            config, fidelity, _ = self._done[trial_id]
            inner.on_start(trial_id, config)
            if np.isfinite(value):
                inner.observe(trial_id, fidelity, value)
            inner.on_end(trial_id)
        for trial_id, config in self._pending.items():
            inner.on_start(trial_id, config)
        return inner

    def _random_unseen(self) -> dict[str, Any] | None:
        for _ in range(64):
            config = self._random.suggest()
            if config is None or self._pool.is_new(config):
                return config
        return None


def scalarize(z: np.ndarray, weights: np.ndarray, rho: float = 0.05) -> np.ndarray:
    """Augmented Chebyshev scalarization of the rows of `z` (n, m), lower is better:
    max_i w_i z_i + rho * sum_i w_i z_i. A row with a missing (+inf) value gets +inf."""
    wz = np.asarray(z, dtype=float) * np.asarray(weights, dtype=float)
    return wz.max(axis=1) + rho * wz.sum(axis=1)

