"""HPO algorithms, one per module, and the name -> class registry used by configs.

Classes are imported only when built, so `import core` stays fast. To add a scheduler,
add one line "name": "module:Class" to SCHEDULERS and a conf/scheduler/<name>.yaml.

From Python, build one by name with keywords (no context dict):

    create(name, *, space, metric=None, mode="min", objectives=None, fidelities=None,
           max_fidelity=None, seed=None, rng=None, candidates=None,
           points_to_evaluate=None, **scheduler_args) -> Scheduler

    >>> from core.schedulers import create
    >>> asha = create("asha", space=space, metric="loss", mode="min", max_fidelity=20,
    ...               seed=0, eta=3, points_to_evaluate=[{"lr": 0.01}])

`experiments/run.py` uses `make_scheduler(name, context, **params)`, where context holds
space, metric, mode, objectives, fidelities, rng and candidates.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.schedulers.base import Scheduler, signature
from core.schedulers.points import complete_points, with_points
from core.schedulers.searcher import Searcher
from core.seeds import run_rngs
from core.space import Space

SCHEDULERS: dict[str, str] = {
    "asha": "core.schedulers.asha:ASHA",
    "bohb": "core.schedulers.bohb:BOHB",
    "dehb": "core.schedulers.dehb:DEHB",
    "hyperband": "core.schedulers.hyperband:Hyperband",
    "median_stopping": "core.schedulers.median_stopping:MedianStopping",
    "mobster": "core.schedulers.mobster:MOBSTER",
    "pasha": "core.schedulers.pasha:PASHA",
    "pbt": "core.schedulers.pbt:PBT",
    "sync_hyperband": "core.schedulers.sync_hyperband:SyncHyperband",
    "sync_sh": "core.schedulers.sync_hyperband:SyncSuccessiveHalving",
    "bo": "core.schedulers.bo:BayesianOptimization",
    "grid": "core.schedulers.grid:GridSearch",
    "random": "core.schedulers.random:RandomSearch",
    "rea": "core.schedulers.rea:RegularizedEvolution",
    "tpe": "core.schedulers.tpe:TPE",
    "moasha": "core.schedulers.moasha:MOASHA",
    "morea": "core.schedulers.morea:MOREA",
    "random_scalarization": "core.schedulers.random_scalarization:RandomScalarization",
}


# searchers (which configuration next), plugged into schedulers by name: `searcher: tpe`
SEARCHERS: dict[str, str] = {
    "random": "core.schedulers.random:RandomSearcher",
    "grid": "core.schedulers.grid:GridSearcher",
    "bo": "core.schedulers.bo:GPSearcher",
    "tpe": "core.schedulers.tpe:TPESearcher",
    "rea": "core.schedulers.rea:REASearcher",
    "de": "core.schedulers.dehb:DESearcher",
}


def _load(kind: str, registry: dict[str, str], name: str) -> type:
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; available: {', '.join(sorted(registry))}")
    module, _, cls = registry[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def scheduler_class(name: str) -> type[Scheduler]:
    """The class registered as `name`; unknown names get an error listing the valid ones."""
    return _load("scheduler", SCHEDULERS, name)


def scheduler_names(
    *, multi_fidelity: bool | None = None, multi_objective: bool | None = None
) -> list[str]:
    """The registered schedulers, in registry order, with the declared kind asked for
    (None: either); e.g. `scheduler_names(multi_objective=False)` are the single-objective
    ones. Kinds are class attributes (`Scheduler.multi_fidelity`, `.multi_objective`)."""
    names = []
    for name in SCHEDULERS:
        cls = scheduler_class(name)
        if multi_fidelity is not None and cls.multi_fidelity is not multi_fidelity:
            continue
        if multi_objective is not None and cls.multi_objective is not multi_objective:
            continue
        names.append(name)
    return names


def parameters(cls: type) -> set[str]:
    """The keyword parameters of `cls`'s constructor, following **kwargs to its bases;
    a FIFO scheduler (`searcher_class`) also takes its searcher's."""
    names = set(signature(cls))
    searcher = getattr(cls, "searcher_class", None)
    if searcher is not None:
        names |= parameters(searcher)
    return names


NO_DEFAULT = object()  # argument_default: the argument has none (or does not exist)


def argument_default(scheduler: str, key: str, searcher: str | None = None) -> Any:
    """The default of scheduler `scheduler`'s argument `key` (its yaml may set another),
    or, with `searcher`, of that searcher's argument `key` (for `searcher_args`);
    NO_DEFAULT if there is none."""
    try:
        cls = _load("searcher", SEARCHERS, searcher) if searcher else scheduler_class(scheduler)
    except (ValueError, TypeError):
        return NO_DEFAULT
    defaults = {} if searcher else getattr(cls, "defaults", {})
    if key in defaults:
        return defaults[key]
    for klass in (cls, getattr(cls, "searcher_class", None)):
        param = signature(klass).get(key) if klass is not None else None
        if param is not None:
            return NO_DEFAULT if param.default is param.empty else param.default
    return NO_DEFAULT


def needs_fidelities(name: str, args: Mapping[str, Any]) -> bool:
    """True if scheduler `name` with `args` decides by fidelity (its constructor requires
    `fidelities`, or it models them: fidelity_aware=True), so it cannot do without them."""
    param = signature(scheduler_class(name)).get("fidelities")
    required = param is not None and param.default is param.empty
    return required or bool(args.get("fidelity_aware"))


def make_searcher(name: str, context: Mapping[str, Any], **params: Any) -> Searcher:
    """The searcher `name` built from the `context` entries its constructor names (space,
    mode, rng, candidates, ...), plus `params`; unknown parameters get an error."""
    cls = _load("searcher", SEARCHERS, name)
    accepted = parameters(cls)
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(
            f"searcher {name!r} has no parameter {unknown[0]!r}; its parameters: "
            f"{sorted(accepted - set(context))}"
        )
    return cls(**{k: v for k, v in context.items() if k in accepted}, **params)


def resolve_searcher(
    owner: str,
    searcher: Searcher | str | None,
    searcher_args: Mapping[str, Any] | None,
    context: Mapping[str, Any],
) -> Searcher:
    """A scheduler's searcher: `searcher` itself, or the one named `searcher` built by
    `make_searcher` from `context` (space, mode, rng, candidates, fidelities) and
    `searcher_args`, or random search when None."""
    if isinstance(searcher, str):
        return make_searcher(searcher, context, **(searcher_args or {}))
    if searcher_args:
        raise ValueError(f"{owner}: searcher_args needs a searcher given by name")
    if searcher is not None:
        return searcher
    from core.schedulers.random import RandomSearcher

    return RandomSearcher(context["space"], rng=context["rng"], candidates=context["candidates"])


def make_scheduler(name: str, context: dict[str, Any], **params: Any) -> Scheduler:
    """Build the scheduler `name` with its `params`.

    `context` holds what the benchmark knows: space, metric, mode, objectives
    (name -> mode), fidelities, rng, candidates; each scheduler takes the entries its
    constructor names. Unknown parameters get an error listing the valid ones.
    `points_to_evaluate` (every scheduler takes it) lists configurations to suggest
    first, in order (see core/schedulers/points.py).
    """
    cls = scheduler_class(name)
    context = {**context, "space": Space.of(context["space"])}  # a dict works as well
    points = params.pop("points_to_evaluate", None)
    accepted = parameters(cls)
    unknown = sorted(set(params) - accepted | (set(params) & set(context)))
    if unknown:
        valid = sorted({*accepted, "points_to_evaluate"} - set(context))
        raise ValueError(
            f"scheduler {name!r} has no parameter {unknown[0]!r}; its parameters: {valid}"
        )
    if points is not None:
        points = complete_points(context["space"], points, context.get("candidates"))
    scheduler = cls(**{k: v for k, v in context.items() if k in accepted}, **params)
    return with_points(scheduler, points or [])


def create(
    name: str,
    *,
    space: Space | Mapping[str, Any],
    metric: str | None = None,
    mode: str = "min",
    objectives: Mapping[str, str] | None = None,
    fidelities: Sequence[int] | None = None,
    max_fidelity: int | None = None,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    candidates: Sequence[dict[str, Any]] | None = None,
    points_to_evaluate: Sequence[dict[str, Any]] | None = None,
    **scheduler_args: Any,
) -> Scheduler:
    """The scheduler `name` for `space`, without assembling a context by hand.

    `metric`/`mode` name the objective (default: the first of `objectives`);
    `objectives` (name -> mode) defaults to {metric: mode}. The fidelities are
    `fidelities`, or 1..`max_fidelity`, or [1] for a single-fidelity scheduler (a
    multi-fidelity one needs either: without, a ValueError says so). Randomness
    comes from `rng`, or from `seed` (default 0) as the scheduler's stream of a run
    (core.seeds.run_rngs), so `create(name, ..., seed=s)` decides as a run with seed=s.
    `scheduler_args` are the scheduler's own parameters (its conf/scheduler/<name>.yaml).
    `space` is a Space or a dict {name: domain or constant} (Syne Tune's config_space).

    Example:
        >>> create("asha", space=space, metric="loss", mode="min", max_fidelity=20, seed=0)
    """
    if objectives is None:
        if metric is None:
            raise ValueError(f"create({name!r}): give metric (and mode) or objectives")
        objectives = {metric: mode}
    elif metric is None:
        metric, mode = next(iter(objectives.items()))
    elif metric in objectives:
        mode = objectives[metric]
    if fidelities is not None and max_fidelity is not None:
        raise ValueError(f"create({name!r}): give fidelities or max_fidelity, not both")
    if max_fidelity is not None:
        if isinstance(max_fidelity, bool) or not isinstance(max_fidelity, int) or max_fidelity < 1:
            raise ValueError(
                f"create({name!r}): max_fidelity must be a positive integer, got {max_fidelity!r}"
            )
        fidelities = list(range(1, max_fidelity + 1))
    elif fidelities is None and needs_fidelities(name, scheduler_args):
        raise ValueError(
            f"create({name!r}): {name} is a multi-fidelity scheduler: give max_fidelity "
            "(the last fidelity a trial reports, e.g. max_fidelity=20 for 20 epochs) or "
            "fidelities=[...]"
        )
    if rng is not None and seed is not None:
        raise ValueError(f"create({name!r}): give seed or rng, not both")
    if rng is None:
        rng = run_rngs(seed or 0)[0]
    context = {
        "space": space,
        "metric": metric,
        "mode": mode,
        "objectives": dict(objectives),
        "fidelities": list(fidelities) if fidelities is not None else [1],
        "rng": rng,
        "candidates": candidates,
    }
    if points_to_evaluate is not None:
        scheduler_args["points_to_evaluate"] = points_to_evaluate
    return make_scheduler(name, context, **scheduler_args)


__all__ = [
    "SCHEDULERS",
    "SEARCHERS",
    "Scheduler",
    "argument_default",
    "create",
    "make_scheduler",
    "make_searcher",
    "scheduler_class",
    "scheduler_names",
]
