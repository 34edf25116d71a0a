"""Compose the configs of many sweep jobs fast, each equal to what Hydra composes for it.

Hydra composes one job in ~45 ms (its defaults tree and YAML files, every time). The jobs
of a sweep differ mostly in plain values (``seed=3``); only a few overrides choose config
groups (``scheduler=asha``). ``SweepComposer`` asks Hydra once per choice of groups for a
*base* config, and gives each job a copy of it with the job's value overrides applied the
way Hydra applies them (its private ``apply_overrides``), plus the two
hydra fields that follow from the overrides (``hydra.overrides.task``,
``hydra.job.override_dirname``). The first job of each group is composed both ways and the
two compared in full; if they differ, or a step fails, that group is composed by Hydra
job by job. A group of one job always is.

Example:
    >>> composer = SweepComposer(hydra_context.config_loader, master_config)  # doctest: +SKIP
    >>> configs = list(composer.compose_all([["seed=0"], ["seed=1"]]))  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Iterator, Sequence

from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf, open_dict

from simtune.experiments.sweeps.hydra_private import apply_overrides, get_overrides_dirname

log = logging.getLogger("simtune.sweep")

Job = Sequence[str]


class SweepComposer:
    """Composes sweep jobs against ``master`` (the sweep's config) with ``loader``."""

    def __init__(self, loader: ConfigLoader, master: DictConfig) -> None:
        self.loader = loader
        self.master = master
        self.parser = OverridesParser.create()

    def hydra(self, job: Job) -> DictConfig:
        """The job's config as Hydra's launchers compose it (the reference)."""
        return self.loader.load_sweep_config(self.master, list(job))

    def compose_all(self, jobs: Sequence[Job]) -> Iterator[DictConfig]:
        """The config of every job, in order, one at a time (errors raise as Hydra's do).

        Only the base config of each group is kept between jobs.
        """
        parsed = [self.parser.parse_overrides(list(job)) for job in jobs]
        keys = [tuple(o.input_line for o in overrides if not self._is_value(o))
                for overrides in parsed]
        sizes = Counter(keys)
        bases: dict[tuple[str, ...], DictConfig | None] = {}
        for job, overrides, key in zip(jobs, parsed, keys, strict=True):
            if key in bases:
                fast = None if bases[key] is None else self._fast(bases[key], overrides)
                yield self.hydra(job) if fast is None else fast
                continue
            reference = self.hydra(job)  # the first job of its group
            base = self._base(list(key)) if sizes[key] > 1 else None
            if base is not None and not _same(self._fast(base, overrides), reference):
                log.debug("fast composition differs from Hydra's for %s", job)
                base = None
            bases[key] = base
            yield reference

    def _is_value(self, override: Override) -> bool:
        """True for a plain value override (``a.b=1``, ``+c=2``), not a group or hydra one."""
        if override.is_hydra_override() or override.is_delete() or override.package is not None:
            return False
        repository = getattr(self.loader, "repository", None)  # Hydra's ConfigLoaderImpl
        if override.is_sweep_override() or repository is None:
            return False
        return not repository.group_exists(override.key_or_group)

    def _base(self, base_overrides: list[str]) -> DictConfig | None:
        """Hydra's config for the group choices alone; None if that does not compose."""
        try:
            return self.hydra(base_overrides)
        except Exception as e:  # noqa: BLE001 - the jobs are then composed one by one
            log.debug("no base config for %s: %s", base_overrides, e)
            return None

    def _fast(self, base: DictConfig, overrides: list[Override]) -> DictConfig | None:
        """``_apply``, or None where it fails (Hydra then composes the job and says why)."""
        try:
            return self._apply(base, overrides)
        except Exception as e:  # noqa: BLE001
            log.debug("fast composition failed for %s: %s", [o.input_line for o in overrides], e)
            return None

    def _apply(self, base: DictConfig, overrides: list[Override]) -> DictConfig:
        """``base`` with the job's value overrides, as Hydra's _load_configuration_impl does."""
        cfg = copy.deepcopy(base)
        values = [o for o in overrides if self._is_value(o)]
        apply_overrides(values, cfg)
        app = [o for o in overrides if not o.is_hydra_override()]  # hydra ones are in base
        dirname = cfg.hydra.job.config.override_dirname
        with open_dict(cfg.hydra):
            cfg.hydra.overrides.task = [o.input_line for o in app]
            cfg.hydra.job.override_dirname = get_overrides_dirname(
                overrides=app, kv_sep=dirname.kv_sep, item_sep=dirname.item_sep,
                exclude_keys=dirname.exclude_keys)
        OmegaConf.copy_cache(from_config=self.master, to_config=cfg)
        return cfg


def _same(a: DictConfig | None, b: DictConfig) -> bool:
    """True if two composed configs hold the same nodes (interpolations unresolved)."""
    if a is None:
        return False
    return OmegaConf.to_container(a, resolve=False) == OmegaConf.to_container(b, resolve=False)
