"""Benchmark names -> loaders, and the cache directory of converted tables."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from blackboxes.blackbox import Blackbox

log = logging.getLogger("simtune.blackboxes")

CACHE_ENV = "SIMTUNE_CACHE"


def cache_dir() -> Path:
    """Where converted tables live: $SIMTUNE_CACHE, else ~/.cache/simtune (or XDG_CACHE_HOME)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "simtune"


@dataclass(frozen=True)
class Benchmark:
    """A family of blackboxes: its tasks and a loader `load(task, raw_dir) -> Blackbox`."""

    name: str
    tasks: tuple[str, ...]
    loader: Callable[[str, Path | None], Blackbox]
    description: str


def _synthetic(task: str, raw_dir: Path | None) -> Blackbox:
    from blackboxes.synthetic import BraninCurves

    return BraninCurves()


def _nasbench201(task: str, raw_dir: Path | None) -> Blackbox:
    from blackboxes.sources.nasbench201 import load_nasbench201

    return load_nasbench201(task, raw_dir)


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in [
        Benchmark(
            "nasbench201",
            ("cifar10", "cifar100", "imagenet16-120"),
            _nasbench201,
            "NAS-Bench-201 cell search space (15,625 architectures), real trained networks",
        ),
        Benchmark("synthetic", ("branin",), _synthetic, "Branin with closed-form learning curves"),
    ]
}


def load(name: str, task: str | None = None, raw_dir: str | Path | None = None) -> Blackbox:
    """The blackbox `name`/`task` (first task if None); errors list the valid names."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; available: {', '.join(sorted(BENCHMARKS))}")
    bench = BENCHMARKS[name]
    task = bench.tasks[0] if task is None else task
    if task not in bench.tasks:
        raise ValueError(
            f"benchmark {name!r} has no task {task!r}; tasks: {', '.join(bench.tasks)}"
        )
    blackbox = bench.loader(task, Path(raw_dir).expanduser() if raw_dir else None)
    log.info("loaded %s", blackbox.describe())
    return blackbox
