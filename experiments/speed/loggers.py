"""What each logger costs a simulated run: the same run without a logger and with each one.

    python experiments/speed/loggers.py                       # 2,000 trials, ASHA, branin
    python experiments/speed/loggers.py --trials 500 --loggers tensorboard

ASHA on the synthetic Branin curves (no data needed), 4 workers, results.csv written as
run.py does; the run's Tuner.run() is timed (wall-clock and this process's CPU; W&B does
its writing in its own wandb-core process, which only the wall clock sees). Each logger
writes into the run directory, W&B offline (WANDB_MODE=offline unless set). Target
(issue 23): each logger costs less than 2x the run's time without loggers.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from simtune.blackboxes import repository
from simtune.core.loggers import LOGGERS, make_loggers
from simtune.core.rundir import open_run
from simtune.core.stopping import StoppingCriterion
from simtune.experiments.assemble import assemble


def timed_run(out: Path, logger: str | None, n_trials: int, scheduler: str) -> tuple[float, float]:
    """(wall s, CPU s) of Tuner.run() for `n_trials` trials with `logger` (None: none)."""
    bb = repository.load_shared("synthetic", "branin")
    run = assemble(bb, scheduler, seed=0, stop=StoppingCriterion(max_trials=n_trials),
                   n_workers=4)
    loggers = make_loggers({logger: {}} if logger else None, out)  # imports its library
    tuner = run.tuner(session=open_run(out, fidelity=bb.fidelity_name,
                                       metrics=list(bb.objectives),
                                       hyperparameters=list(bb.space)), callbacks=loggers)
    wall, cpu = time.perf_counter(), time.process_time()
    summary = tuner.run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert summary.n_started == n_trials and not any(x.disabled for x in loggers)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--scheduler", default="asha")
    parser.add_argument("--loggers", nargs="+", default=list(LOGGERS), choices=list(LOGGERS))
    args = parser.parse_args()
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    with tempfile.TemporaryDirectory() as tmp:
        base, base_cpu = timed_run(Path(tmp) / "none", None, args.trials, args.scheduler)
        print(f"{args.trials} trials, {args.scheduler}, simulated; Tuner.run() wall / CPU s")
        print(f"{'no logger':>12}: {base:7.2f} / {base_cpu:7.2f}")
        for name in args.loggers:
            wall, cpu = timed_run(Path(tmp) / name, name, args.trials, args.scheduler)
            print(f"{name:>12}: {wall:7.2f} / {cpu:7.2f}   {wall / base:6.1f}x the time "
                  f"without loggers ({'within' if wall < 2 * base else 'over'} the 2x target)")


if __name__ == "__main__":
    main()
