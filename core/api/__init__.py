"""simtune: hyperparameter optimization and its benchmarking, around a tabulated-blackbox simulator.

The one top-level package simtune installs (pyproject.toml maps it from core/api/; the fixed
folders install below it as `simtune.core`, `simtune.blackboxes`, `simtune.analysis`,
`simtune.experiments`). Its public names, `from simtune import Tuner, Space, ...`, load on
first use, so `import simtune` stays fast; docs/python_api.md shows them at work.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    # spaces
    "Space": "simtune.core.space",
    "uniform": "simtune.core.domains",
    "loguniform": "simtune.core.domains",
    "randint": "simtune.core.domains",
    "lograndint": "simtune.core.domains",
    "choice": "simtune.core.domains",
    "ordinal": "simtune.core.domains",
    "finrange": "simtune.core.domains",
    "logfinrange": "simtune.core.domains",
    "Problem": "simtune.core.problem",
    "read_configspace": "simtune.core.configspace",
    "from_configspace": "simtune.core.configspace",
    "write_configspace": "simtune.core.configspace",
    # the loop
    "Tuner": "simtune.core.tuner",
    "TuningSummary": "simtune.core.tuner",
    "AskTellScheduler": "simtune.core.ask_tell",
    "StoppingCriterion": "simtune.core.stopping",
    "Callback": "simtune.core.callbacks",
    "StatusLine": "simtune.core.callbacks",
    "StopRun": "simtune.core.callbacks",
    "TrialPlateauStopper": "simtune.core.stoppers",
    "ExperimentPlateauStopper": "simtune.core.stoppers",
    "MaxFidelityStopper": "simtune.core.stoppers",
    "KeepCheckpoints": "simtune.core.keep_checkpoints",
    "Trial": "simtune.core.trial",
    "Report": "simtune.core.trial",
    # schedulers
    "create_scheduler": "simtune.core.schedulers",
    "SCHEDULERS": "simtune.core.schedulers",
    # backends
    "SimulatedBackend": "simtune.core.backends.simulated",
    "LocalBackend": "simtune.core.backends.local",
    "PythonBackend": "simtune.core.backends.python",
    # results
    "open_run": "simtune.core.rundir",
    "RunSession": "simtune.core.rundir",
    "run_metadata": "simtune.core.results",
    "load_run": "simtune.core.run_results",
    "RunResults": "simtune.core.run_results",
    "Reporter": "simtune.core.report",
}
_RENAMED = {"create_scheduler": "create"}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'simtune' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
