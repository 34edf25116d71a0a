"""A training for the conditional space of space.yaml that RAISES on a wrong configuration.

It checks that its configuration holds exactly the active hyperparameters (momentum with
sgd only, beta1 with adam only) and then "trains" for config["epochs"] epochs: a closed
form learning curve whose floor depends on the optimizer's own hyperparameters (sgd
is best near lr=0.03, momentum=0.9; adam near lr=0.003, beta1=0.9), reporting val_loss
(to minimize) every epoch and resuming from its checkpoint (pbt copies them). The ten
schedulers of issue 22 on it: check.py in this folder. One of them:

    python experiments/run.py benchmark=custom backend=python scheduler=rea \\
      benchmark.training=experiments/examples/conditional/train.py:train \\
      benchmark.space=experiments/examples/conditional/space.yaml \\
      benchmark.metric=val_loss benchmark.mode=min benchmark.max_fidelity=9 \\
      stop.max_trials=24
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

ACTIVE = {"sgd": {"optimizer", "lr", "momentum", "epochs"},
          "adam": {"optimizer", "lr", "beta1", "epochs"}}


def check(config: dict[str, Any]) -> None:
    """Raise ValueError unless `config` holds exactly its active hyperparameters."""
    want = ACTIVE[config["optimizer"]]
    extra, missing = set(config) - want, want - set(config)
    if extra or missing:
        raise ValueError(f"optimizer={config['optimizer']}: inactive hyperparameters "
                         f"{sorted(extra)} given, active ones {sorted(missing)} missing")


def floor(config: dict[str, Any]) -> float:
    """The loss this configuration converges to."""
    if config["optimizer"] == "sgd":
        return (0.3 + 0.1 * (math.log10(config["lr"]) - math.log10(0.03)) ** 2
                + (config["momentum"] - 0.9) ** 2)
    return (0.25 + 0.1 * (math.log10(config["lr"]) - math.log10(0.003)) ** 2
            + 10 * (config["beta1"] - 0.9) ** 2)


def train(config: dict[str, Any], reporter: Any, checkpoint_dir: str | None = None) -> None:
    """Check the configuration, then report val_loss for each epoch after the checkpoint's."""
    check(config)
    ckpt = Path(checkpoint_dir) / "state.json" if checkpoint_dir else None
    done = json.loads(ckpt.read_text())["epoch"] if ckpt is not None and ckpt.exists() else 0
    # a checkpoint of the last epoch (pbt copied a trial that had ended) is evaluated again
    for epoch in range(min(done + 1, int(config["epochs"])), int(config["epochs"]) + 1):
        loss = floor(config) + math.exp(-epoch / 3)
        if ckpt is not None:  # atomically: pbt may copy the checkpoint at any moment
            ckpt.with_suffix(".tmp").write_text(json.dumps({"epoch": epoch}))
            os.replace(ckpt.with_suffix(".tmp"), ckpt)
        reporter(epoch=epoch, val_loss=loss)
