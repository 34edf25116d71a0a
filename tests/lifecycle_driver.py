"""One simulated run of a scheduler on the shipped mlp_sklearn digits curves, as a process.

python -m tests.lifecycle_driver OUT SCHEDULER [SLEEP]: results into OUT (resuming an
interrupted run there). SLEEP seconds per report (not charged to the virtual clock, so
the results do not change) keep the run alive long enough to be killed mid-way.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from simtune.blackboxes import repository
from simtune.core.backends._process import install_signal_handlers
from simtune.core.backends.simulated import SimulatedBackend
from simtune.core.rundir import open_run
from simtune.core.schedulers import make_scheduler
from simtune.core.seeds import run_rngs
from simtune.core.stopping import StoppingCriterion
from simtune.core.tuner import Tuner
from tests.helpers import context

SEED = 7
N_WORKERS = 3
STOP = {"max_trials": 14}


def run(out: Path, scheduler: str, sleep: float = 0.0) -> None:
    blackbox = repository.load_shared("mlp_sklearn", "digits")
    rng_s, rng_b = run_rngs(SEED)
    sched = make_scheduler(scheduler, context(blackbox, rng_s))
    if sleep:
        on_report = sched.on_report

        def slow(trial, report):
            time.sleep(sleep)
            return on_report(trial, report)

        sched.on_report = slow  # type: ignore[method-assign]
    writer = open_run(
        out,
        fidelity=blackbox.fidelity_name,
        metrics=list(blackbox.objectives),
        hyperparameters=list(blackbox.space),
        config={"scheduler": scheduler, "seed": SEED, "stop": STOP, "n_workers": N_WORKERS},
    ).writer
    Tuner(
        scheduler=sched,
        backend=SimulatedBackend(blackbox, rng=rng_b),
        stop=StoppingCriterion(**STOP),
        n_workers=N_WORKERS,
        results=writer,
        progress=False,
    ).run()


if __name__ == "__main__":
    install_signal_handlers()
    run(Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
