"""Hydra plugin module of simtune: ``hydra/sweeper=simtune`` (conf/hydra/sweeper/simtune.yaml).

Hydra instantiates plugins only from the ``hydra_plugins`` namespace; pyproject.toml installs
this folder as ``hydra_plugins.simtune_sweeper`` (a portion of that namespace, beside the
joblib and submitit launchers). The sweeper itself lives in experiments/sweeps/sweeper.py.
"""

from __future__ import annotations

from simtune.experiments.sweeps.sweeper import SkippingSweeper


class SimtuneSweeper(SkippingSweeper):
    """Hydra's basic sweeper that leaves complete runs out (see experiments.sweeps.sweeper)."""
