"""points_to_evaluate: configurations a scheduler suggests first, in order, then its own.

One mechanism for every scheduler (core.schedulers.create puts it in place): the
points go in front of the scheduler's searcher (`PointsFirst`), so multi-fidelity
schedulers treat them as any new configuration (bracket, rungs, promotions) and
model-based searchers learn from them as from their own suggestions. The schedulers
that hold no searcher of their own (random_scalarization) run every trial to the end,
so for them the points go in front of `suggest` itself (`PointsFirstScheduler`).

A point may be partial: missing hyperparameters take the middle of their domain on its
encoding scale (the geometric midpoint of a log domain, rounded on integer ones; the
middle category, (n - 1) // 2, of a categorical or ordinal one). On a conditional space
only the active hyperparameters are completed (a completed parent may activate children),
and a point that gives an inactive one is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simtune.core.domains import Categorical
from simtune.core.schedulers.base import Scheduler
from simtune.core.schedulers.searcher import Searcher
from simtune.core.space import Space
from simtune.core.trial import Decision, Report, Start, Suggestion, Trial


def complete_points(
    space: Space,
    points: Sequence[dict[str, Any]],
    candidates: Sequence[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Each point completed with the midpoints of the hyperparameters it lacks and
    validated; a ValueError naming the point, the hyperparameter and the value otherwise.
    With `candidates` (a table's configurations) each point must be one of them."""
    if isinstance(points, dict) or not isinstance(points, Sequence):
        raise ValueError(
            f"points_to_evaluate must be a list of configurations (dicts), got {points!r}"
        )
    keys = None if candidates is None else {space.key(c) for c in candidates}
    out = []
    for i, point in enumerate(points):
        if not isinstance(point, dict):
            raise ValueError(f"points_to_evaluate[{i}] must be a dict, got {point!r}")
        if space.conditions:
            config = _complete_active(space, point)
        else:
            config = {n: point[n] if n in point else midpoint(space, n) for n in space}
        unknown = [k for k in point if k not in space]
        try:
            space.validate({**config, **{k: point[k] for k in unknown}})
        except ValueError as e:
            raise ValueError(f"points_to_evaluate[{i}]: {e}") from None
        if keys is not None and space.key(config) not in keys:
            raise ValueError(
                f"points_to_evaluate[{i}]: {point} is not a configuration of the table; "
                "pick one of its rows"
            )
        out.append(config)
    return out


def _complete_active(space: Space, point: dict[str, Any]) -> dict[str, Any]:
    """`point` with midpoints for the active names it lacks, parents first (a completed
    parent may activate children), in space order; its inactive names are kept (and
    rejected by `Space.validate`)."""
    config = {k: v for k, v in point.items() if k in space}
    while missing := [k for k in space.active(config) if k not in config]:
        config[missing[0]] = midpoint(space, missing[0])
    return {k: config[k] for k in space if k in config}


def midpoint(space: Space, name: str) -> Any:
    """The value in the middle of hyperparameter `name`'s domain (on its encoding scale)."""
    domain = space[name]
    if name in space.constants:
        return domain
    if isinstance(domain, Categorical):
        return domain.categories[(len(domain.categories) - 1) // 2]
    return domain.decode([0.5])


class PointsFirst(Searcher):
    """Hands out `points` in order, then defers to `inner`; forwards every observation.

    Example:
        >>> s = PointsFirst(RandomSearcher(space, rng=rng), [{"x": 0.5}])
        >>> s.suggest()
        {'x': 0.5}
    """

    def __init__(self, inner: Searcher, points: Sequence[dict[str, Any]]) -> None:
        self.inner = inner
        self.points = [dict(p) for p in points]
        self._next = 0

    def suggest(self) -> dict[str, Any] | None:
        if self._next < len(self.points):
            self._next += 1
            return dict(self.points[self._next - 1])
        return self.inner.suggest()

    def set_fidelities(self, levels: Sequence[int], fidelities: Sequence[int]) -> None:
        self.inner.set_fidelities(levels, fidelities)

    def set_level(self, level: int) -> None:
        self.inner.set_level(level)

    def on_start(self, trial_id: int, config: dict[str, Any]) -> None:
        self.inner.on_start(trial_id, config)

    def observe(self, trial_id: int, fidelity: int, value: float) -> None:
        self.inner.observe(trial_id, fidelity, value)

    def observe_constraints(self, trial_id: int, fidelity: int, value: float,
                            constraints: dict[str, float]) -> None:
        self.inner.observe_constraints(trial_id, fidelity, value, constraints)

    def on_cost(self, trial_id: int, seconds: float) -> None:
        self.inner.on_cost(trial_id, seconds)

    def on_end(self, trial_id: int) -> None:
        self.inner.on_end(trial_id)

    def inherit(self, trial_id: int, config: dict[str, Any],
                observations: Sequence[tuple[int, Any]]) -> None:
        self.inner.inherit(trial_id, config, observations)

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def metadata(self) -> dict[str, Any]:
        return {**self.inner.metadata(), "points_to_evaluate": self.points}


class PointsFirstScheduler(Scheduler):
    """`inner` (a scheduler that runs every trial to the end), after `points`; any other
    attribute is the inner one's."""

    def __init__(self, inner: Scheduler, points: Sequence[dict[str, Any]]) -> None:
        self.inner, self.points = inner, [dict(p) for p in points]
        self.metric, self.mode = inner.metric, inner.mode
        self._next = 0

    def suggest(self, trial_id: int) -> Suggestion | None:
        if self._next < len(self.points):
            self._next += 1
            return Start(dict(self.points[self._next - 1]))
        return self.inner.suggest(trial_id)

    def on_start(self, trial: Trial) -> None:
        self.inner.on_start(trial)

    def on_report(self, trial: Trial, report: Report) -> Decision:
        return self.inner.on_report(trial, report)

    def on_complete(self, trial: Trial, report: Report) -> None:
        self.inner.on_complete(trial, report)

    def on_error(self, trial: Trial) -> None:
        self.inner.on_error(trial)

    def inherit(self, trial: Trial, reports: Sequence[Report]) -> None:
        self.inner.inherit(trial, reports)

    def on_constraints(self, trial: Trial, fidelity: int, value: float,
                       constraints: dict[str, float]) -> None:
        self.inner.on_constraints(trial, fidelity, value, constraints)

    def metadata(self) -> dict[str, Any]:
        return {**self.inner.metadata(), "points_to_evaluate": self.points}

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
