"""Retries of failed trials (`retries=N`; Python: `Tuner(..., retries=N)`).

A trial that fails on its backend (a crash, a non-zero exit, a killed worker, a failed
SageMaker job; not a report the Tuner rejects, such as a missing metric, nor output that
breaks the report protocol, such as a report without the fidelity or a malformed line:
those would fail again, Failure.retryable) is started again from its newest checkpoint
(Backend.restart) up to N times before it counts as failed. Each retry is one row of
results.csv: status "retried", the fidelity the trial had reached, no metrics. The
restarted training continues its curve: its reports at fidelities the trial already
reported (a checkpoint older than its last report) are dropped, so no row repeats. The
rows are the run's state: a resumed run replays the "retried" rows
(core.results.recorded_events) and so keeps each trial's count of retries. Neither the
scheduler nor the stop rules hear of a retry.

Example:
    >>> Tuner(scheduler=sched, backend=PythonBackend(train), stop=stop, retries=2)  # doctest: +SKIP
"""

from __future__ import annotations

import logging

from simtune.core.trial import Failure, Report, Trial

log = logging.getLogger("simtune.retries")


def check_retries(retries: object) -> int:
    """`retries` as a count; ValueError with one line if it is not a non-negative integer."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(
            f"retries must be a non-negative integer (e.g. retries=2), got {retries!r}"
        )
    return retries


class Retries:
    """How many times each trial was retried, out of `retries` allowed per trial."""

    def __init__(self, retries: int = 0) -> None:
        self.retries = check_retries(retries)
        self.counts: dict[int, int] = {}  # trial id -> retries so far

    def __bool__(self) -> bool:
        return self.retries > 0

    def take(self, trial: Trial, failure: Failure) -> bool:
        """True if the failed `trial` is retried (and count it), False if it has failed."""
        n = self.counts.get(trial.trial_id, 0)
        if n >= self.retries:
            return False
        self.counts[trial.trial_id] = n + 1
        log.warning("%s; retry %d of %d from its newest checkpoint (its output: the trial "
                    "directory)", failure.reason.splitlines()[0], n + 1, self.retries)
        return True

    def repeated(self, trial: Trial, report: Report) -> bool:
        """True if `report` of a retried `trial` is at a fidelity it reported already (its
        restart began from an older checkpoint): the Tuner drops it."""
        last = trial.fidelity
        return (trial.trial_id in self.counts and last is not None
                and (report.fidelity < last or (report.fidelity == last and not report.last)))
