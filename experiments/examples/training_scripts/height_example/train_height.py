"""Syne Tune's `train_height.py` training script, ported: only the import of Reporter differs.

A toy "training" of `--steps` steps whose loss depends on `--width` and `--height`; every
step reports `step`, `mean_loss` and `epoch` (the fidelity) with `Reporter()`, one line on
stdout that the local and SageMaker backends read. Run by hand it prints the same lines:

    python train_height.py --steps 3 --width 4 --height -20
"""

import logging
import time
from argparse import ArgumentParser

from simtune import Reporter  # Syne Tune: from syne_tune import Reporter

report = Reporter()


if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)

    parser = ArgumentParser()
    parser.add_argument("--steps", type=int)
    parser.add_argument("--width", type=float)
    parser.add_argument("--height", type=float)
    parser.add_argument("--sleep_time", type=float, default=0.1)
    args, _ = parser.parse_known_args()  # the backend adds --checkpoint-dir

    for step in range(args.steps):
        loss = 1 / (0.1 + args.width * step / 100) + 0.1 * args.height
        report(step=step, mean_loss=loss, epoch=step + 1)
        time.sleep(args.sleep_time)
