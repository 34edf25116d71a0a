"""HPO algorithms, one per module, and the name -> class registry used by configs.

Classes are imported only when built, so `import core` stays fast. To add a scheduler,
add one line "name": "module:Class" to SCHEDULERS and a conf/scheduler/<name>.yaml.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from core.schedulers.base import Scheduler

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


def scheduler_class(name: str) -> type[Scheduler]:
    """The class registered as `name`; unknown names get an error listing the valid ones."""
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; available: {', '.join(sorted(SCHEDULERS))}")
    module, _, cls = SCHEDULERS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def make_scheduler(name: str, context: dict[str, Any], **params: Any) -> Scheduler:
    """Build the scheduler `name` with its `params`.

    `context` holds what the benchmark knows: space, metric, mode, objectives
    (name -> mode), fidelities, rng, candidates; each scheduler takes the entries its
    constructor names. Unknown parameters get an error listing the valid ones.
    """
    cls = scheduler_class(name)
    accepted = inspect.signature(cls.__init__).parameters
    unknown = sorted(set(params) - set(accepted) | (set(params) & set(context)))
    if unknown:
        valid = sorted(set(accepted) - set(context) - {"self"})
        raise ValueError(
            f"scheduler {name!r} has no parameter {unknown[0]!r}; its parameters: {valid}"
        )
    return cls(**{k: v for k, v in context.items() if k in accepted}, **params)


__all__ = ["SCHEDULERS", "Scheduler", "make_scheduler", "scheduler_class"]
