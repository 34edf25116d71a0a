"""PD1 (Wang et al. 2021, "HyperBO"): SGD-with-momentum tuning of real deep nets, curves.

Raw format: the JSON Lines files of `pd1.tar.gz`,
`pd1/pd1_{matched,unmatched}_phase{0,1}_results.jsonl(.gz)`. One row per trial:
`dataset`, `model`, `hps.batch_size`, `hps.activation_fn` (some CNNs only),
the 4 tuned hyperparameters `hps.lr_hparams.initial_value`,
`hps.lr_hparams.power`, `hps.lr_hparams.decay_steps_factor`,
`hps.opt_hparams.momentum`, and per-evaluation arrays aligned with
`global_step`: `valid/error_rate`, `valid/ce_loss`, `test/error_rate`,
`train/ce_loss`, `epoch`, `eval_time` (null for a trial that diverged early).

Conversion:
- a task is one (dataset, model[, activation], batch size) combination, named
  `{dataset}_{model}[_{activation}]_batch_size_{bs}` (Syne Tune's names); the
  activation is part of the task because both activations share the same points;
- hyperparameters `lr_initial_value`, `lr_power`, `lr_decay_steps_factor`,
  `one_minus_momentum` = 1 - momentum; the declared ranges (PD1 paper) are
  widened where the data go beyond them;
- fidelity `eval` = index of the evaluation (1..longest curve of the task);
  shorter curves stop early (NaN after; a curve also ends at its first
  non-finite `valid/error_rate`, where training diverged), the table's `epoch` variable holds the
  training epoch of each evaluation;
- `elapsed_time` = cumulative sum of `eval_time`, as in Syne Tune's PD1 import
  (we read `eval_time` as the seconds since the previous evaluation), kept
  monotone; one seed (0); a config seen twice keeps the row read last (files in
  name order, so phase 1 wins over phase 0).

Example:
    >>> bb = load_pd1("imagenet_resnet_batch_size_512", raw_dir="~/data/pd1")
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from simtune.blackboxes.blackbox import TIME, TabularBlackbox
from simtune.blackboxes.sources.raw_cache import family_cache, raw_status
from simtune.core.space import Space, loguniform, uniform

log = logging.getLogger("simtune.blackboxes")

NAME = "pd1"
RAW_ENV = "SIMTUNE_PD1_DIR"
URL = "http://storage.googleapis.com/gresearch/pint/pd1.tar.gz"  # PD1 README
SEED = 0
FIDELITY = "eval"
# our name -> (raw column, transform, declared range, log scale)
HPS = {
    "lr_initial_value": ("hps.lr_hparams.initial_value", None, (1e-5, 10.0), True),
    "lr_power": ("hps.lr_hparams.power", None, (0.1, 2.0), False),
    "lr_decay_steps_factor": ("hps.lr_hparams.decay_steps_factor", None, (0.01, 0.99), False),
    "one_minus_momentum": ("hps.opt_hparams.momentum", "one_minus", (1e-3, 1.0), True),
}
# objective -> raw per-evaluation column; valid_error_rate is required
METRICS = {
    "valid_error_rate": "valid/error_rate",
    "valid_ce_loss": "valid/ce_loss",
    "test_error_rate": "test/error_rate",
    "train_ce_loss": "train/ce_loss",
}
TASKS = (
    "cifar100_wide_resnet_batch_size_2048", "cifar100_wide_resnet_batch_size_256",
    "cifar10_wide_resnet_batch_size_2048", "cifar10_wide_resnet_batch_size_256",
    "fashion_mnist_max_pooling_cnn_relu_batch_size_2048",
    "fashion_mnist_max_pooling_cnn_relu_batch_size_256",
    "fashion_mnist_max_pooling_cnn_tanh_batch_size_2048",
    "fashion_mnist_max_pooling_cnn_tanh_batch_size_256",
    "fashion_mnist_simple_cnn_batch_size_2048", "fashion_mnist_simple_cnn_batch_size_256",
    "imagenet_resnet_batch_size_1024", "imagenet_resnet_batch_size_256",
    "imagenet_resnet_batch_size_512", "lm1b_transformer_batch_size_2048",
    "mnist_max_pooling_cnn_relu_batch_size_2048", "mnist_max_pooling_cnn_relu_batch_size_256",
    "mnist_max_pooling_cnn_tanh_batch_size_2048", "mnist_max_pooling_cnn_tanh_batch_size_256",
    "mnist_simple_cnn_batch_size_2048", "mnist_simple_cnn_batch_size_256",
    "svhn_no_extra_wide_resnet_batch_size_1024", "svhn_no_extra_wide_resnet_batch_size_256",
    "translate_wmt_xformer_translate_batch_size_64", "uniref50_transformer_batch_size_128",
)  # fmt: skip


def load_pd1(task: str, raw_dir: str | Path | None = None) -> TabularBlackbox:
    """The PD1 table of `task`: from the cache, else converted (all tasks at once) from raw."""
    path = _cache() / f"{task}.h5"
    if path.exists():
        return TabularBlackbox.load(path)
    files = find_raw(raw_dir)
    if files is None:
        raise ValueError(
            f"no {NAME} data for {task!r}: pass raw_dir or set {RAW_ENV} to the folder holding "
            f"pd1_*_results.jsonl.gz (from {URL}), or run "
            f"`python -m simtune.blackboxes download {NAME}`"
        )
    tables = convert_pd1(files)
    if task not in tables:
        raise ValueError(
            f"the PD1 files in {files[0].parent} have no task {task!r}; "
            f"tasks there: {', '.join(sorted(tables))}"
        )
    for name, table in tables.items():
        table.save(_cache() / f"{name}.h5")
    log.info("%s: converted %d tasks from %s", NAME, len(tables), files[0].parent)
    return tables[task]


def _cache() -> Path:
    return family_cache(NAME)


def status(task: str) -> str:
    """Where the table of `task` would come from, without loading it."""
    return raw_status(NAME, task, "PD1 raw files", RAW_ENV)


def find_raw(raw_dir: str | Path | None) -> list[Path] | None:
    """The `pd1_*_results.jsonl[.gz]` files in `raw_dir`/$SIMTUNE_PD1_DIR (or its `pd1/`)."""
    named = f"raw_dir={raw_dir}"
    if raw_dir is None:
        raw_dir = os.environ.get(RAW_ENV) or None
        named = f"{RAW_ENV}={raw_dir}"
    if raw_dir is None:
        return None
    root = Path(raw_dir).expanduser()
    for folder in (root, root / "pd1"):
        files = sorted(folder.glob("pd1_*_results.jsonl*")) if folder.is_dir() else []
        files = [f for f in files if f.name.endswith((".jsonl", ".jsonl.gz"))]
        if files:
            return files
    raise ValueError(
        f"{named} has no PD1 files pd1_*_results.jsonl.gz (in it or in its pd1/ subfolder)"
    )


def task_name(row: dict[str, Any]) -> str:
    """`{dataset}_{model}[_{activation}]_batch_size_{bs}` of one raw row."""
    act = row.get("hps.activation_fn")
    act = "" if act is None or (isinstance(act, float) and math.isnan(act)) else f"_{act}"
    return f"{row['dataset']}_{row['model']}{act}_batch_size_{int(row['hps.batch_size'])}"


def convert_pd1(files: list[Path]) -> dict[str, TabularBlackbox]:
    """One table per task found in the PD1 JSON Lines `files`."""
    by_task: dict[str, dict[tuple, dict[str, Any]]] = {}
    for path in files:
        for lineno, row in _rows(path):
            where = f"{path}:{lineno}"
            for key in ("dataset", "model", "hps.batch_size", METRICS["valid_error_rate"]):
                if key not in row:
                    raise ValueError(f"{where}: row has no key {key!r}")
            config = {}
            for hp, (col, transform, _, _) in HPS.items():
                if col not in row or row[col] is None:
                    raise ValueError(f"{where}: row has no key {col!r}")
                value = float(row[col])
                config[hp] = 1.0 - value if transform == "one_minus" else value
            curve = _curves(row, where)
            if curve is None:  # diverged before its first evaluation: no curve to replay
                continue
            by_task.setdefault(task_name(row), {})[tuple(config.values())] = {
                "config": config,
                **curve,
            }
    if not by_task:
        raise ValueError(f"no PD1 trial with a learning curve in {[str(f) for f in files]}")
    return {task: _table(task, rows, files) for task, rows in sorted(by_task.items())}


def _rows(path: Path):
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    yield lineno, json.loads(line)
    except (OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(
            f"{path}: not a readable PD1 JSON Lines file ({type(e).__name__}: {e}); "
            "delete it and download it again"
        ) from None


def _curves(row: dict[str, Any], where: str) -> dict[str, np.ndarray] | None:
    main = row[METRICS["valid_error_rate"]]
    if main is None or len(main) == 0:
        return None
    n = len(main)
    finite = [v is not None and math.isfinite(v) for v in main]
    cut = finite.index(False) if False in finite else n  # diverged: the curve ends there
    if cut == 0:
        return None
    out = {}
    for name, col in [*METRICS.items(), ("epoch", "epoch"), (TIME, "eval_time")]:
        series = row.get(col)
        if series is None:
            if col in ("epoch", "eval_time"):
                raise ValueError(f"{where}: row has no key {col!r} (or it is null)")
            out[name] = np.full(cut, np.nan)
            continue
        if len(series) != n:
            raise ValueError(
                f"{where}: {col!r} has {len(series)} entries but valid/error_rate has {n}"
            )
        out[name] = np.array([np.nan if v is None else v for v in series], dtype=float)[:cut]
    out[TIME] = np.maximum.accumulate(np.nancumsum(out[TIME]))
    return out


def _space(configs: list[dict[str, float]]) -> Space:
    domains = {}
    for hp, (_, _, (low, high), is_log) in HPS.items():
        values = [c[hp] for c in configs]
        low, high = min(low, *values), max(high, *values)
        domains[hp] = loguniform(low, high) if is_log else uniform(low, high)
    return Space(domains)


def _table(task: str, rows: dict[tuple, dict[str, Any]], files: list[Path]) -> TabularBlackbox:
    records = list(rows.values())
    length = max(len(r[TIME]) for r in records)
    names = [*METRICS, "epoch", TIME]
    values = {n: np.full((len(records), 1, length), np.nan) for n in names}
    for i, r in enumerate(records):
        for n in names:
            values[n][i, 0, : len(r[n])] = r[n]
    present = [m for m in METRICS if np.isfinite(values[m]).any()]
    configs = [r["config"] for r in records]
    table = TabularBlackbox.from_arrays(
        name=NAME,
        task=task,
        space=_space(configs),
        configs=configs,
        seeds=[SEED],
        fidelities=list(range(1, length + 1)),
        objectives={m: "min" for m in present},
        values={n: values[n] for n in [*present, TIME]},
        fidelity_name=FIDELITY,
        source=f"PD1 raw files in {files[0].parent} ({len(records)} configs)",
    )
    table.ds["epoch"] = (("config", "seed", "fidelity"), values["epoch"])
    return TabularBlackbox(table.ds)
