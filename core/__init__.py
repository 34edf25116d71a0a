"""simtune's tuning core: spaces, trials, schedulers, backends and the Tuner.

The public names, importable from here (`from core import Tuner, Space, ...`); they
load on first use, so `import core` stays fast. docs/python_api.md shows them at work.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    # spaces
    "Space": "core.space",
    "uniform": "core.domains",
    "loguniform": "core.domains",
    "randint": "core.domains",
    "lograndint": "core.domains",
    "choice": "core.domains",
    "ordinal": "core.domains",
    "finrange": "core.domains",
    "logfinrange": "core.domains",
    "Problem": "core.problem",
    # the loop
    "Tuner": "core.tuner",
    "TuningSummary": "core.tuner",
    "StoppingCriterion": "core.stopping",
    "Callback": "core.callbacks",
    "StatusLine": "core.callbacks",
    "Trial": "core.trial",
    "Report": "core.trial",
    # schedulers
    "create_scheduler": "core.schedulers",
    "SCHEDULERS": "core.schedulers",
    # backends
    "SimulatedBackend": "core.backends.simulated",
    "LocalBackend": "core.backends.local",
    "PythonBackend": "core.backends.python",
    # results
    "open_run": "core.rundir",
    "RunSession": "core.rundir",
    "run_metadata": "core.results",
    "load_run": "core.run_results",
    "RunResults": "core.run_results",
    "Reporter": "core.report",
}
_RENAMED = {"create_scheduler": "create"}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'core' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
