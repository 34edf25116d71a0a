"""What each logger costs a simulated run: the same run without a logger and with each one.

    python experiments/speed/loggers.py                       # 2,000 trials, ASHA, branin
    python experiments/speed/loggers.py --trials 500 --loggers tensorboard --repeat 1

ASHA on the synthetic Branin curves (no data needed), 4 workers, results.csv written as
run.py does. Two times per run: `loop`, until the Tuner's loop has ended (the loggers' hot
path: they keep the points in memory and hand batches to their writer), and `total`, the
whole Tuner.run(), which returns only once every log is written and closed. Wall-clock
seconds, then CPU seconds: this process's, and its logger's child process's (TensorBoard and
MLflow write a simulated run from a forked child, core.loggers.process_writer; W&B writes
on a thread, and works in its own wandb-core process, which only the wall clock sees). Each
configuration runs `--repeat` times, alternating, and the fastest is shown: on a machine
shared with other jobs the fastest run is the one least disturbed. Each logger writes into
the run directory (under $TMPDIR: the disk it is on counts), W&B offline (WANDB_MODE=offline
unless set). Target (issue 23): each logger's total less than 2x the total without loggers.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from simtune.blackboxes import repository
from simtune.core.callbacks import Callback
from simtune.core.loggers import LOGGERS, make_loggers
from simtune.core.rundir import open_run
from simtune.core.stopping import StoppingCriterion
from simtune.experiments.assemble import assemble


class LoopEnd(Callback):
    """Notes the time the Tuner's loop ended (its on_run_end comes before the loggers')."""

    def on_run_end(self, summary) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()


def timed_run(out: Path, logger: str | None, n_trials: int, scheduler: str
              ) -> tuple[float, float, float, float]:
    """(loop wall s, total wall s, CPU s of this process, CPU s of its ended children) of a
    run of `n_trials` trials with `logger` (None: none)."""
    bb = repository.load_shared("synthetic", "branin")
    run = assemble(bb, scheduler, seed=0, stop=StoppingCriterion(max_trials=n_trials),
                   n_workers=4)
    loggers = make_loggers({logger: {}} if logger else None, out)  # imports its library
    loop_end = LoopEnd()
    tuner = run.tuner(session=open_run(out, fidelity=bb.fidelity_name,
                                       metrics=list(bb.objectives),
                                       hyperparameters=list(bb.space)),
                      callbacks=[loop_end, *loggers])
    children = _children_cpu()
    wall, cpu = time.perf_counter(), time.process_time()
    summary = tuner.run()
    total, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert summary.n_started == n_trials and not any(x.disabled for x in loggers)
    return loop_end.wall - wall, total, cpu, _children_cpu() - children


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--scheduler", default="asha")
    parser.add_argument("--loggers", nargs="+", default=list(LOGGERS), choices=list(LOGGERS))
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest shown")
    args = parser.parse_args()
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    names = [None, *args.loggers]
    best: dict[str | None, tuple[float, float, float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for name in names:
                got = timed_run(Path(tmp) / f"{name or 'none'}-{i}", name, args.trials,
                                args.scheduler)
                if name not in best or got[1] < best[name][1]:
                    best[name] = got
    base = best[None][1]
    print(f"{args.trials} trials, {args.scheduler}, simulated, fastest of {args.repeat}; "
          "wall s (loop, total) / CPU s of this process + of its logger's child process")
    for name in names:
        loop, total, cpu, child = best[name]
        line = (f"{name or 'no logger':>12}: loop {loop:7.2f}, total {total:7.2f} / "
                f"{cpu:5.2f} + {child:4.2f}")
        if name is not None:
            line += (f"   {total / base:6.1f}x the total without loggers "
                     f"({'within' if total < 2 * base else 'over'} the 2x target)")
        print(line)


if __name__ == "__main__":
    main()
