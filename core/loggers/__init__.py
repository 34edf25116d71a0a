"""Loggers: Tuner callbacks that write a run to TensorBoard, MLflow or Weights & Biases.

From the command line: `logger=tensorboard`, `logger=[tensorboard,mlflow]` (conf/logger/);
from Python: `Tuner(..., callbacks=[TensorBoardLogger(), MLflowLogger()])`. Each library is
an extra (`pip install "simtune[tensorboard]"`), imported when its logger is made: a missing
one is a one-line MissingExtra. A logger that raises is disabled with one warning and the
run goes on; while a resumed run replays its recorded rows the loggers write nothing (the
interrupted process logged them).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simtune.core.loggers.base import Logger, MissingExtra

LOGGERS = {  # logger=NAME -> module and class
    "tensorboard": ("simtune.core.loggers.tensorboard", "TensorBoardLogger"),
    "mlflow": ("simtune.core.loggers.mlflow", "MLflowLogger"),
    "wandb": ("simtune.core.loggers.wandb", "WandbLogger"),
}


def logger_class(name: str) -> type[Logger]:
    """The Logger class of `name`; one line listing LOGGERS if unknown."""
    if name not in LOGGERS:
        raise ValueError(f"unknown logger {name!r}; available: {', '.join(LOGGERS)}")
    module, cls = LOGGERS[name]
    return getattr(importlib.import_module(module), cls)


def make_loggers(spec: Mapping[str, Any] | None, directory: str | Path | None = None
                 ) -> list[Logger]:
    """The loggers of a run config's `logger` entry ({name: {parameter: value}}), writing
    under `directory`. Bad names or parameters and missing extras: ValueError, one line."""
    loggers = []
    for name, params in (spec or {}).items():
        cls = logger_class(name)
        params = dict(params or {})
        accepted = [p for p in inspect.signature(cls).parameters if p != "directory"]
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise ValueError(f"logger.{name}.{unknown[0]} is not a parameter of logger "
                             f"{name}; its parameters: {', '.join(accepted) or 'none'}")
        loggers.append(cls(directory, **params))
    return loggers


__all__ = ["LOGGERS", "Logger", "MissingExtra", "logger_class", "make_loggers"]
