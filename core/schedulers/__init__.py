"""HPO algorithms, one per module, and the name -> class registry used by configs."""

from __future__ import annotations

import inspect
from typing import Any

from core.schedulers.asha import ASHA
from core.schedulers.base import Scheduler
from core.schedulers.random import RandomSearch

SCHEDULERS: dict[str, type[Scheduler]] = {"random": RandomSearch, "asha": ASHA}


def make_scheduler(name: str, context: dict[str, Any], **params: Any) -> Scheduler:
    """Build the scheduler `name` with its `params`.

    `context` holds what the benchmark knows (space, metric, mode, fidelities, rng,
    candidates); each scheduler takes the entries its constructor names. Unknown names
    and parameters get an error listing the valid ones.
    """
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; available: {', '.join(sorted(SCHEDULERS))}")
    cls = SCHEDULERS[name]
    accepted = inspect.signature(cls.__init__).parameters
    unknown = sorted(set(params) - set(accepted) | (set(params) & set(context)))
    if unknown:
        valid = sorted(set(accepted) - set(context) - {"self"})
        raise ValueError(
            f"scheduler {name!r} has no parameter {unknown[0]!r}; its parameters: {valid}"
        )
    return cls(**{k: v for k, v in context.items() if k in accepted}, **params)


__all__ = ["SCHEDULERS", "Scheduler", "make_scheduler"]
