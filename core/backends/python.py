"""Trials as Python functions, each in its own process: `f(config, reporter[, checkpoint_dir])`,
or Syne Tune's shape `f(**hyperparameters)` reporting through `Reporter()`.

The function is pickled with cloudpickle (by value when defined in `__main__`, so a
training function and its tuner can live in one file) and run by
`python -m simtune.core.backends._runner TRIAL_DIR FUNCTION_PKL` through the LocalBackend
machinery: same trial directories, reports, pause/resume, failures and cleanup.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from simtune.core.backends.local import LocalBackend, training_path
from simtune.core.report import CHECKPOINT_ARG, function_shape
from simtune.core.space import Space
from simtune.core.trial import Trial

FUNCTION_FILE = "function.pkl"


def load_function(spec: str, base: str | Path | None = None) -> Callable[..., Any]:
    """The function named by "path/to/file.py:name" (relative paths against `base`).

    The file's directory chain up to `base` is imported as a package path when `base`
    is given (so the function pickles by reference); otherwise by value.

    Example:
        >>> train = load_function("experiments/training/mlp_sklearn.py:train", base=".")
    """
    import importlib
    import importlib.util

    path, name = training_path(spec, base)
    path_text = spec.rpartition(":")[0]
    module = None
    if base is not None and path.is_relative_to(Path(base).resolve()):
        root = str(Path(base).resolve())
        dotted = ".".join(path.relative_to(root).with_suffix("").parts)
        if root not in sys.path:
            sys.path.append(root)
        module = importlib.import_module(dotted)
    else:
        import cloudpickle

        mod_name = f"_simtune_training_{path.stem}"
        loader = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(loader)  # type: ignore[arg-type]
        sys.modules[mod_name] = module
        loader.loader.exec_module(module)  # type: ignore[union-attr]
        cloudpickle.register_pickle_by_value(module)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ValueError(f"training script {path_text} has no function {name!r}")
    return fn


class PythonBackend(LocalBackend):
    """Runs `fn` in a fresh Python process per trial, called as `fn(config, reporter[,
    checkpoint_dir])` or, Syne Tune's shape, with the hyperparameters as keyword arguments
    `fn(**config[, checkpoint_dir])`, reporting through `Reporter()` (core.report).

    The shape is read from `fn`'s signature before the first trial: at once when
    `config_space` (a Space or a dict of domains and constants) is given, else at the first
    start; a function that fits neither raises ValueError saying why. Takes the keyword
    arguments of LocalBackend (fidelity, max_fidelity, hang_timeout, ...). The config
    reaches `fn` as the exact dict the scheduler suggested (JSON round trip).

    Example:
        >>> def train(config, reporter, checkpoint_dir=None):
        ...     for epoch in range(1, 11):
        ...         reporter(epoch=epoch, loss=config["lr"] / epoch)
        >>> backend = PythonBackend(train, fidelity="epoch", max_fidelity=10)
    """

    name = "python"

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        config_space: Space | Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        import cloudpickle

        if not callable(fn):
            raise TypeError(f"PythonBackend needs a callable training function, got {fn!r}")
        space = None if config_space is None else Space.of(config_space)
        self.shape = None if space is None else function_shape(fn, space)
        super().__init__([sys.executable, "-m", "simtune.core.backends._runner"], **kwargs)
        self.fn = fn
        self._pickled = cloudpickle.dumps(fn)  # fails here, before anything is written

    def start(self, trial: Trial) -> None:
        if self.shape is None:  # no config_space given: check before the first trial runs
            self.shape = function_shape(self.fn, trial.config)
        super().start(trial)

    @property
    def function_path(self) -> Path:
        return self.root / FUNCTION_FILE

    def _prepare_root(self) -> None:
        if not self._root_ready:
            self.root.mkdir(parents=True, exist_ok=True)
            self.function_path.write_bytes(self._pickled)
            super()._prepare_root()

    def _argv(self, trial: Trial) -> list[str]:
        tdir = str(self.trial_dir(trial.trial_id))
        ckpt = str(self.checkpoint_dir(trial.trial_id))
        return [*self.command, tdir, str(self.function_path), CHECKPOINT_ARG, ckpt]

    def _env(self, trial: Trial) -> dict[str, str]:
        env = super()._env(trial)
        # whatever module defines `fn` and is importable here is importable in the trial
        paths = [p for p in sys.path if p and os.path.isdir(p)]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*paths, env["PYTHONPATH"]]))
        return env

    def metadata(self) -> dict[str, Any]:
        fn = self.fn
        name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
        return {**super().metadata(), "name": self.name, "function": name}
