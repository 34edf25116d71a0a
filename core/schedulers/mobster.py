"""MOBSTER: ASHA with a fidelity-aware Gaussian-process searcher (Klein et al., 2020)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.schedulers.asha import ASHA
from core.schedulers.bo import GPSearcher
from core.schedulers.rungs import check_rung_args, rung_levels
from core.space import Space


class MOBSTER(ASHA):
    """ASHA (stopping or promotion) whose new configurations come from a GP over
    (configuration, fidelity) fitted on the values at the rung levels, with expected
    improvement at the maximum fidelity.

    Example:
        >>> MOBSTER(space=space, metric="loss", mode="min", fidelities=list(range(1, 82)),
        ...         eta=3, rng=np.random.default_rng(0))
    """

    name = "mobster"

    def __init__(
        self,
        *,
        space: Space,
        metric: str,
        mode: str,
        fidelities: Sequence[int],
        rng: np.random.Generator,
        type: str = "stopping",
        eta: float = 3,
        grace_period: int | None = None,
        max_resource: int | None = None,
        n_init: int = 5,
        n_candidates: int = 500,
        refit_every: int = 20,
        max_observations: int = 400,
        candidates: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        fids, grace, top = check_rung_args(self.name, fidelities, eta, grace_period, max_resource)
        levels = rung_levels(fids, grace, eta, top) + [top]
        searcher = GPSearcher(
            space,
            mode=mode,
            rng=rng,
            candidates=candidates,
            n_init=n_init,
            fidelity_aware=True,
            fidelities=fids,
            fidelity_levels=levels,
            n_candidates=n_candidates,
            refit_every=refit_every,
            max_observations=max_observations,
        )
        super().__init__(
            space=space,
            metric=metric,
            mode=mode,
            fidelities=fids,
            rng=rng,
            type=type,
            eta=eta,
            grace_period=grace_period,
            max_resource=max_resource,
            searcher=searcher,
            candidates=candidates,
        )
