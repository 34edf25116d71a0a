"""BoundingBox: search only the box of the source tasks' best configurations (Perrone et al.
2019, "Learning search spaces for Bayesian optimization")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from simtune.core.domains import Categorical, Domain, Interval, Ordinal
from simtune.core.schedulers.base import Scheduler, check_count, check_mode, mode_sign
from simtune.core.schedulers.fifo import FIFOScheduler
from simtune.core.schedulers.searcher import Searcher
from simtune.core.schedulers.transfer.data import TransferData, source_data
from simtune.core.space import Space
from simtune.core.trial import Decision, Report, Suggestion, Trial


class BoundingBox(Scheduler):
    """The space shrunk to the box of the `top_k` best configurations of each source task
    (numeric hyperparameters: from their least to their greatest value; categorical: the
    set of their values), searched by the searcher `searcher` builds for it (default bo,
    or random) with FIFO scheduling. A trial outside the box (points_to_evaluate, a warm
    start) runs but is not shown to the searcher. On a table only the table's
    configurations inside the box are candidates; once every one is used, the run ends.

    `searcher` is called as `searcher(rng, space=box, candidates=rows, mode=mode)`
    (core.schedulers.SearcherFactory).

    Example:
        >>> BoundingBox(searcher=SearcherFactory("bo", ctx, {}), space=space, metric="loss",
        ...             mode="min", rng=rng, sources=["outputs/earlier"])  # doctest: +SKIP
    """

    name = "bounding_box"
    multi_fidelity = False  # every trial runs to the end

    def __init__(
        self,
        *,
        searcher: Callable[..., Searcher],
        space: Space,
        metric: str,
        mode: str,
        rng: np.random.Generator,
        candidates: Sequence[dict[str, Any]] | None = None,
        transfer: TransferData | None = None,
        sources: Any = None,
        top_k: int = 3,
    ) -> None:
        self.searcher, self.metric, self.mode = searcher, metric, check_mode(mode)
        self.sources = sources
        self.top_k = check_count(self.name, "top_k", top_k)
        self.data = source_data(self.name, transfer, sources, metric, space)
        self.box = bounding_space(space, top_configs(self.data, mode_sign(mode), self.top_k))
        inside = None
        if candidates is not None:
            inside = [c for c in candidates if in_space(self.box, c)]
            if not inside:
                raise ValueError(f"{self.name}: no configuration of the table lies in the box "
                                 "of the sources' best; raise top_k or name other sources")
        self.n_inside = len(inside) if inside is not None else self.box.size()
        self._fifo = FIFOScheduler(searcher=searcher(rng, space=self.box, candidates=inside,
                                                     mode=self.mode),
                                   metric=metric, mode=self.mode)

    def derived(self) -> dict[str, Any]:
        return {"source_tasks": self.data.sizes(), "box": self.box.to_dict(),
                "box_configs": self.n_inside}

    def suggest(self, trial_id: int) -> Suggestion | None:
        return self._fifo.suggest(trial_id)

    def _inside(self, trial: Trial) -> bool:
        return in_space(self.box, trial.config)

    def on_start(self, trial: Trial) -> None:
        if self._inside(trial):
            self._fifo.on_start(trial)

    def on_report(self, trial: Trial, report: Report) -> Decision:
        return self._fifo.on_report(trial, report) if self._inside(trial) else Decision.CONTINUE

    def on_complete(self, trial: Trial, report: Report) -> None:
        if self._inside(trial):
            self._fifo.on_complete(trial, report)

    def on_error(self, trial: Trial) -> None:
        if self._inside(trial):
            self._fifo.on_error(trial)

    def inherit(self, trial: Trial, reports: Sequence[Report]) -> None:
        if self._inside(trial):
            self._fifo.inherit(trial, reports)

    def on_constraints(self, trial: Trial, fidelity: int, value: float,
                       constraints: dict[str, float]) -> None:
        if self._inside(trial):
            self._fifo.on_constraints(trial, fidelity, value, constraints)


def top_configs(data: TransferData, sign: float, k: int) -> list[dict[str, Any]]:
    """The `k` best configurations of each source task (`sign` * value lowest)."""
    top = []
    for task in data.tasks:
        y = sign * np.asarray(task.values, dtype=float)
        y = np.where(np.isfinite(y), y, np.inf)
        top += [task.configs[i] for i in np.argsort(y, kind="stable")[:k] if np.isfinite(y[i])]
    return top


def bounding_space(space: Space, configs: Sequence[dict[str, Any]]) -> Space:
    """`space` with each hyperparameter shrunk to what `configs` hold: a numeric range to
    [least, greatest], a categorical to the set of values (in the space's order); one no
    config holds (inactive in all) stays as it is. Conditions and forbidden combinations
    are kept."""
    domains: dict[str, Any] = {}
    for name in space:
        domain = space[name]
        values = [c[name] for c in configs if name in c]
        domains[name] = shrunk(domain, values) if isinstance(domain, Domain) and values \
            else domain
    return Space(domains, conditions=space.conditions or None,
                 forbidden=space.forbidden or None)


def shrunk(domain: Domain, values: list) -> Domain:
    """`domain` restricted to the least box holding `values`: an interval or an ordered
    domain to the range between the least and the greatest, a categorical to the set."""
    if isinstance(domain, Interval):
        low, high = min(values), max(values)
        if domain.integer:
            low, high = int(round(low)), int(round(high))
        return type(domain)(low, high)
    assert isinstance(domain, Categorical)
    held = sorted({domain.index(v) for v in values})
    if isinstance(domain, Ordinal):  # FiniteRange too: the ordered points in between
        return Ordinal(domain.categories[held[0]:held[-1] + 1])
    return Categorical([domain.categories[i] for i in held])


def in_space(space: Space, config: dict[str, Any]) -> bool:
    """True if `config` is a valid configuration of `space`."""
    try:
        space.validate(config)
    except ValueError:
        return False
    return True
