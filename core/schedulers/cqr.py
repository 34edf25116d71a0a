"""CQR: Bayesian optimization with conformalized quantile regression (Salinas et al.,
"Optimizing Hyperparameters with Conformal Quantile Regression", ICML 2023).

One gradient-boosted quantile regressor per quantile level (scikit-learn's
GradientBoostingRegressor, loss="quantile") replaces the GP: no Gaussian assumption,
no kernel, robust to heavy-tailed and heteroscedastic objectives. With enough data, the
quantiles are conformalized on a held-out split so that each symmetric band covers its
nominal share of the values (split conformal prediction, Romano et al. 2019). A
suggestion is Thompson-like, as in Syne Tune: each candidate gets one of its corrected
quantiles at random, and the candidate with the best draw wins. The CQRSearcher plugs
into FIFO (`cqr`) and ASHA (`asha_cqr`, fitted on the highest rung with enough data).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from simtune.core.schedulers.base import check_count, check_range
from simtune.core.schedulers.surrogate import Score, SurrogateSearcher
from simtune.core.space import Space


class CQRSearcher(SurrogateSearcher):
    """Conformalized quantile regression over the candidate pool.

    `quantiles` (odd): the levels k / (quantiles + 1), k = 1..quantiles (5: 1/6 .. 5/6,
    Syne Tune's). Once a fit has more than `min_conformal` observations, the regressors
    are fitted on all but a random `valid_fraction` of them, and each symmetric pair of
    levels is widened by the conformal correction measured on those held out. The first
    `min_points` configurations are the `initial_design`; then each suggestion refits the
    model and scores `n_candidates` unused configurations (no local search: the score is
    a random draw per candidate).

    Example:
        >>> s = CQRSearcher(space, mode="min", rng=np.random.default_rng(0))
        >>> config = s.suggest(); s.on_start(0, config); s.observe(0, 1, 0.3)
    """

    name = "cqr"

    def __init__(
        self,
        space: Space,
        *,
        mode: str,
        rng: np.random.Generator,
        candidates: Sequence[dict[str, Any]] | None = None,
        quantiles: int = 5,
        min_points: int = 5,
        min_conformal: int = 32,
        valid_fraction: float = 0.1,
        n_candidates: int = 2000,
        n_estimators: int = 30,
        learning_rate: float = 0.3,
        refit_every: int = 1,
        initial_design: str = "random",
    ) -> None:
        quantiles = check_count(self.name, "quantiles", quantiles)
        if quantiles % 2 == 0:
            raise ValueError(f"{self.name}: quantiles must be odd (e.g. 5), got {quantiles!r}")
        check_range(self.name, "valid_fraction", valid_fraction, 0, 1, closed="neither")
        super().__init__(
            space, mode=mode, rng=rng, candidates=candidates, min_points=min_points,
            n_candidates=n_candidates, n_local=0, refit_every=refit_every,
            initial_design=initial_design,
        )
        self.quantiles = quantiles
        self.min_conformal = check_count(self.name, "min_conformal", min_conformal)
        self.valid_fraction = valid_fraction
        self.n_estimators = check_count(self.name, "n_estimators", n_estimators)
        self.learning_rate = check_range(self.name, "learning_rate", learning_rate, 0, 1,
                                         closed="high")

    def fit(self, x: np.ndarray, y: np.ndarray) -> Score:
        from sklearn.ensemble import GradientBoostingRegressor

        levels = np.arange(1, self.quantiles + 1) / (self.quantiles + 1)
        train, valid = np.arange(len(y)), None
        if len(y) > self.min_conformal:
            order = self.rng.permutation(len(y))
            n_valid = max(1, int(round(self.valid_fraction * len(y))))
            train, valid = np.sort(order[n_valid:]), np.sort(order[:n_valid])
        models = []
        for level in levels:
            model = GradientBoostingRegressor(loss="quantile", alpha=float(level),
                                              n_estimators=self.n_estimators,
                                              learning_rate=self.learning_rate,
                                              random_state=self.sklearn_seed())
            models.append(model.fit(x[train], y[train]))
        correction = np.zeros(len(levels))
        if valid is not None:
            pred = np.column_stack([m.predict(x[valid]) for m in models])
            correction = conformal_corrections(pred, y[valid], levels)
        rng = self.rng

        def score(q: np.ndarray) -> np.ndarray:
            pred = np.column_stack([m.predict(q) for m in models]) + correction
            pick = rng.integers(len(levels), size=len(q))
            return -pred[np.arange(len(q)), pick]  # the lowest draw is the best

        return score


def conformal_corrections(pred: np.ndarray, y: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """The shift of each quantile prediction (columns of `pred`, at `levels`, symmetric
    around 0.5) that makes each band [level, 1 - level] cover 1 - 2 level of the held-out
    values `y`: lower levels move down, upper ones up by the same amount, the median not
    at all (split conformal quantile regression, Romano et al. 2019)."""
    q = len(levels)
    out = np.zeros(q)
    for lo in range(q // 2):
        hi = q - 1 - lo
        residual = np.maximum(pred[:, lo] - y, y - pred[:, hi])
        coverage = 1 - 2 * levels[lo]
        level = min(coverage * (1 + 1 / len(y)), 1.0)  # the finite-sample quantile
        shift = float(np.quantile(residual, level))
        out[lo], out[hi] = -shift, shift
    return out
