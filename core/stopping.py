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

    Example:
        >>> StoppingCriterion(max_wallclock=3600, max_trials=100)
    """

    max_wallclock: float | None = None
    max_trials: int | None = None
    max_trials_finished: int | None = None
    max_failures: int | None = None

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is None:
                continue
            count = name != "max_wallclock"
            what = "a positive integer" if count else "a positive number of seconds"
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 < value < math.inf
                or (count and not float(value).is_integer())
            ):
                raise ValueError(f"stop.{name} must be {what} or null, got {value!r}")
            if count:
                object.__setattr__(self, name, int(value))
        if (
            self.max_wallclock is None
            and self.max_trials is None
            and self.max_trials_finished is None
        ):
            raise ValueError(
                "the run has no budget: set stop.max_wallclock, stop.max_trials or "
                "stop.max_trials_finished"
            )

    def may_start(self, n_started: int) -> bool:
        return self.max_trials is None or n_started < self.max_trials

    def done(self, now: float, n_finished: int) -> bool:
        return (self.max_wallclock is not None and now >= self.max_wallclock) or (
            self.max_trials_finished is not None and n_finished >= self.max_trials_finished
        )

    def to_dict(self) -> dict:
        return asdict(self)
