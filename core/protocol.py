"""The scheduler protocol around one trial, shared by the Tuner (which drives a backend)
and AskTellScheduler (whose user runs the trials): the trial a suggestion stands for,
whether a report can be used, and what the scheduler's decision does to the trial.

Example:
    >>> trial = begin(scheduler, trials, 0, scheduler.suggest(0), time=0.0)  # doctest: +SKIP
    >>> decide(scheduler, trial, Report(0, 1.0, 1, {"loss": 0.3}))  # doctest: +SKIP
    <Decision.CONTINUE: 'continue'>
"""

from __future__ import annotations

import math

from simtune.core.schedulers.base import Scheduler
from simtune.core.trial import Decision, Report, Resume, Start, Status, Suggestion, Trial


def begin(scheduler: Scheduler, trials: dict[int, Trial], trial_id: int,
          suggestion: Suggestion, time: float) -> Trial:
    """The trial `suggestion` stands for, running: a new Trial for a Start (added to
    `trials` as `trial_id`, started at `time`), or the paused trial a Resume names. A
    Resume of a trial that is not paused is the scheduler's bug: RuntimeError."""
    if isinstance(suggestion, Start):
        trial = Trial(trial_id, suggestion.config, start_time=time,
                      checkpoint_of=suggestion.checkpoint_of)
        trials[trial_id] = trial
        return trial
    if isinstance(suggestion, Resume):
        trial = trials.get(suggestion.trial_id)
        if trial is None or trial.status != Status.PAUSED:
            raise RuntimeError(
                f"scheduler {type(scheduler).__name__} asked to resume trial "
                f"{suggestion.trial_id}, which is not paused"
            )
        trial.status = Status.RUNNING
        return trial
    raise TypeError(f"scheduler returned {suggestion!r}; expected Start, Resume or None")


def report_problem(metric: str, trial: Trial, report: Report) -> str | None:
    """Why `report` of `trial` cannot be used (it lacks `metric`, the value is not a
    finite number, the fidelity did not increase), None if it can."""
    value = report.metrics.get(metric)
    if value is None:
        has = ", ".join(sorted(report.metrics)) or "nothing"
        return (f"report at {report.fidelity} lacks the metric {metric!r} (it has {has}); "
                f"report it, e.g. reporter({metric}=...)")
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"reported {metric}={value!r} at {report.fidelity}: not a finite number"
    last = trial.fidelity
    if last is not None and (report.fidelity < last or (report.fidelity == last
                                                          and not report.last)):
        return (f"reported fidelity {report.fidelity} after {last}: the fidelity must "
                "increase from one report to the next")
    return None


def decide(scheduler: Scheduler, trial: Trial, report: Report) -> Decision:
    """Hand a valid `report` of the running `trial` to the scheduler and return its
    decision, with the trial's status set by it: completed after its last report (the
    scheduler is told: on_complete), stopped, paused, or still running."""
    trial.fidelity = report.fidelity
    decision = scheduler.on_report(trial, report)
    if report.last:
        trial.status = Status.COMPLETED
        scheduler.on_complete(trial, report)
    elif decision == Decision.STOP:
        trial.status = Status.STOPPED
    elif decision == Decision.PAUSE:
        trial.status = Status.PAUSED
    return decision
