"""LCBench (Zimmer et al. 2021): 2,000 MLP configurations x 35 OpenML datasets, 52-entry curves.

Raw format (`data_2k.json` or the lightweight `data_2k_lw.json` from figshare):
`data[dataset][config_id] = {"config": {...}, "log": {...}, "results": {...}}`.
`config` holds the 7 sampled hyperparameters (batch_size, learning_rate,
momentum, weight_decay, num_layers, max_units, max_dropout) beside fixed ones;
`log` holds one list per tag with one entry per evaluation: `time`, `epoch`,
`Train/val_accuracy`, `Train/val_cross_entropy`, `Train/val_balanced_accuracy`,
`Train/test_result` (test accuracy), `Train/test_cross_entropy`,
`Train/test_balanced_accuracy`, ...

Epoch handling: every log has 52 entries. We keep all of them, entry k (0-based)
at fidelity `epoch` k + 1, so fidelities are 1..52 as in the YAHPO Gym LCBench
surrogate (which was fitted on the same logs), and the two benchmarks line up.
Per LCBench's own notebook the first entry is the evaluation of the untrained
net and the last one repeats the end of the 50-epoch cosine schedule; Syne Tune
(since its PR #318) drops both and keeps 50. Accuracies are in percent.
`elapsed_time` is the log's `time` (cumulative seconds), made monotone with a
running maximum. One seed (0): LCBench trained each configuration once.

Example:
    >>> bb = load_lcbench("Fashion-MNIST", raw_dir="~/data/lcbench")
    >>> bb.evaluate(bb.configs()[0], fidelity=52, seed=0)["val_accuracy"]
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from simtune.blackboxes.blackbox import TIME, TabularBlackbox
from simtune.blackboxes.sources.raw_cache import family_cache, raw_status
from simtune.core.space import Space, lograndint, loguniform, randint, uniform

log = logging.getLogger("simtune.blackboxes")

NAME = "lcbench"
RAW_ENV = "SIMTUNE_LCBENCH_DIR"
RAW_FILES = ("data_2k_lw.json", "data_2k.json", "data_2k_lw.zip")
URL = "https://figshare.com/ndownloader/files/21188598"  # data_2k_lw.zip (LCBench README)
EPOCHS = 52
SEED = 0
# objective -> (log tag, mode)
METRICS = {
    "val_accuracy": ("Train/val_accuracy", "max"),
    "val_cross_entropy": ("Train/val_cross_entropy", "min"),
    "val_balanced_accuracy": ("Train/val_balanced_accuracy", "max"),
    "test_accuracy": ("Train/test_result", "max"),
    "test_cross_entropy": ("Train/test_cross_entropy", "min"),
    "test_balanced_accuracy": ("Train/test_balanced_accuracy", "max"),
}
TASKS = (
    "APSFailure", "Amazon_employee_access", "Australian", "Fashion-MNIST",
    "KDDCup09_appetency", "MiniBooNE", "adult", "airlines", "albert", "bank-marketing",
    "blood-transfusion-service-center", "car", "christine", "cnae-9", "connect-4",
    "covertype", "credit-g", "dionis", "fabert", "helena", "higgs", "jannis", "jasmine",
    "jungle_chess_2pcs_raw_endgame_complete", "kc1", "kr-vs-kp", "mfeat-factors", "nomao",
    "numerai28.6", "phoneme", "segment", "shuttle", "sylvine", "vehicle", "volkert",
)  # fmt: skip


def lcbench_space() -> Space:
    """The 7 hyperparameters LCBench sampled, with the ranges of its README."""
    return Space(
        {
            "batch_size": lograndint(16, 512),
            "learning_rate": loguniform(1e-4, 1e-1),
            "momentum": uniform(0.1, 0.99),
            "weight_decay": uniform(1e-5, 1e-1),
            "num_layers": randint(1, 5),
            "max_units": lograndint(64, 1024),
            "max_dropout": uniform(0.0, 1.0),
        }
    )


def load_lcbench(task: str, raw_dir: str | Path | None = None) -> TabularBlackbox:
    """The LCBench table of dataset `task`: from the cache, else converted from the raw JSON.

    Converting reads the (large) JSON once and caches every dataset in it.
    """
    path = _cache() / f"{task}.h5"
    if path.exists():
        return TabularBlackbox.load(path)
    raw = find_raw(raw_dir)
    if raw is None:
        raise ValueError(
            f"no {NAME} data for {task!r}: pass raw_dir or set {RAW_ENV} to the folder holding "
            f"{RAW_FILES[0]} (from {URL}), or run `python -m simtune.blackboxes download {NAME}`"
        )
    tables = convert_lcbench(raw)
    if task not in tables:
        raise ValueError(f"{raw} has no dataset {task!r}; it has {', '.join(sorted(tables))}")
    for name, table in tables.items():
        table.save(_cache() / f"{name}.h5")
    log.info("%s: converted %d datasets from %s", NAME, len(tables), raw)
    return tables[task]


def _cache() -> Path:
    return family_cache(NAME)


def status(task: str) -> str:
    """Where the table of `task` would come from, without loading it."""
    return raw_status(NAME, task, "LCBench raw file", RAW_ENV)


def find_raw(raw_dir: str | Path | None) -> Path | None:
    """The raw JSON (or zip) in `raw_dir` or $SIMTUNE_LCBENCH_DIR; None if neither is set."""
    named = f"raw_dir={raw_dir}"
    if raw_dir is None:
        raw_dir = os.environ.get(RAW_ENV) or None
        named = f"{RAW_ENV}={raw_dir}"
    if raw_dir is None:
        return None
    root = Path(raw_dir).expanduser()
    if root.is_file():
        return root
    for name in RAW_FILES:
        if (root / name).is_file():
            return root / name
    raise ValueError(f"{named} holds none of {', '.join(RAW_FILES)}; put the LCBench file there")


def convert_lcbench(path: str | Path) -> dict[str, TabularBlackbox]:
    """One table per dataset of the LCBench JSON (or a zip holding it) at `path`."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected a JSON object dataset -> config id -> record")
    return {dataset: _convert_dataset(path, dataset, runs) for dataset, runs in data.items()}


def _read_json(path: Path) -> Any:
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if n.endswith(".json")]
                if not names:
                    raise ValueError(f"{path}: the zip holds no .json file")
                with z.open(names[0]) as f:
                    return json.load(f)
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise ValueError(
            f"{path}: not a readable LCBench file ({type(e).__name__}: {e}); "
            "delete it and download it again"
        ) from None


def _convert_dataset(path: Path, dataset: str, runs: dict[str, Any]) -> TabularBlackbox:
    space = lcbench_space()
    ids = sorted(runs, key=lambda k: (len(k), k))  # "0", "1", ..., "1999"
    shape = (len(ids), 1, EPOCHS)
    values = {n: np.full(shape, np.nan) for n in [*METRICS, TIME]}
    configs = []
    for i, cid in enumerate(ids):
        where = f"[{dataset!r}][{cid!r}]"
        record = runs[cid]
        config = _get(record, "config", path, where)
        configs.append({hp: _get(config, hp, path, where + "['config']") for hp in space})
        logs = _get(record, "log", path, where)
        for name, (tag, _) in [*METRICS.items(), (TIME, ("time", ""))]:
            series = np.asarray(_get(logs, tag, path, where + "['log']"), dtype=float)
            if series.shape != (EPOCHS,):
                raise ValueError(
                    f"{path}: {where}['log'][{tag!r}] has {series.size} entries, expected {EPOCHS}"
                )
            values[name][i, 0] = series
    values[TIME] = np.maximum.accumulate(values[TIME], axis=2)
    return TabularBlackbox.from_arrays(
        name=NAME,
        task=dataset,
        space=space,
        configs=configs,
        seeds=[SEED],
        fidelities=list(range(1, EPOCHS + 1)),
        objectives={n: mode for n, (_, mode) in METRICS.items()},
        values=values,
        source=f"LCBench raw file {path} ({len(ids)} configs)",
    )


def _get(mapping: Any, key: str, path: Path, where: str) -> Any:
    try:
        return mapping[key]
    except (KeyError, TypeError):
        raise ValueError(f"{path}: {where} has no key {key!r}") from None
