"""The evaluations of a tabulation: one (config, seed) run of a training function, timed,
in a worker process with one BLAS thread; and the pool that runs them with a progress bar."""

from __future__ import annotations

import concurrent.futures as cf
import importlib
import importlib.util
import multiprocessing
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simtune.blackboxes.tabulate_checkpoint import Result

TrainFn = Callable[..., None]


def load_function(ref: str) -> TrainFn:
    """`path/to/file.py:name` or `package.module:name` -> the callable it names."""
    target, sep, attr = ref.rpartition(":")
    if not sep or not target or not attr:
        raise ValueError(
            f"bad function reference {ref!r}; write path/to/file.py:train or pkg.mod:train"
        )
    if target.endswith(".py"):
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"function reference {ref!r}: no file {path}")
        name = f"_simtune_fn_{path.stem}"
        module = sys.modules.get(name)
        if module is None or getattr(module, "__file__", None) != str(path):
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as e:
            raise ValueError(
                f"function reference {ref!r}: cannot import {target!r} ({e})"
            ) from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise ValueError(f"function reference {ref!r}: {target} has no attribute {attr!r}")
    return fn


class _Enough(Exception):
    """Raised by the recorder once `max_fidelity` is reported: the evaluation is done."""


class _Recorder:
    """A Reporter that keeps every report with its cumulative wall-clock time."""

    def __init__(self, fidelity_name: str, max_fidelity: int) -> None:
        self.key, self.max = fidelity_name, max_fidelity
        self.result: Result = {"fidelity": [], "elapsed": [], "cpu": [], "metrics": {}}
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def __call__(self, **report: Any) -> None:
        elapsed, cpu = time.perf_counter() - self.t0, time.process_time() - self.c0
        if self.key not in report:
            raise ValueError(f"a report must name the fidelity {self.key!r}; got {sorted(report)}")
        fid = int(report.pop(self.key))
        r = self.result
        if r["fidelity"] and fid <= r["fidelity"][-1]:
            raise ValueError(f"{self.key} must increase; got {fid} after {r['fidelity'][-1]}")
        r["fidelity"].append(fid)
        r["elapsed"].append(elapsed)
        r["cpu"].append(cpu)
        for k, v in report.items():
            r["metrics"].setdefault(k, [float("nan")] * (len(r["fidelity"]) - 1)).append(float(v))
        if fid >= self.max:
            raise _Enough


_FN: dict[str, TrainFn] = {}


def _init_worker() -> None:
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
    except ImportError:
        pass


def evaluate(
    train: TrainFn | str, config: dict[str, Any], seed: int, max_fidelity: int,
    fidelity_name: str = "epoch",
) -> Result:
    """One evaluation: reports of `train(config + seed)` up to `max_fidelity`, timed."""
    if isinstance(train, str):
        if train not in _FN:
            _FN[train] = load_function(train)
        fn = _FN[train]
    else:
        fn = train
    recorder = _Recorder(fidelity_name, max_fidelity)
    try:
        fn({**config, "seed": seed}, recorder)
    except _Enough:
        pass
    return recorder.result


def evaluations(
    train: TrainFn | str, configs: list[dict[str, Any]], todo: list[tuple[int, int]],
    max_fidelity: int, fidelity_name: str, workers: int, progress: bool, total: int,
    initial: int,
) -> Any:
    """Yield ((config index, seed), result) as evaluations finish, with a progress bar."""
    from tqdm import tqdm

    bar = tqdm(total=total, initial=initial, disable=not progress, unit="eval", smoothing=0.05)
    args = [(train, configs[i], s, max_fidelity, fidelity_name) for i, s in todo]
    try:
        if workers <= 1:
            _init_worker()
            for job, a in zip(todo, args, strict=True):
                yield job, evaluate(*a)
                bar.update()
            return
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker) as pool:
            futures = {pool.submit(evaluate, *a): job for job, a in zip(todo, args, strict=True)}
            try:
                for fut in cf.as_completed(futures):
                    yield futures[fut], fut.result()
                    bar.update()
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
    finally:
        bar.close()
