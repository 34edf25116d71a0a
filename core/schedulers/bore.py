"""BORE: Bayesian optimization by density-ratio estimation (Tiao et al., ICML 2021).

EI is, up to a monotone map, the ratio of the densities of good and bad configurations,
and that ratio is a classifier's odds: BORE labels the best `gamma` fraction of the
observations "good", fits a probabilistic classifier, and suggests the configuration of
highest predicted probability of being good. The BoreSearcher plugs into FIFO (`bore`)
and ASHA (`asha_bore`, fitted on the highest rung with enough data, as Syne Tune's
MultiFidelityBore).

The classifier is scikit-learn's GradientBoostingClassifier (Syne Tune's default is
XGBoost, the same model family): trees need no scaling of the one-hot/[0,1] encoding,
handle categorical and conditional (imputed) columns by splits, fit in tens of ms on a
few hundred points, and are deterministic given their seed. An MLP (the paper's other
choice) is smooth, which the local search would like, but costs more per fit and its
result depends on an iterative optimizer's convergence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from simtune.core.schedulers.base import check_count, check_range
from simtune.core.schedulers.surrogate import Score, SurrogateSearcher
from simtune.core.space import Space


class BoreSearcher(SurrogateSearcher):
    """BORE with gradient-boosted trees: P(good | x) maximized over the candidate pool.

    `gamma`: the fraction of observations labelled good (those below the gamma-quantile;
    Syne Tune's default 0.25). The first `min_points` configurations are the
    `initial_design`; a `random_fraction` of the later ones are drawn at random
    (epsilon-greedy; 0 as in Syne Tune). `n_candidates` unused configurations are scored,
    and `n_local` hill climbs start from the best of them. If every observation is equal
    (no good class), the suggestion is random.

    Example:
        >>> s = BoreSearcher(space, mode="min", rng=np.random.default_rng(0))
        >>> config = s.suggest(); s.on_start(0, config); s.observe(0, 1, 0.3)
    """

    name = "bore"

    def __init__(
        self,
        space: Space,
        *,
        mode: str,
        rng: np.random.Generator,
        candidates: Sequence[dict[str, Any]] | None = None,
        gamma: float = 0.25,
        min_points: int = 6,
        n_candidates: int = 500,
        n_local: int = 3,
        refit_every: int = 1,
        random_fraction: float = 0.0,
        n_estimators: int = 30,
        learning_rate: float = 0.3,
        initial_design: str = "random",
    ) -> None:
        check_range(self.name, "gamma", gamma, 0, 1, closed="neither")
        check_range(self.name, "random_fraction", random_fraction, 0, 1)
        super().__init__(
            space, mode=mode, rng=rng, candidates=candidates, min_points=min_points,
            n_candidates=n_candidates, n_local=n_local, refit_every=refit_every,
            initial_design=initial_design,
        )
        self.gamma, self.random_fraction = gamma, random_fraction
        self.n_estimators = check_count(self.name, "n_estimators", n_estimators)
        self.learning_rate = check_range(self.name, "learning_rate", learning_rate, 0, 1,
                                         closed="high")

    def propose(self) -> dict[str, Any] | None:
        if self.random_fraction and self.rng.random() < self.random_fraction:
            return self.pool.random(self.rng)
        return super().propose()

    def fit(self, x: np.ndarray, y: np.ndarray) -> Score | None:
        z = good_labels(y, self.gamma)
        if z is None:
            return None
        from sklearn.ensemble import GradientBoostingClassifier

        model = GradientBoostingClassifier(n_estimators=self.n_estimators,
                                           learning_rate=self.learning_rate,
                                           random_state=self.sklearn_seed())
        model.fit(x, z)
        return lambda q: model.predict_proba(q)[:, 1]


def good_labels(y: np.ndarray, gamma: float) -> np.ndarray | None:
    """1 for the values (to minimize) below their `gamma`-quantile, else 0 (below or at
    it when ties at the minimum leave none below); None if one class would be empty (all
    values equal)."""
    tau = np.quantile(y, gamma)
    z = y < tau
    if not z.any():
        z = y <= tau
    return z.astype(int) if 0 < z.sum() < len(z) else None
