"""The records that pass between Tuner, scheduler and backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    """Where a trial is in its life."""

    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"
    RETRIED = "retried"  # a row only: the trial failed and restarts (core.retries)


class Decision(str, Enum):
    """What the scheduler wants done with a trial after a report."""

    CONTINUE = "continue"
    PAUSE = "pause"
    STOP = "stop"


@dataclass
class Trial:
    """One evaluation of the training job on one configuration.

    Example:
        >>> Trial(trial_id=0, config={"lr": 0.1})
    """

    trial_id: int
    config: dict[str, Any]
    status: Status = Status.RUNNING
    fidelity: int | None = None  # last fidelity reported
    start_time: float = 0.0
    checkpoint_of: int | None = None  # trial whose checkpoint this one starts from (PBT)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Report:
    """Metrics of a trial at one fidelity, stamped with the backend's clock.

    Example:
        >>> Report(trial_id=0, time=12.5, fidelity=1, metrics={"val_acc": 80.1})
    """

    trial_id: int
    time: float
    fidelity: int
    metrics: dict[str, float]
    last: bool = False  # the trial has nothing more to report


@dataclass(slots=True)
class Failure:
    """A trial that failed, with a one-line reason. `retryable=False`: the trial's own output
    broke the report protocol (a report without the fidelity, a malformed line), which a
    retry (core.retries) would only repeat."""

    trial_id: int
    time: float
    reason: str
    retryable: bool = True


@dataclass(frozen=True, slots=True)
class Start:
    """Suggestion: start a new trial on `config`."""

    config: dict[str, Any]
    checkpoint_of: int | None = None


@dataclass(frozen=True, slots=True)
class Resume:
    """Suggestion: resume the paused trial `trial_id` from its checkpoint."""

    trial_id: int


Suggestion = Start | Resume
Event = Report | Failure
