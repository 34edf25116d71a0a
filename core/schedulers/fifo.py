"""FIFO scheduling: start what the searcher suggests and let every trial run to the end."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from simtune.core.schedulers.base import check_mode
from simtune.core.schedulers.pareto import MultiObjective, to_min
from simtune.core.schedulers.searcher import Searcher, SearcherScheduler
from simtune.core.trial import Decision, Report, Start, Suggestion, Trial


class FIFOScheduler(SearcherScheduler):
    """Single-fidelity scheduling around any searcher: scheduler=random, grid, bo, tpe and
    rea are this with the searcher of that name (core.schedulers.create builds it from
    the config); `metadata()` describes it under "searcher".

    Example:
        >>> FIFOScheduler(searcher=RandomSearcher(space, rng=rng), metric="loss", mode="min")
    """

    name = "fifo"
    multi_fidelity = False  # every trial runs to the end

    def __init__(self, *, searcher: Searcher, metric: str, mode: str) -> None:
        self.searcher = searcher
        self.metric = metric
        self.mode = check_mode(mode)

    def suggest(self, trial_id: int) -> Suggestion | None:
        config = self.searcher.suggest()
        return None if config is None else Start(config)

    def on_report(self, trial: Trial, report: Report) -> Decision:
        value = self._observation(report)
        if value is not None:
            self.searcher.observe(trial.trial_id, report.fidelity, value)
        if report.last:
            self.searcher.on_cost(trial.trial_id, report.time - trial.start_time)
        return Decision.CONTINUE


class MultiObjectiveFIFO(MultiObjective, FIFOScheduler):
    """FIFO scheduling around a searcher of objective vectors (morea, nsga2, ehvi): each
    report hands it the vector of `objectives` (name -> mode) that `metrics` selects
    (default: all but test_*), every objective to minimize (`pareto.to_min`: a "max" one
    negated, a missing one +inf). Trials run to their maximum fidelity.

    Example:
        >>> MultiObjectiveFIFO(searcher=searcher, objectives={"f1": "min", "f2": "min"})
    """

    name = "mo_fifo"

    def __init__(
        self,
        *,
        searcher: Searcher,
        objectives: Mapping[str, str],
        metrics: Sequence[str] | None = None,
        metric: str | None = None,
        mode: str | None = None,
    ) -> None:
        first, first_mode = self.choose_objectives(objectives, metrics)  # not metric/mode
        super().__init__(searcher=searcher, metric=first, mode=first_mode)

    def _observation(self, report: Report) -> np.ndarray:
        return to_min([report.metrics], self.objectives)[0]
