"""An example of your own training for `benchmark=custom`: a linear model trained by SGD.

scikit-learn's SGDRegressor on its bundled diabetes data (442 patients, 10 features,
offline), one pass over the training split per epoch, reporting the validation R^2
and mean squared error after each; its search space is sgd_diabetes_space.yaml.

    python experiments/run.py benchmark=custom backend=local scheduler=asha \\
      benchmark.training=experiments/training/sgd_diabetes.py:train \\
      benchmark.space=experiments/training/sgd_diabetes_space.yaml \\
      benchmark.metric=val_r2 benchmark.mode=max benchmark.max_fidelity=30 \\
      stop.max_wallclock=60

Run alone: `python sgd_diabetes.py --alpha 0.001 --eta0 0.01 --penalty l2 --l1_ratio 0.15
--epochs 30 --checkpoint-dir /tmp/ckpt`.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from simtune.core.report import run_script


def data(seed: int = 0) -> tuple[np.ndarray, ...]:
    """Standardized train/validation split of sklearn's diabetes data (70/30)."""
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_diabetes(return_X_y=True)
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=0.3, random_state=seed)
    scaler = StandardScaler().fit(X_tr)
    mean, std = y_tr.mean(), y_tr.std()
    X_tr, X_val = scaler.transform(X_tr), scaler.transform(X_val)
    return X_tr, X_val, (y_tr - mean) / std, (y_val - mean) / std


def train(config: dict[str, Any], reporter: Any, checkpoint_dir: str | None = None) -> None:
    """Train for config["epochs"] epochs (resuming from the checkpoint), reporting each."""
    from sklearn.linear_model import SGDRegressor
    from sklearn.metrics import mean_squared_error, r2_score

    X_tr, X_val, y_tr, y_val = data()
    ckpt = Path(checkpoint_dir) / "model.pkl" if checkpoint_dir else None
    if ckpt is not None and ckpt.exists():
        state = pickle.loads(ckpt.read_bytes())
    else:
        model = SGDRegressor(alpha=config["alpha"], eta0=config["eta0"],
                             penalty=config["penalty"], l1_ratio=config["l1_ratio"],
                             learning_rate="constant", random_state=0)
        state = {"model": model, "epoch": 0, "rng": np.random.default_rng(0)}
    model, rng = state["model"], state["rng"]
    for epoch in range(state["epoch"] + 1, int(config["epochs"]) + 1):
        order = rng.permutation(len(y_tr))
        for batch in np.array_split(order, max(1, len(order) // 32)):
            model.partial_fit(X_tr[batch], y_tr[batch])
        pred = model.predict(X_val)
        r2 = r2_score(y_val, pred) if np.all(np.isfinite(pred)) else -1e3
        mse = mean_squared_error(y_val, pred) if np.all(np.isfinite(pred)) else 1e3
        state["epoch"] = epoch
        if ckpt is not None:
            # checkpoint first, then report; atomically, as PBT may copy it at any time
            partial = ckpt.with_suffix(".tmp")
            partial.write_bytes(pickle.dumps(state))
            partial.replace(ckpt)
        reporter(epoch=epoch, val_r2=max(float(r2), -1e3), val_mse=min(float(mse), 1e3))


if __name__ == "__main__":
    run_script(train)
