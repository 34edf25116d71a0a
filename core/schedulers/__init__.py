"""HPO algorithms, one per module, and the registry that turns names and config into them.

Only this module builds by name: `create` (and `make_scheduler`, the same from a context
dict) looks the name up in SCHEDULERS, builds the searcher the scheduler uses (SEARCHERS)
and any scheduler it wraps, puts `points_to_evaluate` in front, and hands the built
objects to the scheduler's constructor. The algorithm modules never import this one.
Classes are imported only when built, so `import simtune` stays fast. To add a scheduler,
add an entry to SCHEDULERS and a conf/scheduler/<name>.yaml that lists its defaults.

    >>> from simtune.core.schedulers import create
    >>> asha = create("asha", space=space, metric="loss", mode="min", max_fidelity=20,
    ...               seed=0, eta=3, points_to_evaluate=[{"lr": 0.01}])
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from simtune.core.schedulers.base import CONTEXT, Scheduler, signature
from simtune.core.schedulers.points_first import PointsFirst, PointsFirstScheduler, complete_points
from simtune.core.schedulers.searcher import Searcher
from simtune.core.seeds import run_rngs
from simtune.core.space import Space

if TYPE_CHECKING:
    from simtune.core.schedulers.transfer.data import TransferData


@dataclass(frozen=True)
class Entry:
    """A registered scheduler: its class ("module:Class") and the searcher it uses.

    `searcher`: the searcher built for it (its config may name another), with this
    entry's `searcher_args` where its settings differ from that searcher's defaults
    (one set of defaults per name: scheduler=bo's are the bo searcher's); None: the
    scheduler takes no searcher.
    `flat`: its config's keys are its searcher's arguments (scheduler=bo is FIFO
    scheduling around the "bo" searcher), besides the class's own. `fresh`: it fits a
    new searcher per suggestion, so it takes a SearcherFactory instead of a searcher.
    `inner`: it wraps a scheduler, by default the one of this name (config: `scheduler`
    and `scheduler_args`).
    The class's name is the one its metadata and messages use (bohb: "hyperband").
    """

    cls: str
    searcher: str | None = None
    searcher_args: dict[str, Any] = field(default_factory=dict)
    flat: bool = False
    fresh: bool = False
    inner: str | None = None


# MOBSTER's GP: over (configuration, fidelity), fitted on normal scores of the values (on
# YAHPO LCBench the raw accuracies span ~90 points, from diverged runs and epoch 1, and
# their spread set a posterior sd of 7-20 points where the optima differ by tenths;
# docs/search_quality.md), and cheaper than bo's: it suggests after every early stop
_MOBSTER_GP = {"fidelity_aware": True, "warp_outputs": True, "n_candidates": 256,
               "refit_every": 20, "max_observations": 200, "max_fit_points": 150,
               "tie_lengthscales": False, "max_repeats": 0}

SCHEDULERS: dict[str, Entry] = {
    "asha": Entry("simtune.core.schedulers.asha:ASHA", "random"),
    "bohb": Entry("simtune.core.schedulers.hyperband:Hyperband", "tpe",
                  {"categorical_bandwidth": "scott"}),  # BOHB's kernel, as published
    "dehb": Entry("simtune.core.schedulers.hyperband:Hyperband", "de"),
    "hyperband": Entry("simtune.core.schedulers.hyperband:Hyperband", "random"),
    "hypertune": Entry("simtune.core.schedulers.asha:ASHA", "hypertune"),
    "hypertune_hyperband": Entry("simtune.core.schedulers.hypertune:HyperTuneHyperband",
                                 "hypertune"),
    "median_stopping": Entry("simtune.core.schedulers.median_stopping:MedianStopping",
                             inner="random"),
    "mobster": Entry("simtune.core.schedulers.asha:ASHA", "bo", _MOBSTER_GP),
    # refit every 5 observations: ASHA suggests after every early stop (as MOBSTER's GP)
    "asha_bore": Entry("simtune.core.schedulers.asha:ASHA", "bore", {"refit_every": 5}),
    "asha_cqr": Entry("simtune.core.schedulers.asha:ASHA", "cqr", {"refit_every": 5}),
    "pasha": Entry("simtune.core.schedulers.pasha:PASHA", "random"),
    "pbt": Entry("simtune.core.schedulers.pbt:PBT", "random", {"allow_duplicates": True}),
    "sync_hyperband": Entry("simtune.core.schedulers.sync_hyperband:SyncHyperband", "random"),
    "sync_sh": Entry("simtune.core.schedulers.sync_hyperband:SyncSuccessiveHalving", "random"),
    "bo": Entry("simtune.core.schedulers.fifo:FIFOScheduler", "bo", flat=True),
    "grid": Entry("simtune.core.schedulers.fifo:FIFOScheduler", "grid", flat=True),
    "random": Entry("simtune.core.schedulers.fifo:FIFOScheduler", "random", flat=True),
    "rea": Entry("simtune.core.schedulers.fifo:FIFOScheduler", "rea", flat=True),
    "tpe": Entry("simtune.core.schedulers.fifo:FIFOScheduler", "tpe", flat=True),
    "bore": Entry("simtune.core.schedulers.fifo:FIFOScheduler", "bore", flat=True),
    "cqr": Entry("simtune.core.schedulers.fifo:FIFOScheduler", "cqr", flat=True),
    "moasha": Entry("simtune.core.schedulers.moasha:MOASHA", "random"),
    "morea": Entry("simtune.core.schedulers.morea:MOREA", "morea", flat=True),
    "nsga2": Entry("simtune.core.schedulers.nsga2:NSGA2", "nsga2", flat=True),
    "ehvi": Entry("simtune.core.schedulers.ehvi:EHVI", "ehvi", flat=True),
    "random_scalarization": Entry(
        "simtune.core.schedulers.random_scalarization:RandomScalarization", "tpe", fresh=True),
    # transfer learning from source tasks (the context's `transfer`, or `sources`: runs)
    "zero_shot": Entry("simtune.core.schedulers.fifo:FIFOScheduler", "zero_shot", flat=True),
    "quantile_based": Entry("simtune.core.schedulers.fifo:FIFOScheduler", "quantile_based",
                            flat=True),
    "bounding_box": Entry("simtune.core.schedulers.transfer.bounding_box:BoundingBox", "bo",
                          fresh=True),
}

# searchers (which configuration next), plugged into schedulers by name: `searcher: tpe`
SEARCHERS: dict[str, str] = {
    "random": "simtune.core.schedulers.random:RandomSearcher",
    "grid": "simtune.core.schedulers.grid:GridSearcher",
    "bo": "simtune.core.schedulers.bo:GPSearcher",
    "tpe": "simtune.core.schedulers.tpe:TPESearcher",
    "rea": "simtune.core.schedulers.rea:REASearcher",
    "morea": "simtune.core.schedulers.morea:MOREASearcher",
    "nsga2": "simtune.core.schedulers.nsga2:NSGA2Searcher",
    "ehvi": "simtune.core.schedulers.ehvi:EHVISearcher",
    "de": "simtune.core.schedulers.dehb:DESearcher",
    "zero_shot": "simtune.core.schedulers.transfer.zero_shot:ZeroShotSearcher",
    "quantile_based": "simtune.core.schedulers.transfer.quantile_based:QuantileBasedSearcher",
    "bore": "simtune.core.schedulers.bore:BoreSearcher",
    "cqr": "simtune.core.schedulers.cqr:CQRSearcher",
    "hypertune": "simtune.core.schedulers.hypertune:HyperTuneSearcher",
}


def _import(path: str) -> type:
    module, _, cls = path.partition(":")
    return getattr(importlib.import_module(module), cls)


def _entry(name: str) -> Entry:
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; available: {', '.join(sorted(SCHEDULERS))}")
    return SCHEDULERS[name]


def _searcher_class(name: str) -> type[Searcher]:
    if name not in SEARCHERS:
        raise ValueError(f"unknown searcher {name!r}; available: {', '.join(sorted(SEARCHERS))}")
    return _import(SEARCHERS[name])


def scheduler_class(name: str) -> type[Scheduler]:
    """The class registered as `name`; unknown names get an error listing the valid ones."""
    return _import(_entry(name).cls)


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


def _own(name: str) -> set[str]:
    """The constructor parameters of scheduler `name`'s class but the context."""
    return set(signature(scheduler_class(name))) - CONTEXT


def scheduler_parameters(name: str) -> list[str]:
    """The keys the config of scheduler `name` may set (its conf/scheduler/<name>.yaml's and
    points_to_evaluate): its class's parameters with `searcher` and `searcher_args` (or
    `scheduler` and `scheduler_args`) as names, plus its searcher's when `flat`."""
    entry, own = _entry(name), _own(name)
    if "searcher" in own:
        own |= {"searcher_args"}
    if "scheduler" in own:
        own |= {"scheduler_args"}
    if entry.flat:
        own = (own - {"searcher", "searcher_args"}) | (
            set(signature(_searcher_class(entry.searcher))) - CONTEXT)
    return sorted(own | {"points_to_evaluate"})


def needs_fidelities(name: str, args: Mapping[str, Any]) -> bool:
    """True if scheduler `name` with `args` decides by fidelity (its constructor requires
    `fidelities`, or it models them: fidelity_aware=True), so it cannot do without them."""
    param = signature(scheduler_class(name)).get("fidelities")
    required = param is not None and param.default is param.empty
    searcher_args = args if _entry(name).flat else args.get("searcher_args") or {}
    return required or bool(searcher_args.get("fidelity_aware"))


def uses_transfer(name: str, args: Mapping[str, Any]) -> bool:
    """True if scheduler `name` with `args` learns from source tasks (it or its searcher
    takes the context's `transfer`), so the run's wiring must read them."""
    entry = _entry(name)
    searcher = entry.searcher if entry.flat else args.get("searcher") or entry.searcher
    takes = set(signature(scheduler_class(name)))
    if searcher is not None:
        takes |= set(signature(_searcher_class(searcher)))
    return "transfer" in takes


def make_searcher(name: str, context: Mapping[str, Any], **params: Any) -> Searcher:
    """The searcher `name` built from the `context` entries its constructor names (space,
    mode, rng, candidates, fidelities), plus `params`; unknown parameters get an error."""
    cls = _searcher_class(name)
    accepted = set(signature(cls))
    unknown = sorted(set(params) - accepted | (set(params) & set(context)))
    if unknown:
        raise ValueError(
            f"searcher {name!r} has no parameter {unknown[0]!r}; its parameters: "
            f"{sorted(accepted - set(context))}"
        )
    return cls(**{k: v for k, v in context.items() if k in accepted}, **params)


class SearcherFactory:
    """Builds afresh, from a generator, the searcher `name` with `args` for `context`:
    for a scheduler that fits a new searcher per suggestion (random_scalarization).

    Example:
        >>> new = SearcherFactory("tpe", {"space": space, "mode": "min"}, {"gamma": 0.2})
        >>> searcher = new(np.random.default_rng(0))
    """

    def __init__(self, name: str, context: Mapping[str, Any], args: Mapping[str, Any]) -> None:
        self.name, self.context, self.args = name, dict(context), dict(args)

    def __call__(self, rng: np.random.Generator, **context: Any) -> Searcher:
        """The searcher, from `rng`, with `context` entries replacing its own (a
        bounding box's space and candidates)."""
        return make_searcher(self.name, {**self.context, **context, "rng": rng}, **self.args)

    def metadata(self) -> dict[str, Any]:
        """The metadata of the searchers it builds."""
        return self(np.random.default_rng(0)).metadata()


def make_scheduler(name: str, context: Mapping[str, Any], **params: Any) -> Scheduler:
    """Build the scheduler `name` with its `params` (the keys of its yaml).

    `context` holds what the benchmark knows: space, metric, mode, objectives
    (name -> mode), fidelities, rng, candidates; the scheduler and its searcher each
    take the entries their constructors name. Unknown parameters get an error listing
    the valid ones. `points_to_evaluate` (every scheduler takes it) lists configurations
    to suggest first, in order (see core/schedulers/points_first.py).
    """
    entry, cls = _entry(name), scheduler_class(name)
    context = {**context, "space": Space.of(context["space"])}  # a dict works as well
    params = dict(params)
    valid = scheduler_parameters(name)
    unknown = sorted(set(params) - set(valid) | (set(params) & set(context)))
    if unknown:
        raise ValueError(
            f"scheduler {name!r} has no parameter {unknown[0]!r}; its parameters: "
            f"{sorted(set(valid) - set(context))}"
        )
    points = params.pop("points_to_evaluate", None)
    if points is not None:
        points = complete_points(context["space"], points, context.get("candidates"))
    own = {k: v for k, v in context.items() if k in signature(cls)}
    if entry.inner is not None:  # a wrapper: build the scheduler it wraps first
        inner_args = dict(params.pop("scheduler_args", None) or {})
        inner = params.pop("scheduler", entry.inner)
        if inner == name:
            raise ValueError(f"{name}: scheduler must name another scheduler, e.g. random")
        if points:
            inner_args["points_to_evaluate"] = points
        return _named(name, cls, scheduler=make_scheduler(inner, context, **inner_args),
                      **own, **params)
    if entry.searcher is None:
        scheduler = _named(name, cls, **own, **params)
        return PointsFirstScheduler(scheduler, points) if points else scheduler
    if entry.flat:
        searcher_name = entry.searcher
        searcher_args = {k: params.pop(k) for k in list(params) if k not in _own(name)}
    else:
        searcher_name = params.pop("searcher", None) or entry.searcher
        searcher_args = params.pop("searcher_args", None) or {}
    if searcher_name == entry.searcher:
        searcher_args = {**entry.searcher_args, **searcher_args}
    if entry.fresh:
        scalarized = {"space": context["space"], "candidates": context.get("candidates"),
                      "mode": "min"}  # a value to minimize
        new = SearcherFactory(searcher_name, scalarized, searcher_args)
        new(np.random.default_rng(0))  # bad searcher_args fail now, not at trial 6
        scheduler = _named(name, cls, searcher=new, **own, **params)
        return PointsFirstScheduler(scheduler, points) if points else scheduler
    searcher: Searcher = make_searcher(searcher_name, context, **searcher_args)
    if points:
        searcher = PointsFirst(searcher, points)
    return _named(name, cls, searcher=searcher, **own, **params)


def _named(name: str, cls: type[Scheduler], **args: Any) -> Scheduler:
    """`cls(**args)`; a ValueError its class raises in its own name ("hyperband: ...")
    says the name the scheduler was asked by ("bohb: ...")."""
    try:
        return cls(**args)
    except ValueError as e:
        prefix = f"{cls.name}: "
        if cls.name == name or not str(e).startswith(prefix):
            raise
        raise ValueError(f"{name}: {str(e)[len(prefix):]}") from None


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
    transfer: TransferData | None = None,
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
    `transfer`: source tasks for the transfer-learning schedulers (zero_shot, bounding_box,
    quantile_based), which otherwise read the earlier runs named by `sources=[dirs]`.

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
        "transfer": transfer,
    }
    if points_to_evaluate is not None:
        scheduler_args["points_to_evaluate"] = points_to_evaluate
    return make_scheduler(name, context, **scheduler_args)


__all__ = [
    "CONTEXT",
    "SCHEDULERS",
    "SEARCHERS",
    "Scheduler",
    "create",
    "make_scheduler",
    "make_searcher",
    "scheduler_class",
    "scheduler_names",
    "scheduler_parameters",
    "uses_transfer",
]
