"""Syne Tune's launch_height_python_backend.py, ported to simtune.

ASHA tunes `train_height`, a plain Python function that takes its hyperparameters as
keyword arguments and reports through `Reporter()`, exactly as in Syne Tune: only the
import of Reporter differs. The Python backend runs each call in its own process:

    python experiments/examples/launch_height_python_backend.py [--max-wallclock 10]

Syne Tune's names -> simtune's: ASHA(config_space, metric, mode, resource_attr="epoch",
max_resource_attr="steps") -> create_scheduler("asha", space=config_space, metric=...,
mode=..., max_fidelity=max_steps); PythonBackend(tune_function=f, config_space=...) ->
PythonBackend(f, config_space=..., fidelity="epoch", max_fidelity=max_steps);
StoppingCriterion(min_metric_value={metric: -6.0}) -> StoppingCriterion(metric_target=-6.0).
"""

from __future__ import annotations

import argparse
import logging

from simtune import (
    PythonBackend,
    StoppingCriterion,
    Tuner,
    TuningSummary,
    create_scheduler,
    randint,
)
from simtune.core.incumbent import describe


def train_height(steps: int, width: float, height: float):
    """The function tuned. It runs in a process of its own, so it imports what it uses."""
    import logging
    import time

    from simtune import Reporter  # Syne Tune: from syne_tune import Reporter

    root = logging.getLogger()
    root.setLevel(logging.INFO)
    reporter = Reporter()
    for step in range(steps):
        dummy_score = (0.1 + width * step / 100) ** (-1) + height * 0.1
        reporter(step=step, mean_loss=dummy_score, epoch=step + 1)
        time.sleep(0.1)


def main(max_wallclock: float = 10, n_workers: int = 4, max_steps: int = 100,
         seed: int = 0) -> TuningSummary:
    """ASHA over width and height until `max_wallclock` seconds or a loss of -6."""
    metric, mode, max_resource_attr = "mean_loss", "min", "steps"
    config_space = {
        max_resource_attr: max_steps,
        "width": randint(0, 20),
        "height": randint(-100, 100),
    }
    scheduler = create_scheduler("asha", space=config_space, metric=metric, mode=mode,
                                 max_fidelity=max_steps, seed=seed)
    trial_backend = PythonBackend(train_height, config_space=config_space,
                                  fidelity="epoch", max_fidelity=max_steps)
    stop_criterion = StoppingCriterion(max_wallclock=max_wallclock, metric_target=-6.0)
    tuner = Tuner(scheduler=scheduler, backend=trial_backend, stop=stop_criterion,
                  n_workers=n_workers, progress=False)
    summary = tuner.run()
    # the incumbent: the best value among the trials at the highest fidelity reached
    print(f"{summary.reason}: {summary.n_started} trials ({summary.n_failed} failed); "
          f"best {metric}: {describe(summary.best_record())}")
    return summary


if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-wallclock", type=float, default=10)
    parser.add_argument("--n-workers", type=int, default=4)
    args = parser.parse_args()
    main(max_wallclock=args.max_wallclock, n_workers=args.n_workers)
