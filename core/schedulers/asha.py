"""ASHA: asynchronous successive halving, stopping and promotion variants (Li et al., 2020)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simtune.core.schedulers.base import check_mode, metric_value, mode_sign
from simtune.core.schedulers.rungs import RungSystem, check_rung_args, rung_levels, to_loss
from simtune.core.schedulers.searcher import Searcher, SearcherScheduler
from simtune.core.trial import Decision, Report, Resume, Start, Suggestion, Trial

TYPES = ("stopping", "promotion")


class ASHA(SearcherScheduler):
    """Successive halving without waiting: rung levels grace_period * eta^k, snapped to
    the benchmark's fidelities, below max_resource.

    type="stopping": a trial continues past a rung only if it is in the top 1/eta so far.
    type="promotion": a trial pauses at each rung (or continues at once if it is itself
    promotable: the same as pausing and being resumed first); `suggest` first resumes the
    best paused trial in the top 1/eta of the highest rung that has one, else starts a
    new config.
    Once the searcher has nothing left, paused trials are resumed best first and run to
    max_resource, so none is left behind. A trial reaching max_resource is stopped there.
    Configurations come from `searcher` (core.schedulers.create builds one by name: random
    search for asha, a fidelity-aware GP for mobster); it is told the rung levels
    (`Searcher.set_fidelities`), and before each suggestion the level the new trial starts
    at (`Searcher.set_level`: DEHB's DE keeps a population per level).

    Subclasses (Hyperband, PASHA, MOASHA) change `_brackets`, `_choose_bracket`,
    `_n_open`, `_continues` or `_on_rung`, not the loop; MOBSTER is ASHA with a GP
    searcher, BOHB and DEHB are Hyperband with a TPE and a DE searcher.

    Example:
        >>> ASHA(searcher=RandomSearcher(space, rng=np.random.default_rng(0)), metric="loss",
        ...      mode="min", fidelities=list(range(1, 82)), eta=3, type="promotion")
    """

    name = "asha"
    multi_fidelity = True  # stops trials at rungs (and its subclasses)

    def __init__(
        self,
        *,
        searcher: Searcher,
        metric: str,
        mode: str,
        fidelities: Sequence[int],
        type: str = "stopping",
        eta: float = 3,
        grace_period: int | None = None,
        max_resource: int | None = None,
    ) -> None:
        name = self.name
        if type not in TYPES:
            raise ValueError(f"{name}: type must be one of {TYPES}, got {type!r}")
        fidelities, grace, self._top = check_rung_args(
            name, fidelities, eta, grace_period, max_resource
        )
        self.searcher = searcher
        self.metric = metric
        self.mode = check_mode(mode)
        self.type = type
        self.eta = eta
        self.grace_period = grace_period
        self.max_resource = max_resource
        # derived: the rung levels below the maximum resource (`_top`) a trial reaches
        self.rung_levels = rung_levels(fidelities, grace, eta, self._top)
        self.searcher.set_fidelities([*self.rung_levels, self._top], fidelities)
        self._sign = mode_sign(mode)
        self.rung_systems: list[RungSystem] = self._brackets()
        self._bracket_of: dict[int, int] = {}  # trial id -> bracket index
        self._paused: dict[int, int] = {}  # trial id -> rung level it paused at
        self._free: set[int] = set()  # resumed after the searcher ran dry: run to the end

    # -- hooks for subclasses -------------------------------------------------------

    def _brackets(self) -> list[RungSystem]:
        return [RungSystem(self.rung_levels, self.eta)]

    def _choose_bracket(self) -> int:
        return 0

    def _n_open(self, bracket: RungSystem) -> int:
        """How many of the bracket's rungs (lowest first) may promote trials."""
        return len(bracket.levels)

    def _continues(self, bracket: RungSystem, level: int, report: Report, loss: float) -> bool:
        """Stopping variant: record the report at `level`; True if the trial continues."""
        return bracket.continues(level, loss)

    def _on_rung(self, bracket: RungSystem, level: int) -> None:
        """Called after a trial's value was recorded at `level` (promotion variant)."""

    # -- the protocol ---------------------------------------------------------------

    def suggest(self, trial_id: int) -> Suggestion | None:
        if self.type == "promotion":
            for bracket in self.rung_systems:
                found = bracket.promotable_trial(self._n_open(bracket), self._paused)
                if found is not None:
                    level, promoted = found
                    bracket.promote(level, promoted)
                    del self._paused[promoted]
                    return Resume(promoted)
        index = self._choose_bracket()
        levels = self.rung_systems[index].levels
        self.searcher.set_level(levels[0] if levels else self._top)
        config = self.searcher.suggest()
        if config is None:
            leftover = best_paused(self._paused, self._loss_at)
            if leftover is None:
                return None
            del self._paused[leftover]
            self._free.add(leftover)
            return Resume(leftover)
        self._bracket_of[trial_id] = index
        return Start(config)

    def on_report(self, trial: Trial, report: Report) -> Decision:
        value = metric_value(self.name, self.metric, trial, report)
        self.searcher.observe(trial.trial_id, report.fidelity, value)
        if report.last:
            return Decision.CONTINUE  # nothing left to decide
        fidelity = report.fidelity
        if fidelity >= self._top:
            return Decision.STOP
        if trial.trial_id in self._free:
            return Decision.CONTINUE
        bracket = self.rung_systems[self._bracket_of.get(trial.trial_id, 0)]
        if fidelity not in bracket.rungs:
            return Decision.CONTINUE
        loss = to_loss(value, self._sign)
        if self.type == "stopping":
            keep = self._continues(bracket, fidelity, report, loss)
            return Decision.CONTINUE if keep else Decision.STOP
        bracket.record(fidelity, trial.trial_id, loss)
        self._on_rung(bracket, fidelity)
        index = bracket.levels.index(fidelity)
        if index < self._n_open(bracket) and bracket.is_promotable(fidelity, trial.trial_id):
            bracket.promote(fidelity, trial.trial_id)
            return Decision.CONTINUE
        self._paused[trial.trial_id] = fidelity
        return Decision.PAUSE

    def on_error(self, trial: Trial) -> None:
        self._paused.pop(trial.trial_id, None)
        super().on_error(trial)

    def derived(self) -> dict[str, Any]:
        return {"rung_levels": self.rung_levels, "max_resource": self._top}

    def _loss_at(self, trial_id: int, level: int) -> float:
        bracket = self.rung_systems[self._bracket_of.get(trial_id, 0)]
        return next(loss for loss, t in bracket.rungs[level] if t == trial_id)


def best_paused(paused: dict[int, int], loss_at) -> int | None:
    """The paused trial to resume once nothing new can start: highest level, then lowest
    loss, then lowest trial id."""
    if not paused:
        return None
    return min(paused, key=lambda t: (-paused[t], loss_at(t, paused[t]), t))
