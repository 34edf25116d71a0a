"""Real training workload: scikit-learn's MLPClassifier, one epoch per `partial_fit` call.

The model behind the shipped `mlp_sklearn` benchmark, and the training function the
real backends run (`backend=python` imports `train`; `backend=local` runs this file).

Config keys (all but the first six have defaults):
    n_layers, width, learning_rate_init, batch_size, alpha, activation   hyperparameters
    dataset   task, one of digits | breast_cancer | wine (default digits)
    epochs    epochs to train (default 50)
    seed      fixes the train/validation/test split (60/20/20, stratified), the initial
              weights and the minibatch order (default 0)

After each epoch e it calls `reporter(epoch=e, val_accuracy=..., val_logloss=...,
test_accuracy=...)`. Features are standardized with the training part's statistics.
Adam, no early stopping. BLAS runs one thread. With `checkpoint_dir`, model, epoch and
random state are saved after each epoch and a rerun resumes from them: the resumed run
reports the same values as an uninterrupted one.

Example:
    >>> train({"dataset": "wine", "n_layers": 1, "width": 32, "learning_rate_init": 1e-3,
    ...        "batch_size": 32, "alpha": 1e-4, "activation": "relu", "epochs": 3}, print_reporter)
    python experiments/training/mlp_sklearn.py --dataset wine --n_layers 1 --width 32 ...
"""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

DATASETS = ("digits", "breast_cancer", "wine")
HYPERPARAMETERS = ("n_layers", "width", "learning_rate_init", "batch_size", "alpha", "activation")
CHECKPOINT = "mlp_sklearn.pkl"


def train(config: dict, reporter: Any, checkpoint_dir: Path | None = None) -> None:
    """Train an MLP on `config["dataset"]` for `config["epochs"]` epochs, reporting each."""
    missing = [k for k in HYPERPARAMETERS if k not in config]
    if missing:
        raise ValueError(
            f"mlp_sklearn: config lacks {missing}; it needs {', '.join(HYPERPARAMETERS)}"
        )
    dataset = config.get("dataset", "digits")
    epochs, seed = int(config.get("epochs", 50)), int(config.get("seed", 0))
    with threadpool_limits(limits=1):
        X_train, y_train, X_val, y_val, X_test, y_test = split(dataset, seed)
        path = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir is not None else None
        state = _load(path) if path is not None and path.exists() else None
        if state is None:
            model, done = _model(config, seed), 0
        else:
            model, done = state["model"], state["epoch"]
            model.random_state.set_state(state["rng"])
        classes = np.unique(y_train)
        for epoch in range(done + 1, epochs + 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # overflow in diverging configs is a result
                model.partial_fit(X_train, y_train, classes=classes)
            metrics = evaluate(model, X_val, y_val, X_test, y_test, classes)
            if path is not None:
                _save(path, {"model": model, "epoch": epoch, "rng": model.random_state.get_state()})
            reporter(epoch=epoch, **metrics)


def evaluate(
    model: Any, X_val: np.ndarray, y_val: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
    classes: np.ndarray,
) -> dict[str, float]:
    """Validation accuracy and log-loss, test accuracy; a diverged model scores chance-level."""
    with np.errstate(all="ignore"):
        proba_val = model.predict_proba(X_val)
        proba_test = model.predict_proba(X_test)
    k = len(classes)
    # a diverged network outputs NaN: score it as the uniform prediction (no NaN in tables)
    proba_val = np.where(np.isfinite(proba_val).all(axis=1, keepdims=True), proba_val, 1 / k)
    proba_test = np.where(np.isfinite(proba_test).all(axis=1, keepdims=True), proba_test, 1 / k)
    eps = 1e-15  # as sklearn.metrics.log_loss: clip so that one sure mistake costs ~34.5
    p_true = np.clip(proba_val[np.arange(len(y_val)), np.searchsorted(classes, y_val)], eps, 1)
    return {
        "val_accuracy": float(np.mean(classes[proba_val.argmax(axis=1)] == y_val)),
        "val_logloss": float(-np.mean(np.log(p_true))),
        "test_accuracy": float(np.mean(classes[proba_test.argmax(axis=1)] == y_test)),
    }


def split(dataset: str, seed: int) -> tuple[np.ndarray, ...]:
    """(X_train, y_train, X_val, y_val, X_test, y_test): 60/20/20 stratified, fixed by seed.

    Loaded afresh on every call (a few ms), so that every trial's first epoch pays the
    same data-loading cost, as a real job would.
    """
    if dataset not in DATASETS:
        raise ValueError(f"mlp_sklearn: unknown dataset {dataset!r}; use one of {DATASETS}")
    X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, test_size=0.4, stratify=y, random_state=seed
    )
    X_val, X_test, y_val, y_test = train_test_split(
        X_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=seed
    )
    scaler = StandardScaler().fit(X_train)
    return (
        scaler.transform(X_train), y_train, scaler.transform(X_val), y_val,
        scaler.transform(X_test), y_test,
    )


def _model(config: dict, seed: int) -> MLPClassifier:
    # sklearn wants a RandomState; a persistent one (not an int) gives a new minibatch
    # order every epoch, and is saved with the checkpoint
    rng = np.random.RandomState(np.random.MT19937(np.random.SeedSequence(seed)))
    return MLPClassifier(
        hidden_layer_sizes=(int(config["width"]),) * int(config["n_layers"]),
        activation=str(config["activation"]),
        solver="adam",
        alpha=float(config["alpha"]),
        batch_size=int(config["batch_size"]),
        learning_rate_init=float(config["learning_rate_init"]),
        random_state=rng,
    )


def _save(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


def _load(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f)


if __name__ == "__main__":
    from simtune.core.report import run_script

    run_script(train)
