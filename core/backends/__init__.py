"""Backends start, stop, pause and resume trials and collect their results.

The registry names each backend's class; a class is imported only when it is asked for,
so ray and boto3 stay optional. To add a backend, add one line "name": "module:Class"
to BACKENDS and a conf/backend/<name>.yaml.

Example:
    >>> backend_class("simulated")
    <class 'simtune.core.backends.simulated.SimulatedBackend'>
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simtune.core.backends.base import Backend

BACKENDS: dict[str, str] = {
    "simulated": "simtune.core.backends.simulated:SimulatedBackend",
    "local": "simtune.core.backends.local:LocalBackend",
    "python": "simtune.core.backends.python:PythonBackend",
    "sagemaker": "simtune.core.backends.sagemaker:SageMakerBackend",
    "ray": "simtune.core.backends.ray:RayBackend",
}


def backend_class(name: str) -> type[Backend]:
    """The class registered as `name`; unknown names get an error listing the valid ones."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}")
    module, _, cls = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), cls)
