"""One function assembles a run: benchmark -> scheduler, backend, stop -> Tuner.

`assemble` builds the parts of a run from a benchmark and names, with the run's random
streams derived from its seed (core.seeds.run_rngs); experiments/run.py builds them from its
Hydra config through `from_config`, the scripts under experiments/ call `assemble` directly.
Building writes nothing.

Example:
    >>> run = assemble(repository.load("nasbench201", "cifar10"), "asha", seed=0,
    ...                stop=StoppingCriterion(max_trials=100), n_workers=4)
    >>> summary = run.tuner(progress=False).run()
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from simtune.blackboxes import repository
from simtune.blackboxes.blackbox import Blackbox, TabularBlackbox
from simtune.blackboxes.curves import single_fidelity_refusal
from simtune.blackboxes.surrogate import with_surrogate
from simtune.core.backends import backend_class
from simtune.core.backends._trialdir import training_path as checked_training_path
from simtune.core.backends.base import Backend
from simtune.core.callbacks import Callback
from simtune.core.constraints import check_constraints
from simtune.core.keep_checkpoints import KeepCheckpoints, parse_keep
from simtune.core.problem import CUSTOM_ONLY, Problem, problem_from_config, use_custom
from simtune.core.retries import check_retries
from simtune.core.rundir import TRIALS, RunSession
from simtune.core.schedulers import create as create_scheduler
from simtune.core.schedulers import scheduler_class, uses_transfer
from simtune.core.schedulers.base import Scheduler, signature
from simtune.core.seeds import run_rngs
from simtune.core.space import Space
from simtune.core.stoppers import STOPPER_KEYS, Stopper, stoppers_from_config
from simtune.core.stopping import StoppingCriterion
from simtune.core.tuner import ResultsSink, Tuner
from simtune.core.warm_start import WarmStart

ROOT = Path(__file__).resolve().parents[1]  # the project: training paths are relative to it


@dataclasses.dataclass
class Run:
    """The parts of one run, built and checked; `tuner()` puts them to work."""

    benchmark: Blackbox | Problem
    scheduler: Scheduler
    backend: Backend
    stop: StoppingCriterion
    n_workers: int
    scheduler_name: str
    scheduler_args: dict[str, Any]
    objective: tuple[str, str]  # the metric to optimize and its mode ("min" | "max")
    one_fidelity: bool  # a multi-fidelity scheduler on a benchmark with a single fidelity
    warm_start: WarmStart | None = None  # an earlier run's results, fed to the scheduler first
    constraints: tuple[str, ...] = ()  # outcome constraints: metrics that must be <= 0
    stoppers: list[Stopper] = dataclasses.field(default_factory=list)  # core.stoppers
    retries: int = 0  # restarts of a failed trial (core.retries)
    keep_checkpoints: int | None = None  # best:K (core.keep_checkpoints); None: keep all

    @property
    def metrics(self) -> list[str]:
        """The metrics results.csv records: the objectives, then the constraints."""
        objectives = list(self.benchmark.objectives)
        return [*objectives, *(c for c in self.constraints if c not in objectives)]

    def tuner(
        self,
        results: ResultsSink | None = None,
        *,
        session: RunSession | None = None,
        progress: bool = False,
        callbacks: Sequence[Callback] = (),
    ) -> Tuner:
        """The Tuner that runs these parts, writing to `results`, or to `session`'s run
        directory (a resumed session replays its recorded events in front of the backend)."""
        if session is not None:
            results = session.writer
        backend = session.backend(self.backend) if session is not None else self.backend
        if self.keep_checkpoints is not None:
            callbacks = [*callbacks, KeepCheckpoints(best=self.keep_checkpoints)]
        return Tuner(scheduler=self.scheduler, backend=backend, stop=self.stop,
                     n_workers=self.n_workers, results=results, progress=progress,
                     callbacks=callbacks, warm_start=self.warm_start,
                     constraints=self.constraints, stoppers=self.stoppers, retries=self.retries)


def assemble(
    benchmark: Blackbox | Problem,
    scheduler: str,
    *,
    seed: int,
    stop: StoppingCriterion,
    n_workers: int = 1,
    scheduler_args: dict[str, Any] | None = None,
    backend: str = "simulated",
    backend_args: dict[str, Any] | None = None,
    metric: str | None = None,
    training: str | None = None,
    out_dir: Path | None = None,
    allow_single_fidelity: bool = False,
    warm_start: str | Path | None = None,
    constraints: Sequence[str] | None = None,
) -> Run:
    """The scheduler `scheduler` (with `scheduler_args`) and the backend `backend` (with
    `backend_args`) on `benchmark`, their random streams from `seed`.

    `metric` defaults to the benchmark's first objective; real backends train `training`
    ("path/script.py:function") with their trial directories in `out_dir`/trials. A
    multi-fidelity scheduler on a benchmark with one fidelity is refused unless
    `allow_single_fidelity`. `warm_start` names an earlier run of the same space whose
    results the scheduler learns from before its first suggestion (core.warm_start).
    `constraints` name reported metrics that must be <= 0 (core.constraints; None: the
    benchmark's own, if any). Bad input raises ValueError with one line.
    """
    metric, mode = objective(benchmark, metric)
    constraints = run_constraints(benchmark, metric, constraints)
    scheduler_rng, backend_rng = run_rngs(seed)
    candidates = None
    if isinstance(benchmark, TabularBlackbox) and len(benchmark) != benchmark.space.size():
        candidates = benchmark.configs()  # the table covers only part of the space
    args = dict(scheduler_args or {})
    if scheduler_class(scheduler).multi_objective and len(benchmark.objectives) < 2:
        raise ValueError(
            f"scheduler={scheduler} optimizes several objectives, but benchmark "
            f"{benchmark.name} has only {', '.join(benchmark.objectives)}; pick a "
            "single-objective scheduler (e.g. scheduler=asha) or a benchmark with several "
            "objectives (e.g. benchmark=mlp_sklearn, benchmark=synthetic benchmark.task=zdt1)"
        )
    transfer = None
    if uses_transfer(scheduler, args):  # source tasks, read here: schedulers never load tables
        from simtune.experiments.sources import transfer_data

        searcher_args = args.get("searcher_args") or {}
        transfer = transfer_data(benchmark, args.get("sources", searcher_args.get("sources")),
                                 metric)
    built = create_scheduler(
        scheduler, space=benchmark.space, metric=metric, mode=mode,
        objectives=dict(benchmark.objectives), fidelities=benchmark.fidelities,
        rng=scheduler_rng, candidates=candidates, transfer=transfer, **args,
    )
    backend_built = make_backend(backend, dict(backend_args or {}), benchmark, backend_rng,
                                 training=training, out_dir=out_dir)
    one_fidelity = scheduler_class(scheduler).multi_fidelity and len(benchmark.fidelities) == 1
    if one_fidelity and not allow_single_fidelity:
        raise ValueError(single_fidelity_refusal(scheduler, benchmark.name, benchmark.task,
                                                 benchmark.fidelity_name, benchmark.fidelities[0]))
    return Run(benchmark=benchmark, scheduler=built, backend=backend_built, stop=stop,
               n_workers=n_workers, scheduler_name=scheduler, scheduler_args=args,
               objective=(metric, mode), one_fidelity=one_fidelity, constraints=constraints,
               warm_start=read_warm_start(warm_start, benchmark.space, metric, out_dir))


def from_config(cfg: DictConfig, out_dir: Path | None = None) -> Run:
    """The run of experiments/run.py's config `cfg` (benchmark, scheduler, backend, stop,
    seed, n_workers, allow_single_fidelity), trial directories in `out_dir`/trials."""
    retries = check_retries(cfg.get("retries", 0))
    keep = parse_keep(cfg.get("keep_checkpoints"), cfg.scheduler.get("name"))
    benchmark = load_benchmark(cfg)
    stop = make_stop(cfg)
    stoppers = stoppers_from_config(OmegaConf.to_container(cfg.stop, resolve=True))  # type: ignore[arg-type]
    scheduler_args: dict[str, Any] = OmegaConf.to_container(cfg.scheduler, resolve=True)  # type: ignore[assignment]
    backend_args: dict[str, Any] = OmegaConf.to_container(cfg.backend, resolve=True)  # type: ignore[assignment]
    run = assemble(
        benchmark, scheduler_args.pop("name"), seed=cfg.seed, stop=stop,
        n_workers=cfg.n_workers, scheduler_args=scheduler_args,
        backend=backend_args.pop("name"), backend_args=backend_args,
        metric=cfg.benchmark.get("metric"), training=cfg.benchmark.get("training"),
        out_dir=out_dir, allow_single_fidelity=cfg.allow_single_fidelity,
        warm_start=cfg.get("warm_start"),
        constraints=_plain(cfg.benchmark.get("constraints")),
    )
    return dataclasses.replace(run, stoppers=stoppers, retries=retries, keep_checkpoints=keep)


def read_warm_start(run_dir: str | Path | None, space: Space, metric: str,
                    out_dir: Path | None) -> WarmStart | None:
    """The earlier run `run_dir` to warm-start from (None: none), checked; not the run's
    own directory `out_dir`."""
    if run_dir is None:
        return None
    if not isinstance(run_dir, (str, Path)) or not str(run_dir):
        raise ValueError(f"warm_start must name the directory of an earlier run, got {run_dir!r}")
    if out_dir is not None and Path(run_dir).expanduser().resolve() == Path(out_dir).resolve():
        raise ValueError(f"warm_start: {run_dir} is this run's own directory; name an earlier "
                         "run's")
    return WarmStart.read(run_dir, metric=metric, space=space)


def _plain(value: Any) -> Any:
    """A config value as plain Python (a Hydra list as a list)."""
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def run_constraints(benchmark: Blackbox | Problem, metric: str,
                    constraints: Sequence[str] | None) -> tuple[str, ...]:
    """The run's outcome constraints, checked: `constraints`, or the benchmark's own if
    None. On a table or a closed-form benchmark each must be a metric its curves report;
    your own training (a Problem) may report any."""
    where = "benchmark.constraints"
    if constraints is None:
        return tuple(benchmark.constraints)
    reported = None if isinstance(benchmark, Problem) else benchmark.metrics
    return check_constraints(constraints, metric=metric, reported=reported,
                             fidelity=benchmark.fidelity_name, where=where)


def objective(blackbox: Blackbox | Problem, metric: str | None) -> tuple[str, str]:
    """The metric to optimize and its mode; errors list the benchmark's objectives."""
    metric = metric or next(iter(blackbox.objectives))
    if metric not in blackbox.objectives:
        raise ValueError(
            f"benchmark {blackbox.name} has no objective {metric!r}; "
            f"objectives: {', '.join(blackbox.objectives)}"
        )
    return metric, blackbox.objectives[metric]


def load_benchmark(cfg: DictConfig) -> Blackbox | Problem:
    """The benchmark of `cfg.benchmark`: its space, objectives and fidelities (and data).

    benchmark=custom is the user's own problem (core.problem), with no table behind it.
    """
    bench = cfg.benchmark
    if bench.get("name") == "custom":
        entries: dict[str, Any] = OmegaConf.to_container(bench, resolve=True)  # type: ignore[assignment]
        return problem_from_config(entries, base=ROOT)
    for key in CUSTOM_ONLY:  # +benchmark.space=... on a table: it would be ignored
        if bench.get(key) is not None:
            raise ValueError(use_custom(bench.name, key, bench.get(key)))
    task = bench.get("task")  # str(): Hydra reads an OpenML id such as 3945 as an int
    task = None if task is None else str(task)
    blackbox = repository.load_shared(bench.name, task, bench.get("raw_dir"))
    return with_surrogate(blackbox, bench.get("surrogate"))


def make_stop(cfg: DictConfig) -> StoppingCriterion:
    """The run's budget from `cfg.stop`; an unknown key gets one line listing the known."""
    entries: dict[str, Any] = OmegaConf.to_container(cfg.stop, resolve=True)  # type: ignore[assignment]
    known = [f.name for f in dataclasses.fields(StoppingCriterion)]
    unknown = sorted(set(entries) - set(known) - set(STOPPER_KEYS))
    if unknown:
        raise ValueError(f"stop.{unknown[0]} is not a stop criterion; the criteria: "
                         f"{', '.join([*known, *STOPPER_KEYS])}")
    return StoppingCriterion(**{k: v for k, v in entries.items() if k not in STOPPER_KEYS})


def _check_params(kind: str, name: str, cls: type, params: dict[str, Any], given: set) -> None:
    """Unknown constructor parameters of `cls` get one line listing the valid ones."""
    accepted = set(signature(cls)) - given
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(
            f"{kind} {name!r} has no parameter {unknown[0]!r}; its parameters: {sorted(accepted)}"
        )


def make_backend(
    name: str,
    params: dict[str, Any],
    benchmark: Blackbox | Problem,
    rng: np.random.Generator,
    training: str | None = None,
    out_dir: Path | None = None,
) -> Backend:
    """The backend `name` (core.backends.BACKENDS) with its parameters `params`.

    The simulated backend runs the benchmark's table; real backends train `training`
    ("path/script.py:function") for real, the space, objectives and fidelities still
    from the benchmark, their trial directories in `out_dir`/trials. Writes nothing.
    """
    cls = backend_class(name)  # unknown names: one line listing BACKENDS
    if name == "simulated":
        if isinstance(benchmark, Problem):
            raise ValueError(
                "benchmark=custom has no table to simulate: train it for real with "
                "backend=local, backend=python or backend=sagemaker"
            )
        _check_params("backend", name, cls, params, {"blackbox", "rng"})
        return cls(benchmark, rng=rng, **params)
    if not training:
        raise ValueError(
            f"benchmark {benchmark.name} has no `training:` entry ('path/script.py:function') "
            f"to run with backend={name}; pick a benchmark that trains for real "
            "(e.g. benchmark=mlp_sklearn) or set +benchmark.training=..."
        )
    given = {"fidelity": benchmark.fidelity_name, "max_fidelity": max(benchmark.fidelities)}
    given |= _training(name, str(training), benchmark, (out_dir or Path.cwd()) / TRIALS, params)
    _check_params("backend", name, cls, params, {"root", *given})
    return cls(**given, **params)


def _training(
    name: str, training: str, benchmark: Blackbox | Problem, root: Path, params: dict[str, Any]
) -> dict[str, Any]:
    """What a real backend `name` trains and where its trial directories go."""
    script, function = training_path(training)
    if name == "local":
        return {"command": str(script), "root": root}  # runs the script, never imports it
    if name == "sagemaker":
        source = ROOT if script.is_relative_to(ROOT) else script.parent
        return {"entry_point": str(script.relative_to(source)), "source_dir": str(source)}
    from simtune.core.backends.python import load_function

    fn = load_function(f"{script}:{function}", base=ROOT)
    given = {"fn": fn, "config_space": benchmark.space}  # fn's signature is checked against it
    if name == "ray":
        params["storage"] = params.get("storage") or root  # null: <run dir>/trials
        params["local_dir"] = root  # with storage on s3://...: the driver's copy
        return given
    return given | {"root": root}


def training_path(spec: str) -> tuple[Path, str]:
    """The script and function of "path/train.py:function" (relative: to the working
    directory, then to the simtune checkout); one line if either is wrong."""
    path_text = spec.rpartition(":")[0]
    base = Path.cwd() if path_text and Path(path_text).expanduser().exists() else ROOT
    try:
        return checked_training_path(spec, base=base)
    except ValueError as e:
        raise ValueError(f"benchmark.training: {e}") from None


__all__ = ["Run", "assemble", "from_config", "load_benchmark", "make_backend",
           "make_stop", "objective", "training_path"]
