"""Syne Tune's random search over a training script, ported to simtune.

Each trial runs `training_scripts/height_example/train_height.py` as its own process on
this machine (the local backend), four at a time, for `--max-wallclock` seconds:

    python experiments/examples/launch_randomsearch.py [--max-wallclock 20]

Syne Tune's names -> simtune's: RandomSearch(config_space, metric, mode) ->
create_scheduler("random", space=config_space, metric=..., mode=...);
LocalBackend(entry_point=...) -> LocalBackend(path, fidelity="epoch", max_fidelity=...);
StoppingCriterion(max_wallclock_time=...) -> StoppingCriterion(max_wallclock=...);
Tuner(trial_backend=..., stop_criterion=...) -> Tuner(backend=..., stop=...).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from simtune import LocalBackend, StoppingCriterion, Tuner, TuningSummary, create_scheduler, randint
from simtune.core.incumbent import describe

ENTRY_POINT = Path(__file__).parent / "training_scripts" / "height_example" / "train_height.py"


def main(max_wallclock: float = 20, n_workers: int = 4, max_steps: int = 100,
         seed: int = 31415927) -> TuningSummary:
    """Random search over width and height for `max_wallclock` seconds; prints the best."""
    metric, mode = "mean_loss", "min"
    config_space = {"steps": max_steps, "width": randint(0, 20), "height": randint(-100, 100)}
    scheduler = create_scheduler("random", space=config_space, metric=metric, mode=mode,
                                 max_fidelity=max_steps, seed=seed)
    backend = LocalBackend(str(ENTRY_POINT), fidelity="epoch", max_fidelity=max_steps)
    tuner = Tuner(scheduler=scheduler, backend=backend,
                  stop=StoppingCriterion(max_wallclock=max_wallclock),
                  n_workers=n_workers, progress=False)
    summary = tuner.run()
    # the incumbent: the best value among the trials at the highest fidelity reached
    print(f"{summary.reason}: {summary.n_started} trials ({summary.n_failed} failed); "
          f"best {metric}: {describe(summary.best_record())}")
    return summary


if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-wallclock", type=float, default=20)
    parser.add_argument("--n-workers", type=int, default=4)
    args = parser.parse_args()
    main(max_wallclock=args.max_wallclock, n_workers=args.n_workers)
