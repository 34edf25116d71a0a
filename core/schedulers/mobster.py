"""MOBSTER: ASHA with a fidelity-aware Gaussian-process searcher (Klein et al., 2020)."""

from __future__ import annotations

from typing import Any

from core.schedulers.asha import ASHA


class MOBSTER(ASHA):
    """ASHA (stopping or promotion) whose new configurations come from a GP over
    (configuration, fidelity) fitted on the values at the rung levels, with expected
    improvement at the maximum fidelity: `searcher="bo"` with `fidelity_aware=True` and
    `warp_outputs=True` (the GP fits normal scores of the values: on YAHPO LCBench the
    raw accuracies span ~90 points, from diverged runs and epoch 1, and their spread set
    a posterior sd of 7-20 points where the optima differ by tenths; docs/search_quality.md).

    Example:
        >>> MOBSTER(space=space, metric="loss", mode="min", fidelities=list(range(1, 82)),
        ...         eta=3, rng=np.random.default_rng(0), searcher_args={"n_init": 10})
    """

    name = "mobster"

    def __init__(
        self, *, searcher: str = "bo", searcher_args: dict[str, Any] | None = None, **asha: Any
    ) -> None:
        args = {"fidelity_aware": True, "warp_outputs": True, **(searcher_args or {})}
        super().__init__(searcher=searcher, searcher_args=args, **asha)
