"""YAHPO Gym's LCBench surrogate (Pfisterer et al. 2022), queried through plain onnxruntime.

The model dir (`raw_dir`, else $SIMTUNE_YAHPO_DIR) holds `model.onnx`,
`config_space.json` and `encoding.json` of yahpo_data's `lcbench/`. Inputs:
`x_cat` int32 [n, 1] = encoding["OpenML_task_id"][task]; `x_cont` float32
[n, 8] = epoch, batch_size, learning_rate, momentum, weight_decay, num_layers,
max_units, max_dropout (raw values). Output [n, 6]: time (cumulative seconds),
val_accuracy, val_cross_entropy, val_balanced_accuracy, test_cross_entropy,
test_balanced_accuracy (accuracies in percent). A surrogate is a model of
LCBench, not its data: `curve` answers any configuration of the space, one
seed (0), epochs 1..52, with elapsed time made monotone by a running maximum
(the model predicts each epoch independently). `freeze` samples a table.

Example:
    >>> bb = load_yahpo_lcbench("3945", raw_dir="~/data/yahpo/lcbench")
    >>> bb.evaluate(bb.space.sample(np.random.default_rng(0)), fidelity=52)["val_accuracy"]
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from simtune.blackboxes.blackbox import TIME, Blackbox, Curve, TabularBlackbox
from simtune.blackboxes.cache import default_dest
from simtune.core.configspace import read_configspace
from simtune.core.space import Space

NAME = "yahpo_lcbench"
RAW_ENV = "SIMTUNE_YAHPO_DIR"
FILES = ("model.onnx", "config_space.json", "encoding.json")
INPUTS = (
    "batch_size",
    "learning_rate",
    "momentum",
    "weight_decay",
    "num_layers",
    "max_units",
    "max_dropout",
)  # x_cont columns after epoch
OUTPUTS = (
    TIME,
    "val_accuracy",
    "val_cross_entropy",
    "val_balanced_accuracy",
    "test_cross_entropy",
    "test_balanced_accuracy",
)
OBJECTIVES = {
    "val_accuracy": "max",
    "val_cross_entropy": "min",
    "val_balanced_accuracy": "max",
    "test_cross_entropy": "min",
    "test_balanced_accuracy": "max",
}
# the 34 OpenML task ids of config_space.json (encoding.json also codes 167083, unused)
TASKS = (
    "3945", "7593", "34539", "126025", "126026", "126029", "146212", "167104", "167149",
    "167152", "167161", "167168", "167181", "167184", "167185", "167190", "167200", "167201",
    "168329", "168330", "168331", "168335", "168868", "168908", "168910", "189354", "189862",
    "189865", "189866", "189873", "189905", "189906", "189908", "189909",
)  # fmt: skip


class YahpoLCBench(Blackbox):
    """The YAHPO LCBench surrogate of one OpenML task; whole curves in one batched ONNX call.

    Example:
        >>> bb = YahpoLCBench("~/data/yahpo/lcbench", "3945")
        >>> curve = bb.curve({**bb.space.sample(np.random.default_rng(0))}, seed=0)
    """

    def __init__(self, model_dir: str | Path, task: str) -> None:
        import onnxruntime  # lazy: an optional dependency (extra `yahpo`)

        folder = Path(model_dir).expanduser()
        missing = [f for f in FILES if not (folder / f).is_file()]
        if missing:
            raise ValueError(
                f"{folder} lacks {', '.join(missing)}: expected yahpo_data's lcbench/ files "
                f"{', '.join(FILES)}; run `python -m simtune.blackboxes download {NAME}`"
            )
        full = read_configspace(folder / "config_space.json")  # task, epoch and INPUTS
        encoding = json.loads((folder / "encoding.json").read_text())["OpenML_task_id"]
        tasks = [str(t) for t in full["OpenML_task_id"].values()]
        if task not in tasks or task not in encoding:
            raise ValueError(f"{NAME} has no task {task!r}; tasks: {', '.join(tasks)}")
        self.name, self.task = NAME, task
        self.space = Space({name: full[name] for name in INPUTS})
        self.objectives = dict(OBJECTIVES)
        self.fidelity_name = "epoch"
        self.fidelities = full["epoch"].values()
        self.seeds = [0]
        self.source = f"YAHPO Gym surrogate in {folder} (a model of LCBench, not its data)"
        self.optimum = None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # deterministic and polite on shared machines
        self._session = onnxruntime.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self._task_code = int(encoding[task])
        self._epochs = np.asarray(self.fidelities, dtype=np.float32)

    def predict(self, configs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        """Outputs of `configs` at every epoch: name -> array [len(configs), n_epochs]."""
        n, e = len(configs), len(self._epochs)
        x = np.empty((n, e, 1 + len(INPUTS)), dtype=np.float32)
        x[:, :, 0] = self._epochs
        for j, name in enumerate(INPUTS, 1):
            x[:, :, j] = np.asarray([float(c[name]) for c in configs], dtype=np.float32)[:, None]
        cat = np.full((n * e, 1), self._task_code, dtype=np.int32)
        (out,) = self._session.run(None, {"x_cat": cat, "x_cont": x.reshape(n * e, -1)})
        out = np.asarray(out, dtype=float).reshape(n, e, len(OUTPUTS))
        values = {name: out[:, :, k] for k, name in enumerate(OUTPUTS)}
        values[TIME] = np.maximum.accumulate(values[TIME], axis=1)
        return values

    def curve(self, config: dict[str, Any], seed: int = 0) -> Curve:
        if seed != 0:
            raise ValueError(f"{NAME}/{self.task} has only seed 0, got {seed!r}")
        self.space.validate(config)
        values = self.predict([config])
        return Curve(
            fidelities=list(self.fidelities),
            elapsed=values[TIME][0].tolist(),
            metrics={k: values[k][0].tolist() for k in self.objectives},
        )


def load_yahpo_lcbench(task: str, raw_dir: str | Path | None = None) -> YahpoLCBench:
    """The surrogate of OpenML task `task` from `raw_dir`, $SIMTUNE_YAHPO_DIR or a download."""
    folder = raw_dir or os.environ.get(RAW_ENV) or None
    if folder is None:
        downloaded = default_dest(NAME)
        folder = downloaded if (downloaded / FILES[0]).is_file() else None
    if folder is None:
        raise ValueError(
            f"no {NAME} model: pass raw_dir or set {RAW_ENV} to the folder holding "
            f"{', '.join(FILES)} (yahpo_data lcbench/), or run "
            f"`python -m simtune.blackboxes download {NAME}`; needs `pip install simtune[yahpo]`"
        )
    return YahpoLCBench(folder, task)


def status(task: str) -> str:
    """Where the surrogate of `task` would come from, without loading it."""
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None:
        return "needs onnxruntime: pip install 'simtune[yahpo]'"
    if os.environ.get(RAW_ENV):
        return f"surrogate model in ${RAW_ENV} (YAHPO Gym ONNX)"
    if (default_dest(NAME) / FILES[0]).is_file():
        return f"surrogate model downloaded to {default_dest(NAME)}"
    return f"model files needed: python -m simtune.blackboxes download {NAME} (or set {RAW_ENV})"


def freeze(bb: YahpoLCBench, n: int, rng: np.random.Generator, batch: int = 256) -> TabularBlackbox:
    """A table of `n` configurations sampled with `rng`, their surrogate curves as values."""
    if n < 1:
        raise ValueError(f"freeze: n must be a positive integer, got {n!r}")
    configs: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    while len(configs) < n:
        for c in bb.space.sample(rng, n - len(configs)):
            key = bb.space.key(c)
            if key not in seen:
                seen.add(key)
                configs.append(c)
    parts = [bb.predict(configs[i : i + batch]) for i in range(0, n, batch)]
    names = [*bb.objectives, TIME]
    values = {k: np.concatenate([p[k] for p in parts])[:, None, :] for k in names}
    return TabularBlackbox.from_arrays(
        name=NAME,
        task=bb.task,
        space=bb.space,
        configs=configs,
        seeds=[0],
        fidelities=list(bb.fidelities),
        objectives=dict(bb.objectives),
        values=values,
        source=f"{bb.source}, frozen at {n} sampled configs",
    )
