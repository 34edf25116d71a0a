"""BOHB: Hyperband with a TPE / multivariate-KDE searcher (Falkner et al., 2018)."""

from __future__ import annotations

from typing import Any

from core.schedulers.hyperband import Hyperband


class BOHB(Hyperband):
    """Asynchronous Hyperband whose new configurations come from a TPE searcher fitted
    on the highest fidelity with enough observations: `searcher="tpe"`.

    Example:
        >>> BOHB(space=space, metric="loss", mode="min", fidelities=list(range(1, 82)),
        ...      eta=3, rng=np.random.default_rng(0), searcher_args={"gamma": 0.2})
    """

    name = "bohb"

    def __init__(self, *, searcher: str = "tpe", **hyperband: Any) -> None:
        super().__init__(searcher=searcher, **hyperband)
