"""When a tuning run ends: the budget (StoppingCriterion), every rule that ends a run,
and why it ended (EndReason; Ended says it as metadata.json's end_reason does)."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from simtune.core.trial import Report, Trial

log = logging.getLogger("simtune.stopping")


class EndReason(Enum):
    """Why a run ended; metadata.json's end_reason starts with its value (but FAILURES:
    "3 trials failed (...)")."""

    BUDGET = "budget reached"
    TRIAL_BUDGET = "trial budget reached"
    COST_BUDGET = "cost budget reached"
    METRIC_TARGET = "metric target reached"
    NOTHING_LEFT = "nothing left to run"
    NO_SUGGESTION = "the scheduler has no more trials to suggest"
    PLATEAU = "plateau"  # a stopper (core.stoppers) ended it: the best trials stopped improving
    CALLBACK = "ended by a callback"  # a callback's StopRun (core.callbacks)
    FAILURES = "trials failed"
    NO_VALID_REPORT = "no valid report"
    INTERRUPTED = "interrupted"
    CRASHED = "crashed"

    @property
    def finished(self) -> bool:
        """The run ended by its budget or had nothing left to run (complete if it has a
        valid report)."""
        return self in _FINISHED

    @property
    def cut_short(self) -> bool:
        """Interrupted or crashed: the run did not end, a rerun resumes it."""
        return self in (EndReason.INTERRUPTED, EndReason.CRASHED)

    @classmethod
    def of(cls, text: str) -> EndReason:
        """The reason metadata.json's end_reason `text` says (Ended.text read back)."""
        for reason in cls:
            if reason is not cls.FAILURES and text.startswith(reason.value):
                return reason
        return cls.FAILURES


_FINISHED = frozenset({EndReason.BUDGET, EndReason.TRIAL_BUDGET, EndReason.COST_BUDGET,
                       EndReason.METRIC_TARGET, EndReason.NOTHING_LEFT,
                       EndReason.NO_SUGGESTION, EndReason.PLATEAU, EndReason.CALLBACK})


@dataclass(frozen=True)
class Ended:
    """Why a run ended (`reason`) and how metadata.json's end_reason says it (`text`,
    default the reason's value).

    Example:
        >>> str(Ended(EndReason.INTERRUPTED, "interrupted (SIGINT)"))
        'interrupted (SIGINT)'
    """

    reason: EndReason
    text: str = ""

    def __post_init__(self) -> None:
        if not self.text:
            object.__setattr__(self, "text", self.reason.value)

    def __str__(self) -> str:
        return self.text


@dataclass
class Progress:
    """What the stop rules read of a run so far, kept up to date by the Tuner."""

    n_finished: int = 0  # trials that completed, were stopped or failed
    n_failed: int = 0
    n_reports: int = 0  # valid reports
    cost: float = 0.0  # total cost of the trials (stop.max_cost's measure)
    best: float | None = None  # the best value of any report (stop.metric_target's)
    best_at: tuple[int, Any] = (-1, None)  # its trial id and fidelity
    costs: dict[int, float] = field(default_factory=dict)  # trial id -> its cost so far

    def add_cost(self, trial: Trial, report: Report, attribute: str | None) -> None:
        """A trial's cost: its reported `attribute` (cumulative), else the seconds it has
        run on a worker (on the backend's clock, since trial.extra["running_since"])."""
        so_far = self.costs.get(trial.trial_id, 0.0)
        if attribute is not None:
            value = report.metrics.get(attribute)
            cost = float(value) if isinstance(value, (int, float)) else so_far
        else:
            since = trial.extra.get("running_since", report.time)
            trial.extra["running_since"] = report.time
            cost = so_far + max(report.time - since, 0.0)
        self.cost += cost - so_far
        self.costs[trial.trial_id] = cost

    def add_report(self, trial_id: int, fidelity: Any, value: float, mode: str) -> None:
        """Count a valid report of `value` (the scheduler's metric)."""
        self.n_reports += 1
        best = self.best
        if best is None or (value < best if mode == "min" else value > best):
            self.best, self.best_at = value, (trial_id, fidelity)


@dataclass(frozen=True)
class StoppingCriterion:
    """Budget of a run; None means no limit on that count.

    - max_wallclock: seconds on the backend's clock (virtual in simulation); at that time
      every running trial is stopped and the run ends.
    - max_trials: trials started; once reached no new trial starts, and the run ends when
      the running ones have finished.
    - max_trials_finished: trials that ended (completed, stopped early or failed).
    - max_failures: failed trials tolerated before the run gives up.
    - max_failures_before_report: failed trials that end a run which has no valid report
      yet (a training that cannot report: a wrong metric or fidelity name, a crash);
      such a run is not complete. Once a trial has reported, only max_failures counts.
    - max_cost: total cost of all trials; each trial's cost is its latest reported
      `cost_attribute` (cumulative, e.g. dollars) or, without one, the seconds it ran
      on a worker (backend's clock). The run ends once the total reaches it.
    - metric_target: the run ends as soon as a report of the scheduler's metric reaches
      it (>= for mode max, <= for mode min).

    Example:
        >>> StoppingCriterion(max_wallclock=3600, max_trials=100)
    """

    max_wallclock: float | None = None
    max_trials: int | None = None
    max_trials_finished: int | None = None
    max_failures: int | None = None
    max_failures_before_report: int | None = 3
    max_cost: float | None = None
    cost_attribute: str | None = None
    metric_target: float | None = None

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is None or name in ("cost_attribute", "metric_target"):
                continue
            count = name not in ("max_wallclock", "max_cost")
            what = "a positive integer" if count else "a positive number"
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 < value < math.inf
                or (count and not float(value).is_integer())
            ):
                raise ValueError(f"stop.{name} must be {what} or null, got {value!r}")
            if count:
                object.__setattr__(self, name, int(value))
        target = self.metric_target
        if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float))
                                   or not math.isfinite(target)):
            raise ValueError(f"stop.metric_target must be a finite number or null, got {target!r}")
        attribute = self.cost_attribute
        if attribute is not None and (not isinstance(attribute, str) or not attribute):
            raise ValueError(
                f"stop.cost_attribute must name a reported metric or be null, got {attribute!r}"
            )
        if (
            self.max_wallclock is None
            and self.max_trials is None
            and self.max_trials_finished is None
            and self.max_cost is None
        ):
            raise ValueError(
                "the run has no budget: set stop.max_wallclock, stop.max_trials, "
                "stop.max_trials_finished or stop.max_cost"
            )

    def may_start(self, n_started: int) -> Ended | None:
        """TRIAL_BUDGET if no trial may start after `n_started`, None if one may."""
        if self.max_trials is None or n_started < self.max_trials:
            return None
        return Ended(EndReason.TRIAL_BUDGET)

    def reached(self, now: float, progress: Progress) -> Ended | None:
        """BUDGET at max_wallclock on the backend's clock (`now`) or once
        max_trials_finished trials finished, None before."""
        if (self.max_wallclock is not None and now >= self.max_wallclock) or (
            self.max_trials_finished is not None
            and progress.n_finished >= self.max_trials_finished
        ):
            return Ended(EndReason.BUDGET)
        return None

    def after_event(self, progress: Progress, metric: str, mode: str) -> Ended | None:
        """Why the run ends after an event (too many failures, its cost, a report of
        `metric` reaching metric_target), None if it goes on."""
        n_failed = progress.n_failed
        if self.max_failures is not None and n_failed >= self.max_failures:
            return Ended(EndReason.FAILURES,
                         f"{n_failed} trials failed (stop.max_failures={self.max_failures})")
        early = self.max_failures_before_report
        if not progress.n_reports and early is not None and n_failed >= early:
            return Ended(EndReason.NO_VALID_REPORT,
                         f"no valid report: {n_failed} trials failed and none reported "
                         f"(stop.max_failures_before_report={early})")
        if self.max_cost is not None and progress.cost >= self.max_cost:
            return Ended(EndReason.COST_BUDGET)
        best, target = progress.best, self.metric_target
        if best is None or target is None or (best < target if mode == "max" else best > target):
            return None
        trial_id, fidelity = progress.best_at
        log.info("metric target %s reached by trial %d: %s %s at fidelity %s (any report "
                 "counts; the run's best is its incumbent, core.incumbent)", target, trial_id,
                 metric, best, fidelity)
        return Ended(EndReason.METRIC_TARGET)

    def final(self, ended: Ended, n_started: int, progress: Progress) -> Ended:
        """`ended` as the run records it: a run that finished without a valid report has
        none (NO_VALID_REPORT)."""
        if not ended.reason.finished or progress.n_reports:
            return ended
        return Ended(EndReason.NO_VALID_REPORT,
                     f"no valid report ({ended}; {progress.n_failed} of {n_started} trials "
                     "failed)")

    def to_dict(self) -> dict:
        return asdict(self)
