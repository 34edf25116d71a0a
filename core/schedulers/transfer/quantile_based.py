"""QuantileBased: Copula Thompson sampling from a model of the source tasks (Salinas et al.
2020, "A quantile-based approach for hyperparameter transfer learning")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from simtune.core.encoding import encode
from simtune.core.schedulers.base import check_count, check_mode, mode_sign
from simtune.core.schedulers.pool import CandidatePool
from simtune.core.schedulers.searcher import Searcher
from simtune.core.schedulers.transfer.data import TransferData, copula, source_data
from simtune.core.space import Space

MODELS = ("gbm", "mlp")


class QuantileBasedSearcher(Searcher):
    """Each source task's values go through the Gaussian copula (normal quantile of their
    rank), so tasks of any scale share one; a regression `model` ("gbm": scikit-learn's
    HistGradientBoostingRegressor, "mlp": its MLPRegressor) fit on the pooled sources
    (at most `max_fit_samples`) predicts the transformed value of a configuration, with one
    standard deviation for all: the residuals' on a held-out tenth. Each suggestion draws
    a sample from that normal for every unused candidate (the table's configurations, the
    enumerated finite space, or `n_candidates` random ones) and takes the best: Thompson
    sampling from the sources' prior, as Syne Tune's QuantileBasedSurrogateSearcher; the
    tuned task's own results are not used.

    Example:
        >>> QuantileBasedSearcher(space, metric="loss", mode="min", rng=rng,
        ...                       sources=["outputs/earlier"]).suggest()  # doctest: +SKIP
    """

    name = "quantile_based"

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
        model: str = "gbm",
        max_fit_samples: int = 10000,
        n_candidates: int = 2000,
    ) -> None:
        self.space, self.mode, self.rng = space, check_mode(mode), rng
        self.sources = sources
        if model not in MODELS:
            raise ValueError(f"{self.name}: model must be one of {', '.join(MODELS)}, "
                             f"got {model!r}")
        self.model = model
        self.max_fit_samples = check_count(self.name, "max_fit_samples", max_fit_samples)
        self.n_candidates = check_count(self.name, "n_candidates", n_candidates)
        self.data = source_data(self.name, transfer, sources, metric, space)
        self._pool = CandidatePool(space, candidates)
        x, z = training_data(self.data, space, mode_sign(mode))
        with one_thread():
            predict, self.sigma, self.n_fit = fit(model, x, z, self.max_fit_samples, rng)
            if self._pool.finite is not None:
                self._candidates: list[dict[str, Any]] | None = None
                self._mu = predict(self._pool.finite.encoded())
            else:
                self._candidates = space.sample(rng, self.n_candidates)
                self._mu = predict(np.array([encode(space, c) for c in self._candidates]))
        self._used = np.zeros(len(self._mu), dtype=bool)  # sampled candidates drawn

    def derived(self) -> dict[str, Any]:
        return {"source_tasks": self.data.sizes(), "fit_points": self.n_fit,
                "sigma": round(float(self.sigma), 6)}

    def suggest(self) -> dict[str, Any] | None:
        if self._pool.exhausted:
            return None
        draw = self._mu + self.sigma * self.rng.standard_normal(len(self._mu))
        finite = self._pool.finite
        draw[finite.used if finite is not None else self._used] = np.inf
        i = int(np.argmin(draw))
        if not np.isfinite(draw[i]):  # every sampled candidate drawn: a fresh random one
            return self._pool.random(self.rng)
        if finite is not None:
            config = finite.config(i)
        else:
            self._used[i] = True
            config = dict(self._candidates[i])
        self._pool.mark(config)
        return config

    def on_start(self, trial_id: int, config: dict[str, Any]) -> None:
        self._pool.mark(config)


def one_thread() -> Any:
    """Limit BLAS and OpenMP to one thread: scikit-learn's gradient boosting on OpenMP
    threads took 375 s for what one thread fits in 4 s on this busy 2-core machine, and
    one thread keeps its sums reproducible."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def training_data(data: TransferData, space: Space, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """The pooled source configurations (encoded, n x d) and their copula-transformed
    values (each task on its own; missing values left out)."""
    xs, zs = [], []
    for task in data.tasks:
        z = copula(sign * np.asarray(task.values, dtype=float))
        ok = np.isfinite(z)
        xs.append(np.array([encode(space, c) for c, good in zip(task.configs, ok, strict=True)
                            if good]))
        zs.append(z[ok])
    return np.vstack(xs), np.concatenate(zs)


def fit(model: str, x: np.ndarray, z: np.ndarray, max_samples: int,
        rng: np.random.Generator) -> tuple[Any, float, int]:
    """The regression `model` fit on at most `max_samples` of (x, z) (90%; the rest
    measures the residual sd): its predict function, that sd, and the points fit."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.neural_network import MLPRegressor

    order = rng.permutation(len(z))
    n_val = max(1, len(z) // 10) if len(z) > 1 else 0
    val, train = order[:n_val], order[n_val:][:max_samples]
    if not len(train):
        train = val
    seed = int(rng.integers(2**31))
    if model == "gbm":
        reg = HistGradientBoostingRegressor(max_iter=200, early_stopping=False, random_state=seed)
    else:
        reg = MLPRegressor(hidden_layer_sizes=(64, 64), max_iter=300, random_state=seed)
    reg.fit(x[train], z[train])
    residuals = z[val] - reg.predict(x[val]) if n_val else z - z.mean()
    sigma = float(np.std(residuals)) if len(residuals) > 1 else 1.0
    return reg.predict, max(sigma, 1e-3), len(train)
