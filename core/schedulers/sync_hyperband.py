"""Synchronous Hyperband and successive halving: a rung waits for all of its trials."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simtune.core.schedulers.base import check_count, check_mode, metric_value, mode_sign
from simtune.core.schedulers.rungs import (
    bracket_sizes,
    check_rung_args,
    rung_complete,
    rung_levels,
    to_loss,
    top_trials,
)
from simtune.core.schedulers.searcher import Searcher, SearcherScheduler
from simtune.core.trial import Decision, Report, Resume, Start, Suggestion, Trial


class SyncHyperband(SearcherScheduler):
    """Hyperband as published (Li et al., 2018): brackets s = s_max..0 in turn, each a run
    of successive halving with the sizes of `bracket_sizes`.

    Every trial of a rung trains to the rung's level and pauses; once all have reported
    (or failed), the top floor(n_i / eta) are resumed from their checkpoints for the next
    rung. While a rung waits, `suggest` returns None, unless fewer than
    `parallel_brackets` brackets are in flight: then the next bracket begins (each rung
    still waits for all of its trials; 1 = strictly one bracket at a time). `brackets`
    caps the brackets cycled through (1 = successive halving). When the searcher has
    nothing left, paused trials are resumed best first and run to max_resource.
    Configurations come from `searcher` (core.schedulers.create builds random search,
    or the one named in the config: searcher="tpe"); it is told the rung levels
    (`Searcher.set_fidelities`) and, before each suggestion, the level the new trial
    starts at (`Searcher.set_level`).

    Example:
        >>> SyncHyperband(searcher=RandomSearcher(space, rng=np.random.default_rng(0)),
        ...               metric="loss", mode="min", fidelities=list(range(1, 82)), eta=3)
    """

    name = "sync_hyperband"
    multi_fidelity = True  # pauses trials at rungs

    def __init__(
        self,
        *,
        searcher: Searcher,
        metric: str,
        mode: str,
        fidelities: Sequence[int],
        eta: float = 3,
        grace_period: int | None = None,
        max_resource: int | None = None,
        brackets: int | None = None,
        parallel_brackets: int = 4,
    ) -> None:
        name = self.name
        self._parallel = check_count(name, "parallel_brackets", parallel_brackets)
        n_brackets = check_count(name, "brackets", brackets, optional=True)
        fidelities, grace, self._top = check_rung_args(
            name, fidelities, eta, grace_period, max_resource
        )
        self.searcher = searcher
        self.metric = metric
        self.mode = check_mode(mode)
        self.eta = eta
        self.grace_period = grace_period
        self.max_resource = max_resource
        self.brackets = brackets
        self.parallel_brackets = parallel_brackets
        # derived: the rung levels (the last: the maximum resource) and bracket sizes
        self.levels = rung_levels(fidelities, grace, eta, self._top)
        self.levels.append(self._top)
        sizes = bracket_sizes(len(self.levels) - 1, eta)
        self.schedule = sizes if n_brackets is None else sizes[:n_brackets]
        self.searcher.set_fidelities(self.levels, fidelities)
        self._sign = mode_sign(mode)
        self._n_started_brackets = 0
        self._bracket_of: dict[int, _Bracket] = {}
        self._active = [self._next_bracket()]
        self._paused: dict[int, tuple[int, float]] = {}  # trial id -> (level, loss)
        self._free: set[int] = set()  # resumed after the searcher ran dry
        self._failed: set[int] = set()
        self._exhausted = False

    def suggest(self, trial_id: int) -> Suggestion | None:
        while not self._exhausted:
            job = None
            for b in self._active:
                job = self._job(b, trial_id)
                if job is not None or self._exhausted:
                    break
            if job is not None:
                return job
            self._active = [b for b in self._active if not b.done]
            if self._exhausted:
                break
            if len(self._active) >= self._parallel:
                return None  # every bracket in flight waits for a rung
            self._active.append(self._next_bracket())
        if not self._paused:
            return None
        leftover = min(self._paused, key=lambda t: (-self._paused[t][0], self._paused[t][1], t))
        del self._paused[leftover]
        self._free.add(leftover)
        return Resume(leftover)

    def _job(self, b: _Bracket, trial_id: int) -> Suggestion | None:
        """The bracket's next trial to start or resume; None while its rung waits or once
        it is done (b.done)."""
        while True:
            if b.rung == 0 and len(b.members) < b.sizes[0]:
                self.searcher.set_level(b.levels[0])
                config = self.searcher.suggest()
                if config is None:
                    self._exhausted = True
                    return None
                b.members.append(trial_id)
                self._bracket_of[trial_id] = b
                return Start(config)
            if b.queue:
                resumed = b.queue.pop(0)
                del self._paused[resumed]
                return Resume(resumed)
            if not rung_complete(b.members, b.reported, self._failed):
                return None
            if b.rung + 1 == len(b.sizes):
                b.done = True
                return None
            b.queue = top_trials(b.reported, b.sizes[b.rung + 1])
            b.members, b.reported = list(b.queue), {}
            b.rung += 1

    def on_start(self, trial: Trial) -> None:
        self.searcher.on_start(trial.trial_id, trial.config)

    def on_report(self, trial: Trial, report: Report) -> Decision:
        value = metric_value(self.name, self.metric, trial, report)
        self.searcher.observe(trial.trial_id, report.fidelity, value)
        if report.last:
            self._record(trial.trial_id, report.fidelity, value)
            return Decision.CONTINUE
        if report.fidelity >= self._top:
            self._record(trial.trial_id, report.fidelity, value)
            return Decision.STOP
        if trial.trial_id in self._free or not self._record(trial.trial_id, report.fidelity, value):
            return Decision.CONTINUE
        self._paused[trial.trial_id] = (report.fidelity, to_loss(value, self._sign))
        return Decision.PAUSE

    def on_error(self, trial: Trial) -> None:
        self._failed.add(trial.trial_id)
        self._paused.pop(trial.trial_id, None)
        super().on_error(trial)

    def derived(self) -> dict[str, Any]:
        return {"levels": self.levels, "bracket_sizes": self.schedule}

    def _record(self, trial_id: int, fidelity: int, value: float) -> bool:
        """Record a report at the current rung's level; True if the trial is a member."""
        b = self._bracket_of.get(trial_id)
        if b is None or trial_id in self._free or fidelity != b.level():
            return False
        if trial_id not in b.members:
            return False
        b.reported[trial_id] = to_loss(value, self._sign)
        return True

    def _next_bracket(self) -> _Bracket:
        sizes = self.schedule[self._n_started_brackets % len(self.schedule)]
        self._n_started_brackets += 1
        return _Bracket(sizes, self.levels[len(self.levels) - len(sizes) :])


class SyncSuccessiveHalving(SyncHyperband):
    """Synchronous successive halving: the most aggressive Hyperband bracket, repeated.

    Example:
        >>> SyncSuccessiveHalving(searcher=RandomSearcher(space, rng=rng), metric="loss",
        ...                       mode="min", fidelities=list(range(1, 82)))
    """

    name = "sync_sh"

    def __init__(self, **sync_hyperband: Any) -> None:
        if "brackets" in sync_hyperband:
            raise ValueError("sync_sh: one bracket by definition; use sync_hyperband for more")
        super().__init__(brackets=1, **sync_hyperband)


class _Bracket:
    """One run of successive halving: rung sizes and levels, the current rung's members,
    the values they reported and the promoted trials still to resume."""

    def __init__(self, sizes: list[int], levels: list[int]) -> None:
        self.sizes = [max(1, n) for n in sizes]
        self.levels = levels
        self.rung = 0
        self.members: list[int] = []
        self.reported: dict[int, float] = {}
        self.queue: list[int] = []
        self.done = False

    def level(self) -> int:
        return self.levels[self.rung]
