"""The sweeper of simtune sweeps: Hydra's basic sweeper that skips complete runs before dispatch.

A rerun of a finished sweep used to send every run to the launcher, whose worker composed
its config again (and rewrote its .hydra/ files) only for run.py to find the run complete.
Hydra's basic sweeper already composes every job's config in this process (it validates
each batch before launching it); this sweeper reuses that composition to ask
``simtune.core.rundir.complete_run`` (the rule run.py applies) and hands the launcher only the
runs left to do. A skipped run counts as "skipped" in progress.json and is not touched.

Hydra instantiates sweepers only from the ``hydra_plugins`` namespace: the plugin module
``hydra_plugins.simtune_sweeper`` (experiments/plugins/, packaged by pyproject.toml) subclasses
``SkippingSweeper`` and conf/hydra/sweeper/simtune.yaml selects it.

Example:
    python experiments/run.py -m scheduler=random,asha seed='range(10)' \
        hydra.sweep.dir=multirun/s   # a second time: "run k/20 done (skipped)" x 20
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from simtune.core import rundir
from simtune.experiments.sweeps import progress
from simtune.experiments.sweeps.compose import SweepComposer
from simtune.experiments.sweeps.hydra_private import BasicSweeper

log = logging.getLogger("simtune.sweep")
_HYDRA_RESOLVER = re.compile(r"\$\{\s*hydra\s*:")


class SkippingSweeper(BasicSweeper):
    """BasicSweeper (every combination of the values) that does not launch complete runs.

    Example (conf/config.yaml): ``defaults: [override hydra/sweeper: simtune]``
    """

    def sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        """Launch the runs of ``arguments`` batch by batch, complete ones left out."""
        assert self.config is not None and self.launcher is not None
        assert self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides([*self._parse_config(), *arguments])
        self.overrides = self.split_arguments(overrides, self.max_batch_size)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        returns: list[Sequence[JobReturn]] = []
        launched = 0
        composer = SweepComposer(self.hydra_context.config_loader, self.config)
        while not self.is_done():
            batch = self.get_job_batch()  # composing it is also Hydra's check of the batch
            todo = [job for job, cfg in zip(batch, composer.compose_all(batch), strict=True)
                    if not self.skip(cfg)]
            if not todo:
                continue
            results = self.launcher.launch(todo, initial_job_idx=launched)
            for result in results:
                _ = result.return_value  # raises if the job failed (as BasicSweeper does)
            launched += len(todo)
            returns.append(results)
        return returns

    def skip(self, composed: DictConfig) -> bool:
        """True (and counted as skipped) if the job's run directory holds it complete."""
        out_dir, config = job_config(composed)
        if not rundir.complete_run(out_dir, config):
            return False
        assert self.config is not None
        progress.count_run(self.config.hydra.sweep.dir, progress.SKIPPED,
                        f"{out_dir} already holds a complete run of this config")
        return True


def job_config(cfg: DictConfig) -> tuple[Path, dict[str, Any]]:
    """The run directory and the resolved task config of a composed sweep job.

    The same values as Hydra's ``run_job`` gives the worker: the directory is
    hydra.sweep.dir/hydra.sweep.subdir, the task config is the config without its hydra
    node, resolved as run.py resolves it. HydraConfig holds the job (~4 ms) only where a
    value uses the ``${hydra:...}`` resolver.
    """
    hydra_config = HydraConfig.instance()
    previous = hydra_config.cfg
    task = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    OmegaConf.copy_cache(from_config=cfg, to_config=task)
    try:
        if _uses_hydra_resolver(cfg.hydra.sweep):
            hydra_config.set_config(cfg)
        out_dir = os.path.join(str(cfg.hydra.sweep.dir), str(cfg.hydra.sweep.subdir))
        with read_write(cfg.hydra.runtime), open_dict(cfg.hydra.runtime):
            cfg.hydra.runtime.output_dir = os.path.abspath(out_dir)  # as run_job sets it
        if _uses_hydra_resolver(task):
            hydra_config.set_config(cfg)
        return Path(out_dir).absolute(), OmegaConf.to_container(task, resolve=True)  # type: ignore[return-value]
    finally:
        hydra_config.cfg = previous


def _uses_hydra_resolver(node: DictConfig) -> bool:
    """True if a value under ``node`` calls the ``${hydra:...}`` resolver."""
    return _HYDRA_RESOLVER.search(str(OmegaConf.to_container(node, resolve=False))) is not None
