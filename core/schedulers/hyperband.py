"""Asynchronous Hyperband: ASHA brackets with different grace periods (Li et al., 2020)."""

from __future__ import annotations

from typing import Any

import numpy as np

from simtune.core.schedulers.asha import ASHA
from simtune.core.schedulers.base import check_count
from simtune.core.schedulers.rungs import RungSystem, bracket_probabilities


class Hyperband(ASHA):
    """Each new trial joins a bracket drawn with the Hyperband bracket distribution.

    Bracket b (0 = most aggressive) is an ASHA rung system whose grace period is the b-th
    rung level; its probability is proportional to the number of configurations that
    synchronous Hyperband starts in it. `brackets` caps how many brackets are used
    (1 = ASHA). `type` as in ASHA: "promotion" pauses at rungs and resumes the best.

    BOHB is Hyperband with a TPE searcher, DEHB with differential evolution (DESearcher);
    `rng` draws the brackets.

    Example:
        >>> Hyperband(searcher=RandomSearcher(space, rng=rng), metric="loss", mode="min",
        ...           fidelities=list(range(1, 82)), eta=3, rng=rng)
    """

    name = "hyperband"

    def __init__(
        self,
        *,
        rng: np.random.Generator,
        type: str = "promotion",
        brackets: int | None = None,
        **asha: Any,
    ) -> None:
        self.rng = rng
        check_count(self.name, "brackets", brackets, optional=True)
        self.brackets = brackets
        super().__init__(type=type, **asha)

    def _brackets(self) -> list[RungSystem]:
        s_max = len(self.rung_levels)  # rung levels plus max_resource: s_max + 1 levels
        n = s_max + 1 if self.brackets is None else min(int(self.brackets), s_max + 1)
        self.bracket_probs = bracket_probabilities(s_max, self.eta)[:n]
        self.bracket_probs = self.bracket_probs / self.bracket_probs.sum()
        # a stream of its own (spawned, the parent's state untouched): for one seed, every
        # Hyperband variant draws the same brackets whatever its searcher consumes
        self._bracket_rng = self.rng.spawn(1)[0]
        return [RungSystem(self.rung_levels[b:], self.eta) for b in range(n)]

    def _choose_bracket(self) -> int:
        if len(self.rung_systems) == 1:
            return 0
        return int(self._bracket_rng.choice(len(self.rung_systems), p=self.bracket_probs))

    def derived(self) -> dict[str, Any]:
        probabilities = [round(float(p), 6) for p in self.bracket_probs]
        return {**super().derived(), "bracket_probabilities": probabilities}
