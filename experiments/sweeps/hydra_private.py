"""Every name simtune takes from Hydra's private API (``hydra._internal``), and only here.

Hydra offers no public way to subclass its basic sweeper, to apply value overrides to a
composed config, or to read its command line and config search path as it does; these
names do it. tests/test_hydra_private.py pins what simtune uses of each, so a Hydra
release that moves or changes one fails that test rather than a sweep.

Each name is looked up in its Hydra module when it is used: Hydra's plugin scan executes
the modules of ``hydra._internal.core_plugins`` again, and a ``BasicSweeper`` taken
before the scan is then another class than the one its own methods name (its
``super(BasicSweeper, self)`` fails).

Example:
    >>> from simtune.experiments.sweeps.hydra_private import BasicSweeper
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "BasicSweeper": "hydra._internal.core_plugins.basic_sweeper",
    "ConfigLoaderImpl": "hydra._internal.config_loader_impl",
    "get_overrides_dirname": "hydra._internal.config_loader_impl",
    "ConfigRepository": "hydra._internal.config_repository",
    "create_config_search_path": "hydra._internal.utils",
    "get_args_parser": "hydra._internal.utils",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULES[name]), name)


def apply_overrides(overrides: list[Any], cfg: Any) -> None:
    """Apply parsed value overrides (``a.b=1``, ``+c=2``) to the composed config `cfg` in
    place, as Hydra's config loader does."""
    __getattr__("ConfigLoaderImpl")._apply_overrides_to_config(overrides, cfg)


__all__ = [*_MODULES, "apply_overrides"]
