"""When a tuning run ends."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


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

    def may_start(self, n_started: int) -> bool:
        return self.max_trials is None or n_started < self.max_trials

    def done(self, now: float, n_finished: int) -> bool:
        return (self.max_wallclock is not None and now >= self.max_wallclock) or (
            self.max_trials_finished is not None and n_finished >= self.max_trials_finished
        )

    def target_reached(self, best: float, mode: str) -> bool:
        """True if `best` (the best value so far) reaches metric_target."""
        target = self.metric_target
        return target is not None and (best >= target if mode == "max" else best <= target)

    def failures_end(self, n_failed: int, n_reports: int) -> str | None:
        """Why `n_failed` failed trials end a run that has `n_reports` valid reports, None
        if it goes on."""
        if self.max_failures is not None and n_failed >= self.max_failures:
            return f"{n_failed} trials failed (stop.max_failures={self.max_failures})"
        early = self.max_failures_before_report
        if not n_reports and early is not None and n_failed >= early:
            return (f"no valid report: {n_failed} trials failed and none reported "
                    f"(stop.max_failures_before_report={early})")
        return None

    def to_dict(self) -> dict:
        return asdict(self)
