"""Syne Tune's launch_height_sagemaker.py, ported to simtune.

Random search where every trial is one SageMaker training job running
`training_scripts/height_example/train_height.py` in a framework container; the job's
settings (image, role, instance, max_run) come from a `sagemaker` SDK framework estimator,
PyTorch here, as in Syne Tune. Needs `pip install -e ".[sagemaker]" sagemaker`, AWS
credentials and a region, and an IAM role SageMaker can assume (SAGEMAKER_ROLE, else the
SDK's get_execution_role(), which works inside SageMaker):

    python experiments/examples/launch_height_sagemaker.py [--max-wallclock 600]

Syne Tune's names -> simtune's: SageMakerBackend(sm_estimator=PyTorch(...),
metrics_names=[metric]) -> SageMakerBackend.from_estimator(PyTorch(...),
metric_definitions=[metric], fidelity="epoch", max_fidelity=max_steps); the report lines
of Reporter() are read from the jobs' CloudWatch logs.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from simtune import StoppingCriterion, Tuner, TuningSummary, create_scheduler, randint
from simtune.core.backends.sagemaker import SageMakerBackend
from simtune.core.incumbent import describe

ENTRY_POINT = Path(__file__).parent / "training_scripts" / "height_example" / "train_height.py"


def pytorch_estimator() -> Any:
    """The framework estimator of the Syne Tune example (the `sagemaker` SDK)."""
    from sagemaker import get_execution_role
    from sagemaker.pytorch import PyTorch

    return PyTorch(
        entry_point=str(ENTRY_POINT),
        instance_type="ml.m5.large",
        instance_count=1,
        role=os.environ.get("SAGEMAKER_ROLE") or get_execution_role(),
        max_run=10 * 60,
        framework_version="2.2",
        py_version="py310",
    )


def main(estimator: Any, max_wallclock: float = 600, max_trials: int | None = None,
         n_workers: int = 4, max_steps: int = 100, **backend_args: Any) -> TuningSummary:
    """Random search over width and height, one SageMaker job per trial, `n_workers` at a
    time; `backend_args` go to the backend (e.g. region, poll_interval)."""
    metric, mode = "mean_loss", "min"
    config_space = {"steps": max_steps, "width": randint(0, 20), "height": randint(-100, 100)}
    scheduler = create_scheduler("random", space=config_space, metric=metric, mode=mode,
                                 max_fidelity=max_steps, seed=31415927)
    trial_backend = SageMakerBackend.from_estimator(
        estimator, metric_definitions=[metric], fidelity="epoch", max_fidelity=max_steps,
        max_jobs=n_workers, **backend_args)
    stop = StoppingCriterion(max_wallclock=max_wallclock, max_trials=max_trials)
    tuner = Tuner(scheduler=scheduler, backend=trial_backend, stop=stop,
                  n_workers=n_workers, progress=False)
    summary = tuner.run()
    # the incumbent: the best value among the trials at the highest fidelity reached
    print(f"{summary.reason}: {summary.n_started} trials ({summary.n_failed} failed); "
          f"best {metric}: {describe(summary.best_record())}")
    return summary


if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-wallclock", type=float, default=600)
    parser.add_argument("--n-workers", type=int, default=4)
    args = parser.parse_args()
    main(pytorch_estimator(), max_wallclock=args.max_wallclock, n_workers=args.n_workers)
