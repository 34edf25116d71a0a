"""A run's incumbent: its one answer to "which configuration is best".

Definition (used by the Tuner's summary and status line, metadata.json, RunResults.best,
run.png's star and the analysis): among the reports at the highest fidelity any trial
reached, the one with the best value of the run's metric (lowest for mode "min",
highest for "max"); a tie goes to the earlier report. Reports without a finite value
do not count. A trial stopped early at a low fidelity therefore never beats a trial
that trained further, however good its early value looked. A run without a fidelity
(every report at the same one) takes the best value of all.

`rank` is that definition as a sort key: the incumbent is the report of highest rank.

Example:
    >>> rank(30, 0.5, "max") > rank(6, 0.9, "max")
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


def rank(fidelity: Any, value: float, mode: str) -> tuple[float, float]:
    """Sort key of a report: higher fidelity first, then the better value."""
    try:
        level = float(fidelity)
    except (TypeError, ValueError):
        level = -math.inf
    if level != level:  # NaN: no fidelity recorded
        level = -math.inf
    return level, (-value if mode == "min" else value)


def counts(value: Any) -> bool:
    """True if `value` is a finite number (a report with it can be the incumbent)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def best_of(reports: Iterable[tuple[Any, Any, Any]], mode: str) -> Any:
    """The key of the incumbent among `reports` of (key, fidelity, value), in time
    order; None if no value counts."""
    live = Incumbent(mode)
    for key, fidelity, value in reports:
        live.offer(key, fidelity, value)
    return live.trial_id


def incumbent(rows: Any, metric: str, mode: str, fidelity: str | None = None) -> Any:
    """The incumbent row of `rows` (a DataFrame of reports in time order, e.g. a
    results.csv), None if no row has a finite `metric`. `fidelity` names the fidelity
    column (None or absent: all reports count as one fidelity)."""
    if metric not in rows.columns:
        return None
    levels = rows[fidelity] if fidelity and fidelity in rows.columns else [None] * len(rows)
    index = best_of(zip(rows.index, levels, rows[metric], strict=True), mode)
    return None if index is None else rows.loc[index]


@dataclass
class Incumbent:
    """The incumbent as a run goes: feed each valid report with `offer`, in time order.

    Example:
        >>> inc = Incumbent("max")
        >>> inc.offer(0, 6, 0.9), inc.offer(1, 30, 0.5), inc.offer(2, 30, 0.4)
        (True, True, False)
        >>> inc.trial_id, inc.fidelity, inc.value
        (1, 30, 0.5)
    """

    mode: str
    trial_id: int | None = None
    fidelity: Any = None
    value: float | None = None

    def offer(self, trial_id: int, fidelity: Any, value: float) -> bool:
        """Take this report if it is the new incumbent; True if it is."""
        if not counts(_plain(value)) or (
            self.value is not None
            and rank(fidelity, value, self.mode) <= rank(self.fidelity, self.value, self.mode)
        ):
            return False
        self.trial_id, self.fidelity, self.value = trial_id, _plain(fidelity), float(value)
        return True


def describe(best: dict[str, Any] | None) -> str:
    """A run's `best` (as metadata.json records it) in words, e.g. for its last log line.

    >>> describe({"trial_id": 3, "value": 0.5, "fidelity": 30, "config": {"lr": 0.1}})
    "trial 3, value 0.5 at fidelity 30, config {'lr': 0.1}"
    """
    if best is None:
        return "none (no valid report)"
    return (f"trial {best['trial_id']}, value {best['value']:.6g} at fidelity "
            f"{best['fidelity']}, config {best['config']}")


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
