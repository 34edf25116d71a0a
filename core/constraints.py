"""Outcome constraints: metrics a training reports that must be <= 0 for a trial to count.

A report is *feasible* when every constraint metric it carries is a number <= 0; a
missing or NaN constraint value makes it infeasible (as Optuna's TPE treats a missing
`constraints_func` value). Its *violation* is sum(max(c, 0)) over the constraints
(infinite if one is missing): Optuna's ranking of infeasible trials. The incumbent, `best`,
the figures and the analysis count only feasible reports; the schedulers see an
infeasible report's metric as NaN, which every one of them ranks last (`Tuner`), and the
model-based searchers also get the values themselves (`Searcher.observe_constraints`).

Example:
    >>> feasible({"loss": 0.3, "mem_over_budget": -2.0}, ("mem_over_budget",))
    True
    >>> violation({"c1": 0.5, "c2": -1.0}, ("c1", "c2"))
    0.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from simtune.core.trial import Report, Trial


def constraint_values(metrics: Mapping[str, Any], names: Sequence[str]) -> np.ndarray:
    """The values of the constraints `names` in `metrics`, NaN where one is missing or
    not a number."""
    return np.array([_number(metrics.get(n)) for n in names], dtype=float)


def feasible(metrics: Mapping[str, Any], names: Sequence[str]) -> bool:
    """True if every constraint of `names` is a number <= 0 in `metrics` (no names: True)."""
    return bool(np.all(constraint_values(metrics, names) <= 0))  # NaN <= 0 is False


def violation(metrics: Mapping[str, Any] | np.ndarray, names: Sequence[str] = ()) -> float:
    """sum(max(c, 0)) over the constraint values (of `names` in `metrics`, or the array
    itself); inf if one is missing (NaN)."""
    c = metrics if isinstance(metrics, np.ndarray) else constraint_values(metrics, names)
    if np.isnan(c).any():
        return math.inf
    return float(np.maximum(c, 0.0).sum())


def feasible_rows(rows: Any, names: Sequence[str]) -> np.ndarray:
    """A boolean mask of the feasible rows of `rows` (a DataFrame of reports, e.g. a
    results.csv); a constraint without a column makes every row infeasible."""
    import pandas as pd

    mask = np.ones(len(rows), dtype=bool)
    for name in names:
        if name not in rows.columns:
            return np.zeros(len(rows), dtype=bool)
        values = pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=float)
        mask &= values <= 0
    return mask


def masked(report: Report, metric: str) -> Report:
    """`report` as the scheduler sees it when it is infeasible: `metric` is NaN, which
    every scheduler ranks last (rungs.to_loss, searcher.nan_as_worst, REA, DE)."""
    return Report(report.trial_id, report.time, report.fidelity,
                  {**report.metrics, metric: math.nan}, report.last)


def check_constraints(
    constraints: Iterable[str] | None, *, metric: str, reported: Sequence[str] | None,
    fidelity: str | None = None, where: str = "constraints",
) -> tuple[str, ...]:
    """`constraints` as a tuple of metric names, checked: each a name other than the
    `metric` and the `fidelity`, listed once, and (unless `reported` is None: your own
    training, whose metrics are known only when it reports) among the `reported` metrics.
    A ValueError with one line otherwise."""
    if constraints is None:
        return ()
    if isinstance(constraints, str) or not isinstance(constraints, Iterable):
        raise ValueError(f"{where} must be a list of metric names, e.g. "
                         f"{where}=[mem_over_budget]; got {constraints!r}")
    names = tuple(constraints)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: {name!r} is not a metric name; name the metrics your "
                             f"training reports that must be <= 0, e.g. {where}=[mem_over_budget]")
        if name in (metric, fidelity):
            what = "the metric to optimize" if name == metric else "the fidelity"
            raise ValueError(f"{where}: {name!r} is {what}; a constraint is another reported "
                             "metric that must be <= 0")
        if reported is not None and name not in reported:
            raise ValueError(f"{where}: {name!r} is not a metric of this benchmark; its "
                             f"metrics: {', '.join(reported)}")
    if len(set(names)) < len(names):
        raise ValueError(f"{where} lists a metric twice: {list(names)}")
    return names


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return math.nan
    return float(value)


__all__ = ["check_constraints", "constraint_values", "feasible", "feasible_rows", "masked",
           "violation"]


def feasible_view(scheduler: Any, constraints: Sequence[str], trial: Trial,
                  report: Report) -> tuple[Report, bool]:
    """(`report` as `scheduler` sees it, whether it is feasible). Without constraints, the
    report itself; with them, the scheduler is given the constraint values first
    (`on_constraints`), and an infeasible report's metric is NaN."""
    if not constraints:
        return report, True
    metric = scheduler.metric
    values = dict(zip(constraints, constraint_values(report.metrics, constraints).tolist(),
                      strict=True))
    scheduler.on_constraints(trial, report.fidelity, report.metrics[metric], values)
    if feasible(report.metrics, constraints):
        return report, True
    return masked(report, metric), False
