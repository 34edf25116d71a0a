"""Stoppers: rules, independent of the scheduler, that stop a trial or end the run (as
Ray Tune's stoppers do).

- MaxFidelityStopper(max_fidelity): stops a trial once it reports `max_fidelity` (Ray
  Tune's MaximumIterationStopper, counted on the fidelity).
- TrialPlateauStopper(std, num_results, grace_period): stops a trial once the population
  standard deviation of its metric over its last `num_results` reports is below `std`,
  and it has made at least `grace_period` reports (and `num_results` of them).
- ExperimentPlateauStopper(top, patience): ends the run once its `top` best trials (each
  by its best value of the metric) have not changed for `patience` trials in a row that
  ended (completed, stopped or failed), counted once `top` trials have reported.

A stopper reads the scheduler's metric and mode unless given its own `metric` (and
`mode`). A trial a stopper stops ends as if its scheduler had decided "stop" (its row
says so); the scheduler hears of it through `on_error` (the trial will not report
again). A run a stopper ends has EndReason.PLATEAU as its end_reason. Python:
`Tuner(..., stoppers=[TrialPlateauStopper(std=0.001)])`; the command line: the keys
STOPPER_KEYS under `stop.` (conf/stop/default.yaml).

Example:
    >>> stoppers = [MaxFidelityStopper(20), TrialPlateauStopper(std=0.01, num_results=3)]
"""

from __future__ import annotations

import heapq
import logging
import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from simtune.core.incumbent import counts
from simtune.core.schedulers.base import check_mode
from simtune.core.stopping import Ended, EndReason
from simtune.core.trial import Report, Trial

log = logging.getLogger("simtune.stoppers")


class Stopper:
    """A rule that stops trials (`stop_trial`) or ends the run (`on_trial_end`); subclass it
    and override either for a rule of your own."""

    def __init__(self, metric: str | None = None, mode: str | None = None) -> None:
        if metric is not None and (not isinstance(metric, str) or not metric):
            raise ValueError(f"{type(self).__name__}: metric must name a reported metric, "
                             f"got {metric!r}")
        self.metric = metric
        self.mode = None if mode is None else check_mode(mode)

    def bind(self, metric: str, mode: str) -> None:
        """Take the scheduler's `metric` and `mode` where none was given."""
        self.metric = self.metric or metric
        self.mode = self.mode or mode

    def stop_trial(self, trial: Trial, report: Report) -> str | None:
        """Why `trial` stops after `report` (not its last), None if it goes on."""
        return None

    def on_trial_end(self, trial: Trial) -> str | None:
        """Why the run ends now that `trial` ended, None if it goes on."""
        return None

    def value(self, report: Report) -> float | None:
        """The stopper's metric in `report`, None if it has no finite one."""
        value = report.metrics.get(self.metric) if self.metric else None
        return float(value) if counts(value) else None


def _count(owner: str, name: str, value: Any, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
            or not float(value).is_integer() or value < least:
        raise ValueError(f"{owner}: {name} must be an integer >= {least}, got {value!r}")
    return int(value)


class MaxFidelityStopper(Stopper):
    """Stops each trial once it reports a fidelity of `max_fidelity` or more."""

    def __init__(self, max_fidelity: int) -> None:
        super().__init__()
        self.max_fidelity = _count("MaxFidelityStopper", "max_fidelity", max_fidelity)

    def stop_trial(self, trial: Trial, report: Report) -> str | None:
        if report.fidelity >= self.max_fidelity:
            return f"reached fidelity {report.fidelity} (max_fidelity {self.max_fidelity})"
        return None


class TrialPlateauStopper(Stopper):
    """Stops a trial whose metric's standard deviation over its last `num_results`
    reports is below `std`, once it made `grace_period` reports (Ray Tune's
    TrialPlateauStopper without its metric_threshold)."""

    def __init__(self, std: float = 0.01, num_results: int = 4, grace_period: int = 4,
                 metric: str | None = None, mode: str | None = None) -> None:
        super().__init__(metric, mode)
        if isinstance(std, bool) or not isinstance(std, (int, float)) \
                or not 0 < std < math.inf:
            raise ValueError(f"TrialPlateauStopper: std must be a positive number, got {std!r}")
        self.std = float(std)
        self.num_results = _count("TrialPlateauStopper", "num_results", num_results, 2)
        self.grace_period = _count("TrialPlateauStopper", "grace_period", grace_period)
        self._window: dict[int, deque[float]] = {}
        self._n: dict[int, int] = {}

    def stop_trial(self, trial: Trial, report: Report) -> str | None:
        value = self.value(report)
        if value is None:
            return None
        tid = trial.trial_id
        window = self._window.setdefault(tid, deque(maxlen=self.num_results))
        window.append(value)
        self._n[tid] = n = self._n.get(tid, 0) + 1
        if n < self.grace_period or len(window) < self.num_results:
            return None
        spread = float(np.std(window))
        if spread < self.std:
            return (f"plateau: std of {self.metric} over its last {self.num_results} reports "
                    f"{spread:.4g} < {self.std:g}")
        return None


class ExperimentPlateauStopper(Stopper):
    """Ends the run once the `top` best trials (each by its best value) have not changed
    for `patience` trial ends in a row."""

    def __init__(self, top: int = 10, patience: int = 10, metric: str | None = None,
                 mode: str | None = None) -> None:
        super().__init__(metric, mode)
        self.top = _count("ExperimentPlateauStopper", "top", top)
        self.patience = _count("ExperimentPlateauStopper", "patience", patience)
        self._best: dict[int, float] = {}  # trial id -> its best value, as a loss
        self._last: tuple[tuple[float, int], ...] | None = None
        self._still = 0

    def stop_trial(self, trial: Trial, report: Report) -> str | None:
        value = self.value(report)
        if value is not None:
            loss = -value if self.mode == "max" else value
            old = self._best.get(trial.trial_id)
            if old is None or loss < old:
                self._best[trial.trial_id] = loss
        return None  # watches only

    def on_trial_end(self, trial: Trial) -> str | None:
        if len(self._best) < self.top:
            return None
        top = tuple(heapq.nsmallest(self.top, ((v, t) for t, v in self._best.items())))
        self._still = self._still + 1 if top == self._last else 0
        self._last = top
        if self._still >= self.patience:
            return (f"{EndReason.PLATEAU.value}: the top {self.top} trials by {self.metric} "
                    f"did not change for {self.patience} trials")
        return None


class Stoppers:
    """The Tuner's stoppers, bound to the scheduler's metric and mode."""

    def __init__(self, stoppers: Sequence[Stopper], metric: str, mode: str) -> None:
        for stopper in stoppers:
            if not isinstance(stopper, Stopper):
                raise TypeError(f"stoppers must be core.stoppers.Stopper objects, got {stopper!r}")
            stopper.bind(metric, mode)
        self.stoppers = list(stoppers)

    def __bool__(self) -> bool:
        return bool(self.stoppers)

    def stop_trial(self, trial: Trial, report: Report) -> bool:
        """True if a stopper stops `trial` after `report` (every stopper sees it)."""
        why = [w for s in self.stoppers if (w := s.stop_trial(trial, report))]
        if why and not report.last:
            log.debug("trial %d stopped at %s: %s", trial.trial_id, report.fidelity, why[0])
            return True
        return False

    def on_trial_end(self, trial: Trial) -> Ended | None:
        """Ended(PLATEAU) if a stopper ends the run now that `trial` ended."""
        for stopper in self.stoppers:
            why = stopper.on_trial_end(trial)
            if why:
                return Ended(EndReason.PLATEAU, why)
        return None


# stop.<key> of the command line -> (stopper, its parameter); None values turn one off
STOPPER_KEYS = {
    "max_trial_fidelity": (MaxFidelityStopper, "max_fidelity"),
    "trial_plateau_std": (TrialPlateauStopper, "std"),
    "trial_plateau_reports": (TrialPlateauStopper, "num_results"),
    "trial_plateau_grace": (TrialPlateauStopper, "grace_period"),
    "run_plateau_trials": (ExperimentPlateauStopper, "patience"),
    "run_plateau_top": (ExperimentPlateauStopper, "top"),
}
_SWITCHES = {MaxFidelityStopper: "max_trial_fidelity", TrialPlateauStopper: "trial_plateau_std",
             ExperimentPlateauStopper: "run_plateau_trials"}


def stoppers_from_config(entries: dict[str, Any]) -> list[Stopper]:
    """The stoppers the STOPPER_KEYS of `entries` (the config's `stop:`) turn on; a bad
    value raises ValueError with one line naming its key."""
    out: list[Stopper] = []
    for cls, switch in _SWITCHES.items():
        if entries.get(switch) is None:
            continue
        args = {param: entries[key] for key, (owner, param) in STOPPER_KEYS.items()
                if owner is cls and entries.get(key) is not None}
        try:
            out.append(cls(**args))
        except ValueError as e:
            param = str(e).partition(": ")[2].split(" ")[0]
            key = next(k for k, (o, p) in STOPPER_KEYS.items() if o is cls and p == param)
            raise ValueError(f"stop.{key} {str(e).partition(f'{param} ')[2]}") from None
    return out
