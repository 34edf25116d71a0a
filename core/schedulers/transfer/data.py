"""Source data for transfer learning: per source task, configurations and their values of
the metric, and the per-task normalizations the methods use (quantiles, Gaussian copula).

Example:
    >>> data = TransferData("loss", (SourceTask("a", [{"x": 0.1}, {"x": 0.9}], [1.0, 3.0]),))
    >>> TransferData.from_runs(["outputs/a"], metric="loss", space=space)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simtune.core.encoding import encode
from simtune.core.space import Space


@dataclass(frozen=True)
class SourceTask:
    """One source task: its `name`, its configurations and their values of the metric
    (at the highest fidelity, averaged over seeds; NaN: missing)."""

    name: str
    configs: Sequence[dict[str, Any]]
    values: Sequence[float]


@dataclass(frozen=True)
class TransferData:
    """The source tasks of a transfer-learning scheduler, all of one `metric`."""

    metric: str
    tasks: tuple[SourceTask, ...]

    @classmethod
    def from_runs(cls, run_dirs: Sequence[str | Path], *, metric: str,
                  space: Space) -> TransferData:
        """One source task per earlier run in `run_dirs` (results directories, read with
        core.run_results.load_run): each trial's last valid report of `metric`. A
        directory that holds no run, lacks the metric or is a run of another space is a
        ValueError of one line."""
        from simtune.core.run_results import load_run

        tasks = []
        for run_dir in run_dirs:
            where = f"sources: {run_dir}"
            if not Path(run_dir).expanduser().is_dir():
                raise ValueError(f"{where} is not a directory; name earlier runs' directories")
            try:
                run = load_run(Path(run_dir).expanduser())
            except ValueError as e:
                raise ValueError(f"sources: {e}") from None
            if metric not in run.rows.columns:
                raise ValueError(f"{where} has no column {metric!r}; name runs that report it")
            rows = run.rows[run.rows[metric].notna()].groupby("trial_id").tail(1)
            configs = run.configs()
            task = SourceTask(str(run_dir), [configs[int(t)] for t in rows["trial_id"]],
                              rows[metric].to_numpy(dtype=float))
            tasks.append(checked(task, space, where))
        return cls(metric, tuple(tasks))

    def sizes(self) -> dict[str, int]:
        """Source task -> its number of configurations (for metadata)."""
        return {t.name: len(t.configs) for t in self.tasks}


def checked(task: SourceTask, space: Space, where: str) -> SourceTask:
    """`task` if its configurations are of `space` and it has a finite value; else a
    ValueError of one line."""
    for config in task.configs:
        try:
            space.validate(config)
        except ValueError as e:
            raise ValueError(f"{where} is not of this space ({e}); name sources of the space "
                             "tuned") from None
    if not np.isfinite(np.asarray(task.values, dtype=float)).any():
        raise ValueError(f"{where} holds no finite value of the metric: nothing to learn from")
    return task


def source_data(owner: str, transfer: TransferData | None, sources: Any, metric: str,
                space: Space) -> TransferData:
    """The source data of scheduler `owner`: `transfer` if the run's wiring built it (from
    `sources`: task names or run directories), else the runs in `sources` (Python API)."""
    if transfer is not None:
        if not transfer.tasks:
            raise ValueError(f"{owner}: the source data holds no task")
        return transfer
    if sources is None:
        raise ValueError(f"{owner}: no source data; give sources=[directories of earlier runs "
                         "of this space], or run it on a benchmark with other tasks")
    runs = [sources] if isinstance(sources, (str, Path)) else list(sources)
    if not runs:
        raise ValueError(f"{owner}: sources is empty; name earlier runs or source tasks")
    return TransferData.from_runs(runs, metric=metric, space=space)


def quantiles(y: np.ndarray) -> np.ndarray:
    """Each value's quantile among `y` (to minimize), in (0, 1): (rank - 1/2) / n, ties
    averaged; NaN stays NaN."""
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=float)
    out = np.full(len(y), np.nan)
    ok = np.isfinite(y)
    out[ok] = (rankdata(y[ok]) - 0.5) / ok.sum()
    return out


def copula(y: np.ndarray) -> np.ndarray:
    """The Gaussian-copula transform of `y`: the standard normal quantile of each value's
    quantile (Salinas et al. 2020), so every task's values share one scale."""
    from scipy.stats import norm

    return norm.ppf(quantiles(y))


def score_matrix(data: TransferData, space: Space,
                 sign: float) -> tuple[list[dict[str, Any]], np.ndarray]:
    """The union of the source configurations (first seen first) and their quantile on each
    task (n configs x n tasks, lower is better: `sign` * value ranked). A configuration a
    task lacks takes the quantile of that task's nearest configuration (encodings)."""
    index: dict[tuple, int] = {}
    configs: list[dict[str, Any]] = []
    for task in data.tasks:
        for config in task.configs:
            if index.setdefault(space.key(config), len(configs)) == len(configs):
                configs.append(dict(config))
    scores = np.full((len(configs), len(data.tasks)), np.nan)
    for j, task in enumerate(data.tasks):
        rows = np.array([index[space.key(c)] for c in task.configs], dtype=int)
        q = quantiles(sign * np.asarray(task.values, dtype=float))
        scores[rows, j] = q  # a configuration listed twice keeps its last value
    missing = np.isnan(scores)
    if missing.any():
        x = np.array([encode(space, c) for c in configs])
        for j in np.flatnonzero(missing.any(axis=0)):
            have = np.flatnonzero(~missing[:, j])
            for i in np.flatnonzero(missing[:, j]):
                nearest = have[np.argmin(((x[have] - x[i]) ** 2).sum(axis=1))]
                scores[i, j] = scores[nearest, j]
    return configs, scores
