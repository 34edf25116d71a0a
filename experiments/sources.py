"""The source data of a transfer-learning run: the benchmark's other tasks (read through the
blackbox repository) and/or earlier runs, as the plain TransferData the schedulers take.

Example:
    >>> data = transfer_data(repository.load("nasbench201", "cifar10"), None, "val_accuracy")
    >>> [t.name for t in data.tasks]
    ['cifar100', 'imagenet16-120']
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from simtune.blackboxes import repository
from simtune.blackboxes.blackbox import Blackbox, TabularBlackbox
from simtune.core.problem import Problem
from simtune.core.schedulers.transfer.data import SourceTask, TransferData, checked


def transfer_data(benchmark: Blackbox | Problem, sources: Any, metric: str) -> TransferData:
    """The source tasks `sources` names (None: every other task of the benchmark's family),
    each a task of the family or an earlier run's directory; never the task tuned. Bad
    sources are a ValueError of one line."""
    family = repository.BENCHMARKS.get(benchmark.name) if isinstance(benchmark, Blackbox) \
        else None
    task = getattr(benchmark, "task", None)
    others = [t for t in family.tasks if t != task] if family else []
    if sources is None:
        if not others:
            raise ValueError(f"sources: benchmark {benchmark.name} has no other task to learn "
                             "from; name earlier runs: scheduler.sources=[outputs/run1,...]")
        names = others
    else:
        names = [sources] if isinstance(sources, str) else list(sources)
        if not names:
            raise ValueError("sources: the list is empty; name source tasks or run directories, "
                             "or null for the benchmark's other tasks")
    tasks = []
    for name in map(str, names):
        if family and name == task:
            raise ValueError(f"sources: {name} is the task being tuned; learn from other tasks "
                             f"({', '.join(others) or 'none'}) or earlier runs")
        if family and name in family.tasks:
            source = repository.load_shared(benchmark.name, name)
            tasks.append(table_task(source, benchmark, metric))
        elif Path(name).expanduser().is_dir():
            tasks += TransferData.from_runs([name], metric=metric, space=benchmark.space).tasks
        else:
            known = f"a task of {benchmark.name} ({', '.join(others)})" if others else "a task"
            raise ValueError(f"sources: {name!r} is neither {known} nor a run directory")
    return TransferData(metric, tuple(tasks))


def table_task(source: Blackbox, target: Blackbox, metric: str) -> SourceTask:
    """Task `source` of the family as a SourceTask: each configuration's value of `metric`
    at its last fidelity, averaged over the seeds it has."""
    where = f"sources: {source.name}/{source.task}"
    if not isinstance(source, TabularBlackbox):
        raise ValueError(f"{where} is not a table; name tables or earlier runs")
    if metric not in source.objectives:
        raise ValueError(f"{where} has no metric {metric!r}")
    space = target.space
    if source.space.tunable != space.tunable:
        raise ValueError(f"{where} has other hyperparameters than {target.task}; name sources "
                         "of the space tuned")
    values = source.ds[metric].isel(fidelity=-1).transpose("config", "seed").values
    with warnings.catch_warnings():  # a configuration without any seed: NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=1)
    # the tuned task's constants (mlp_sklearn's dataset), the source's tunable values
    configs = [{k: space.constants[k] if k in space.constants else c[k] for k in space
                if k in space.constants or k in c} for c in source.configs()]
    return checked(SourceTask(source.task, configs, mean), space, where)

