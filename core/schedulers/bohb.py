"""BOHB: Hyperband with a TPE / multivariate-KDE searcher (Falkner et al., 2018)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.schedulers.hyperband import Hyperband
from core.schedulers.tpe import TPESearcher
from core.space import Space


class BOHB(Hyperband):
    """Asynchronous Hyperband whose new configurations come from a TPE searcher fitted
    on the highest fidelity with enough observations.

    Example:
        >>> BOHB(space=space, metric="loss", mode="min", fidelities=list(range(1, 82)),
        ...      eta=3, rng=np.random.default_rng(0))
    """

    name = "bohb"

    def __init__(
        self,
        *,
        space: Space,
        metric: str,
        mode: str,
        fidelities: Sequence[int],
        rng: np.random.Generator,
        type: str = "promotion",
        eta: float = 3,
        grace_period: int | None = None,
        max_resource: int | None = None,
        brackets: int | None = None,
        min_points: int | None = None,
        gamma: float = 0.15,
        n_samples: int = 64,
        random_fraction: float = 1 / 3,
        bandwidth_factor: float = 3.0,
        candidates: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        searcher = TPESearcher(
            space, mode=mode, rng=rng, candidates=candidates, min_points=min_points,
            gamma=gamma, n_samples=n_samples, random_fraction=random_fraction,
            bandwidth_factor=bandwidth_factor,
        )
        super().__init__(
            space=space, metric=metric, mode=mode, fidelities=fidelities, rng=rng, type=type,
            eta=eta, grace_period=grace_period, max_resource=max_resource, brackets=brackets,
            searcher=searcher, candidates=candidates,
        )
