"""The scheduler protocol: which trial to run next, and what to do after each report."""

from __future__ import annotations

from typing import Any

from core.trial import Decision, Report, Suggestion, Trial


class Scheduler:
    """Base class of every HPO algorithm.

    The Tuner calls `suggest` whenever a worker is free, `on_start` once the trial
    it suggested exists, `on_report` for every report (and acts on the Decision),
    `on_complete` when a trial has reported its last fidelity and `on_error` when it
    failed. Subclasses override what they need; the hooks default to doing nothing.

    Example:
        >>> class Always(Scheduler):
        ...     def suggest(self, trial_id):
        ...         return Start({"x": 1})
    """

    metric: str
    mode: str
    multi_objective = False  # True: it ranks several objectives (one works, but is pointless)

    def suggest(self, trial_id: int) -> Suggestion | None:
        """A new configuration for trial `trial_id`, a paused trial to resume, or None."""
        raise NotImplementedError

    def on_start(self, trial: Trial) -> None:
        """`trial` has started (or resumed) on a worker."""

    def on_report(self, trial: Trial, report: Report) -> Decision:
        """Decide whether `trial` continues after `report`."""
        return Decision.CONTINUE

    def on_complete(self, trial: Trial, report: Report) -> None:
        """`trial` has reported its last fidelity; `report` is that last report."""

    def on_error(self, trial: Trial) -> None:
        """`trial` failed; it will not report again."""

    def metadata(self) -> dict[str, Any]:
        """Name and constructor arguments, for the run's metadata.json."""
        return {"name": type(self).__name__}


def check_mode(mode: str) -> str:
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    return mode


def metric_value(scheduler: str, metric: str, trial: Trial, report: Report) -> float:
    """The value of `metric` in `report`; a ValueError naming what the report has if absent."""
    value = report.metrics.get(metric)
    if value is None:
        raise ValueError(
            f"{scheduler}: report of trial {trial.trial_id} lacks metric {metric!r} "
            f"(has {sorted(report.metrics)})"
        )
    return value


def check_count(name: str, arg: str, value: int | None, optional: bool = False) -> int | None:
    """`value` as a positive int (None passes if `optional`); a ValueError naming the
    scheduler and the argument otherwise (a float with an integral value is accepted)."""
    if value is None and optional:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not float(value).is_integer() or value < 1):  # also rejects nan and inf
        raise ValueError(f"{name}: {arg} must be a positive integer, got {value!r}")
    return int(value)
