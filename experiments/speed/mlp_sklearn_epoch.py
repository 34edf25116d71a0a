"""Measure the per-epoch CPU time of the mlp_sklearn training function (one BLAS thread).

python experiments/speed/mlp_sklearn_epoch.py [n_configs_per_task]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from simtune.blackboxes.sources.mlp_sklearn import TASKS, mlp_sklearn_space  # noqa: E402
from simtune.blackboxes.tabulate import grid  # noqa: E402
from simtune.experiments.training.mlp_sklearn import train  # noqa: E402


def main(n: int = 12, epochs: int = 5) -> None:
    rng = np.random.default_rng(0)
    for task in TASKS:
        configs = grid(mlp_sklearn_space(task))
        picks = rng.choice(len(configs), size=min(n, len(configs)), replace=False)
        total = 0.0
        for i in picks.tolist():
            config = {**configs[i], "epochs": epochs}
            t0 = time.process_time()
            train(config, lambda **m: None)
            total += time.process_time() - t0
        per_epoch = total / (len(picks) * epochs)
        print(
            f"{task}: {per_epoch * 1e3:.1f} ms CPU/epoch; grid of {len(configs)} configs x 3 seeds "
            f"x 50 epochs ~ {per_epoch * len(configs) * 150 / 3600:.2f} core-hours"
        )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
