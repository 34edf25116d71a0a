"""Run a real training function over configs x seeds and tabulate it as a new blackbox.

The training function is the kind the Python backend runs: `train(config, reporter)`
calling `reporter(epoch=e, metric=value, ...)` after each epoch. Every (config, seed)
is one evaluation, run in a worker process with one BLAS thread; the seed reaches the
function as `config["seed"]`, and training stops once `max_fidelity` is reported.
Each finished evaluation is appended to a JSON-lines checkpoint, so an interrupted run
resumes where it stopped. elapsed_time is the cumulative wall-clock time since the call
started, or with `clock="cpu"` the process CPU time (robust to other load on a shared
machine: with one BLAS thread it is the time on an idle core); the other clock is kept
as the extra variable `cpu_time` / `wall_time`.

Example:
    >>> bb = tabulate("experiments/training/mlp_sklearn.py:train", space, configs=grid(space),
    ...               seeds=[0, 1], max_fidelity=3, objectives={"val_accuracy": "max"},
    ...               name="mlp", task="wine")
    python -m simtune.blackboxes.tabulate path/to/file.py:train --space pkg.mod:space --grid \\
        --seeds 0 1 2 --max-fidelity 50 --objective val_accuracy=max --out table.h5
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import inspect
import itertools
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simtune.blackboxes.blackbox import TIME, TabularBlackbox
from simtune.blackboxes.tabulate_checkpoint import Parts, Result, read_checkpoint, start_part
from simtune.blackboxes.tabulate_eval import TrainFn, evaluations, load_function
from simtune.core.configspace import from_configspace, is_configspace
from simtune.core.provenance import machine, versions
from simtune.core.runlock import RunLock
from simtune.core.space import Space

log = logging.getLogger("simtune.blackboxes")

CLOCKS = {"wall": ("elapsed", "cpu_time", "cpu"), "cpu": ("cpu", "wall_time", "elapsed")}
_PACKAGES = ("simtune", "numpy", "scipy", "scikit-learn", "threadpoolctl", "xarray", "h5py")


def grid(space: Space) -> list[dict[str, Any]]:
    """Every configuration of a finite space, in space order (last hyperparameter fastest)."""
    if not space.is_finite:
        infinite = [k for k, d in space.tunable.items() if not d.is_finite]
        raise ValueError(f"a grid needs finite domains; {infinite} are continuous: use n_configs")
    if space.structure:  # conditions or forbidden clauses: only the valid configurations
        return space.grid()
    names = list(space.tunable)
    values = [space.tunable[k].values() for k in names]
    return [
        {**space.constants, **dict(zip(names, combo, strict=True))}
        for combo in itertools.product(*values)
    ]


def random_configs(space: Space, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """`n` distinct configurations drawn from `space` with `rng` (fewer if the space is smaller)."""
    size = space.size()
    n = min(n, size) if size is not None else n
    out: dict[tuple, dict[str, Any]] = {}
    for _ in range(100 * n):
        config = space.sample(rng)
        out.setdefault(space.key(config), config)
        if len(out) == n:
            break
    return list(out.values())


def tabulate(
    train: TrainFn | str,
    space: Space,
    *,
    configs: Sequence[dict[str, Any]],
    seeds: Sequence[int],
    max_fidelity: int,
    objectives: dict[str, str],
    name: str,
    task: str,
    fidelity_name: str = "epoch",
    workers: int | None = None,
    checkpoint: str | Path | None = None,
    limit: int | None = None,
    progress: bool = True,
    attrs: dict[str, Any] | None = None,
    clock: str = "wall",
) -> TabularBlackbox | None:
    """Evaluate every config under every seed up to `max_fidelity` and build the table.

    `train` is a callable or a reference `path/file.py:fn` (loaded in each worker).
    `workers`: processes (None = all cores; 0 or 1 = in this process). `checkpoint`: a
    JSON-lines file of finished evaluations, reused on a rerun. `limit`: run at most this
    many new evaluations, then return None if the table is not complete (to split or
    interrupt a long run). `clock`: "wall" or "cpu", the time that becomes elapsed_time.
    """
    if clock not in CLOCKS:
        raise ValueError(f"clock must be 'wall' or 'cpu', got {clock!r}")
    configs = [dict(c) for c in configs]
    for c in configs:
        space.validate(c)
    if max_fidelity < 1 or not seeds or not configs:
        raise ValueError(
            f"need max_fidelity >= 1, seeds and configs; got max_fidelity={max_fidelity}, "
            f"{len(seeds)} seeds, {len(configs)} configs"
        )
    for k, m in objectives.items():
        if m not in ("min", "max"):
            raise ValueError(f"objective {k!r}: mode must be 'min' or 'max', got {m!r}")
    jobs = [(i, int(s)) for i in range(len(configs)) for s in seeds]
    header = {
        "train": train if isinstance(train, str) else f"{train.__module__}:{train.__qualname__}",
        "space": space.to_dict(),
        "configs": configs,
        "seeds": [int(s) for s in seeds],
        "max_fidelity": max_fidelity,
        "fidelity_name": fidelity_name,
    }
    with _checkpoint_lock(checkpoint):
        done, earlier = read_checkpoint(Path(checkpoint), header) if checkpoint else ({}, Parts())
        pending = [j for j in jobs if j not in done]
        todo = pending if limit is None else pending[:limit]
        n_workers = (os.cpu_count() or 1) if workers is None else workers
        started = time.time()
        with open(checkpoint or os.devnull, "a", encoding="utf-8") as sink:
            if checkpoint:
                start_part(Path(checkpoint), sink, header, started)
            try:
                for (i, s), result in evaluations(train, configs, todo, max_fidelity,
                                                  fidelity_name, n_workers, progress,
                                                  len(jobs), len(done)):
                    done[(i, s)] = result
                    sink.write(json.dumps({"config": i, "seed": s, **result, "at": time.time()}))
                    sink.write("\n")
                    sink.flush()
            finally:  # an interrupted part counts its time (a killed one: up to its last line)
                ended = time.time()
                if checkpoint:
                    sink.write(json.dumps({"part_end": ended}) + "\n")
    if len(done) < len(jobs):
        log.info("%d of %d evaluations done; rerun to continue", len(done), len(jobs))
        return None
    meta = {
        "machine": json.dumps(machine()),
        "versions": json.dumps(versions(_PACKAGES)),
        "seeds": json.dumps(header["seeds"]),
        "train": header["train"],
        "max_fidelity": max_fidelity,
        "workers": n_workers,
        "clock": clock,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        # every part of a resumed tabulation, this one included
        "wallclock_seconds": round(earlier.seconds + ended - started, 1),
        "wallclock_parts": earlier.n + 1,
        **(attrs or {}),
    }
    if earlier.untimed:
        meta["wallclock_note"] = (
            f"{earlier.untimed} evaluations were made by parts that recorded no time "
            "(a checkpoint from before simtune timed its parts): not counted"
        )
    return build(done, space, configs, header["seeds"], objectives, name, task, fidelity_name,
                 max_fidelity, meta, clock)


def _checkpoint_lock(checkpoint: str | Path | None) -> contextlib.AbstractContextManager:
    """One tabulation at a time reads and appends to a checkpoint (core.runlock): a second
    one is refused (RunLocked, a ValueError) naming the first."""
    if not checkpoint:
        return contextlib.nullcontext()
    path = Path(checkpoint)
    return RunLock.acquire(path.with_name(path.name + ".lock"), what=str(path))


def build(
    done: dict[tuple[int, int], Result], space: Space, configs: list[dict[str, Any]],
    seeds: list[int], objectives: dict[str, str], name: str, task: str, fidelity_name: str,
    max_fidelity: int, attrs: dict[str, Any], clock: str = "wall",
) -> TabularBlackbox:
    """The table of finished evaluations; a fidelity a run did not reach is NaN."""
    fids = sorted({f for r in done.values() for f in r["fidelity"] if f <= max_fidelity})
    col = {f: k for k, f in enumerate(fids)}
    names = list(dict.fromkeys(m for r in done.values() for m in r["metrics"]))
    lacking = [k for k in objectives if k not in names]
    if lacking:
        raise ValueError(f"the training function never reported {lacking}; it reported {names}")
    shape = (len(configs), len(seeds), len(fids))
    main, other, other_key = CLOCKS[clock]
    values = {n: np.full(shape, np.nan) for n in [*names, TIME, other]}
    seed_col = {s: k for k, s in enumerate(seeds)}
    for (i, s), r in done.items():
        cols = [col[f] for f in r["fidelity"] if f in col]
        values[TIME][i, seed_col[s], cols] = r[main][: len(cols)]
        values[other][i, seed_col[s], cols] = r[other_key][: len(cols)]
        for n, v in r["metrics"].items():
            values[n][i, seed_col[s], cols] = np.asarray(v[: len(cols)], dtype=float)
    bb = TabularBlackbox.from_arrays(
        name=name, task=task, space=space, configs=configs, seeds=seeds, fidelities=fids,
        objectives=objectives, values=values, fidelity_name=fidelity_name,
        source=f"tabulated by simtune from {attrs.get('train', 'a training function')}",
        attrs=attrs,
    )
    for n in [*names, other]:  # metrics that are not objectives are kept as extra variables
        if n not in objectives:
            bb.ds[n] = (("config", "seed", "fidelity"), values[n])
    return bb


def save(bb: TabularBlackbox, path: str | Path) -> Path:
    """Write the table atomically, every data variable gzip-compressed at level 9."""
    return bb.save(path, level=9)


def load_space(ref: str, task: str) -> Space:
    """A space from a JSON file (simtune's format or ConfigSpace's), or `pkg.mod:attr`
    naming a Space or a function of the task."""
    if ref.endswith(".json"):
        try:
            spec = json.loads(Path(ref).read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"--space {ref}: cannot read it ({e})") from None
        try:
            return from_configspace(spec) if is_configspace(spec) else Space.from_dict(spec)
        except ValueError as e:
            raise ValueError(f"--space {ref}: {e}") from None
    obj = load_function(ref)
    if callable(obj) and not isinstance(obj, Space):
        try:
            inspect.signature(obj).bind(task)
        except TypeError as e:
            raise ValueError(
                f"--space {ref}: must be a Space or a function task -> Space; calling it with "
                f"the task fails ({e})"
            ) from None
        except ValueError:  # no signature to inspect (a builtin): just call it
            pass
    space = obj(task) if callable(obj) and not isinstance(obj, Space) else obj
    if not isinstance(space, Space):
        raise ValueError(f"--space {ref}: expected a core.space.Space, got {type(space).__name__}")
    return space


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: `python -m simtune.blackboxes.tabulate FN --space S (--grid | --n-configs N) ...
    --out F`."""
    p = argparse.ArgumentParser(prog="python -m simtune.blackboxes tabulate",
                                description=__doc__[:79])
    p.add_argument("train", help="training function: path/to/file.py:train or pkg.mod:train")
    p.add_argument("--space", required=True,
                   help="a JSON file, or pkg.mod:attr naming a Space or a function task -> Space")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--grid", action="store_true", help="every configuration of a finite space")
    g.add_argument("--n-configs", type=int, help="this many random configurations")
    p.add_argument("--config-seed", type=int, default=0, help="seed drawing random configs")
    p.add_argument("--seeds", type=int, nargs="+", required=True, help="training seeds")
    p.add_argument("--max-fidelity", type=int, required=True, help="last epoch tabulated")
    p.add_argument("--fidelity-name", default="epoch")
    p.add_argument("--objective", action="append", required=True, metavar="NAME=min|max")
    p.add_argument("--name", required=True, help="benchmark name")
    p.add_argument("--task", required=True, help="task name (passed to a space function)")
    p.add_argument("--out", required=True, help="output table (.h5)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--checkpoint", help="finished evaluations (default OUT.jsonl)")
    p.add_argument("--limit", type=int, help="stop after this many new evaluations")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="time that becomes elapsed_time (cpu: robust to other load)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    objectives = {}
    for spec in a.objective:
        k, sep, m = spec.partition("=")
        if not sep or m not in ("min", "max"):
            p.error(f"--objective {spec!r}: write NAME=min or NAME=max")
        objectives[k] = m
    out = Path(a.out)
    checkpoint = Path(a.checkpoint) if a.checkpoint else out.with_name(out.name + ".jsonl")
    try:
        space = load_space(a.space, a.task)
        configs = grid(space) if a.grid else random_configs(
            space, a.n_configs, np.random.default_rng(a.config_seed))
        load_function(a.train)  # a bad reference fails here, not in every worker
        for parent in (out.parent, checkpoint.parent):
            if any(p.exists() and not p.is_dir() for p in (parent, *parent.parents)):
                raise ValueError(f"--out {a.out}: {parent} is not a directory (a file is in "
                                 "the way); name an output path in a directory")
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        bb = tabulate(
            a.train, space, configs=configs, seeds=a.seeds, max_fidelity=a.max_fidelity,
            objectives=objectives, name=a.name, task=a.task, fidelity_name=a.fidelity_name,
            workers=a.workers, checkpoint=checkpoint, limit=a.limit, progress=not a.no_progress,
            clock=a.clock,
            attrs={"command": json.dumps(["python", "-m", "simtune.blackboxes.tabulate", *(
                argv if argv is not None else sys.argv[1:])]),
                "configs": "grid" if a.grid else f"{a.n_configs} random (seed {a.config_seed})"},
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; rerun the same command to continue from {checkpoint}",
              file=sys.stderr)
        return 130
    if bb is None:
        print(f"stopped after --limit {a.limit}; rerun to continue from {checkpoint}",
              file=sys.stderr)
        return 0
    save(bb, out)
    checkpoint.unlink(missing_ok=True)
    print(f"wrote {out}: {bb.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
