"""Warnings for runs that go ahead but look misconfigured: a mode the metric's name
contradicts, a training that reports past max_fidelity, or one that never gets there.

The Tuner calls them (`RunChecks`), so experiments/run.py and the Python API say the same.

Example:
    >>> mode_mismatch("val_loss", "max")
    "mode=max for the metric 'val_loss', whose name says lower is better ('loss'); ..."
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from simtune.core.trial import Report

log = logging.getLogger("simtune.checks")

# words of a metric's name that say which way is better
LOWER_IS_BETTER = frozenset({
    "loss", "error", "err", "regret", "mse", "rmse", "mae", "mape", "nll", "perplexity",
    "time", "runtime", "latency",
})
HIGHER_IS_BETTER = frozenset({
    "accuracy", "acc", "auc", "r2", "f1", "score", "precision", "recall", "reward",
})
NEGATED = frozenset({"neg", "negative", "minus"})  # neg_mse: higher is better
ALONE_AMBIGUOUS = frozenset({"f1"})  # a name of its own: a function value (zdt1's f1, f2)


def words(name: str) -> list[str]:
    """The lower-case words of a metric's name: split at non-alphanumerics and camelCase
    ("valLoss" -> ["val", "loss"]), so that "terror" is one word, not "error"."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]


def mode_mismatch(metric: str, mode: str) -> str | None:
    """What is odd about optimizing `metric` in `mode` (a loss maximized, an accuracy
    minimized), judged by the words of its name; None if nothing is (or the name says
    both ways, or is negated: neg_mse)."""
    found = words(metric)
    if NEGATED.intersection(found):
        return None
    lower = [w for w in found if w in LOWER_IS_BETTER or w.endswith("loss")]  # logloss
    higher = [w for w in found if w in HIGHER_IS_BETTER
              and not (w in ALONE_AMBIGUOUS and len(found) == 1)]
    if lower and higher:
        return None
    if mode == "max" and lower:
        better, fix = "lower", "min"
        word = lower[0]
    elif mode == "min" and higher:
        better, fix = "higher", "max"
        word = higher[0]
    else:
        return None
    return (f"mode={mode} for the metric {metric!r}, whose name says {better} is better "
            f"({word!r}); if it is, set mode={fix} (benchmark.mode={fix} with "
            "benchmark=custom)")


def warn_modes(objectives: Mapping[str, str]) -> list[str]:
    """Log a warning for each objective (name -> mode) whose mode its name contradicts."""
    found = [w for w in (mode_mismatch(m, mode) for m, mode in objectives.items()) if w]
    for warning in found:
        log.warning(warning)
    return found


class RunChecks:
    """What the Tuner checks of a run as it goes: the modes at the start, each report
    against `max_fidelity` (the backend's; with none, the scheduler's max_resource), and at
    the end whether any trial got there.

    A backend that knows no max_fidelity attribute (the simulator: its table ends there)
    is not checked for fidelities.

    Example:
        >>> checks = RunChecks(scheduler, backend)
        >>> checks.start(); checks.on_report(report); checks.warnings()
    """

    def __init__(self, scheduler: Any, backend: Any) -> None:
        self.scheduler = scheduler
        self.max_fidelity: int | None = None
        if hasattr(backend, "max_fidelity"):  # a real training
            self.max_fidelity = backend.max_fidelity or getattr(scheduler, "max_resource", None)
        self.fidelity = getattr(backend, "fidelity", None) or "fidelity"
        self._past_said = False
        self._reached = False
        self._completed: list[int] = []  # the last fidelity of each trial run to its end

    def start(self) -> list[str]:
        """Warn of each objective whose mode its name contradicts (see `mode_mismatch`)."""
        sched = self.scheduler
        objectives = getattr(sched, "objectives", None) or {sched.metric: sched.mode}
        return warn_modes(objectives)

    def on_report(self, report: Report) -> None:
        """Check a valid report; say once if it is past max_fidelity."""
        top = self.max_fidelity
        if top is None:
            return
        if report.fidelity >= top:
            self._reached = True
        if report.fidelity > top and not self._past_said:
            self._past_said = True
            log.warning(
                "trial %d reported %s=%d, past max_fidelity=%d: the training runs longer "
                "than the tuner plans for (rung levels, the last report); set max_fidelity "
                "to the last %s it reports (benchmark.max_fidelity with benchmark=custom), or "
                "make it stop at max_fidelity (said once)",
                report.trial_id, self.fidelity, report.fidelity, top, self.fidelity,
            )
        if report.last:
            self._completed.append(report.fidelity)

    def warnings(self) -> list[str]:
        """What the run's summary should say: trials ran to their end, none to max_fidelity."""
        if self.max_fidelity is None or self._reached or not self._completed:
            return []
        return [
            f"no trial reached max_fidelity={self.max_fidelity}, though "
            f"{len(self._completed)} ran to their end (the furthest at {self.fidelity}="
            f"{max(self._completed)}): the training stops early (e.g. an epochs constant in "
            f"the space below max_fidelity); make it train to max_fidelity, or set "
            f"max_fidelity to its last {self.fidelity} (benchmark.max_fidelity with "
            "benchmark=custom)"
        ]
