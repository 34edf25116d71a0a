"""What training code calls to report metrics: `reporter(epoch=3, val_accuracy=0.91)`.

The line protocol between a training process and a real backend: each report is one
line on stdout, the prefix `[simtune] ` followed by a JSON object of numbers,

    [simtune] {"epoch": 3, "val_accuracy": 0.91}

Every other line of output is left alone. A backend that copies checkpoints while the
trial runs asks ($SIMTUNE_CHECKPOINT_STAMP=1) for one more key, `@checkpoint`: which
checkpoint the report stands for (core.checkpoint_stamp); parsing strips it.
`run_script(train)` turns a script's
command line (`--name value` pairs or one `--config-json JSON` argument, and
`--checkpoint-dir DIR`) into the call `train(config, reporter, checkpoint_dir)` (or
`train(**config)` for a function taking its hyperparameters as keywords, which reports
through `Reporter()`).
The local backend sends pairs and the same config as JSON in $SIMTUNE_CONFIG, which
gives the pairs their exact types ("007" stays a string) when both agree.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, TextIO

PREFIX = "[simtune] "
CHECKPOINT_ENV = "SIMTUNE_CHECKPOINT_DIR"
CHECKPOINT_ARG = "--checkpoint-dir"
CONFIG_ARG = "--config-json"  # one argument holding the whole config as a JSON object
CONFIG_ENV = "SIMTUNE_CONFIG"  # the config as JSON, beside the `--name value` pairs
STAMP_ENV = "SIMTUNE_CHECKPOINT_STAMP"  # "1": each report names its checkpoint (below)
STAMP_KEY = "@checkpoint"  # the reserved key of a report that does (core.checkpoint_stamp)
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")


class Reporter:
    """Receives one call per fidelity step from a training function or script.

    Every call names the fidelity (e.g. `epoch=3`) and the metrics reached there.
    `Reporter()` made anywhere in a trial reports for that trial, as in Syne Tune: inside
    a function that `call_train` runs (backend=python, its hyperparameters as keywords or
    not) it hands the report to that trial's reporter; in a script (backend=local,
    sagemaker) it writes the protocol line to stdout, where the backend reads it. Outside
    any trial it writes the same line to stdout, so a script run by hand shows what it
    reports. Backends and tools subclass it to send reports elsewhere.

    Example:
        >>> report = Reporter()
        >>> report(epoch=1, mean_loss=0.3)
        [simtune] {"epoch": 1, "mean_loss": 0.3}
    """

    def __call__(self, **metrics: Any) -> None:
        target = _TRIAL_REPORTER.get()
        if target is not None and target is not self:
            target(**metrics)
        else:
            _write(sys.stdout, metrics)


class StdoutReporter(Reporter):
    """Writes each report as one protocol line to `stream` (stdout), flushed at once.

    Example:
        >>> StdoutReporter()(epoch=1, loss=0.5)
        [simtune] {"epoch": 1, "loss": 0.5}
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def __call__(self, **metrics: Any) -> None:
        _write(self.stream or sys.stdout, metrics)


# the reporter of the trial whose training function runs in this context (see call_train)
_TRIAL_REPORTER: ContextVar[Reporter | None] = ContextVar("simtune_reporter", default=None)


def _write(stream: TextIO, metrics: dict[str, Any]) -> None:
    line = format_report(metrics)
    if _STAMPED_DIR is not None:  # which checkpoint this report stands for
        # imported here: this module alone is what SageMaker jobs ship (stdlib only)
        from simtune.core.checkpoint_stamp import checkpoint_stamp

        line = line[:-1] + f', "{STAMP_KEY}": "{checkpoint_stamp(_STAMPED_DIR)}"}}'
    stream.write(line + "\n")
    stream.flush()
    _SIGTERM.reported()


class _FinishReportOnSigterm:
    """SIGTERM in a trial process that checkpointed since its last report: the report of
    that checkpoint is made first (within GRACE s, else SIGKILL), then the process dies
    of the SIGTERM.

    Checkpoint first, then report: a trial ended between the two would resume past a
    step it never reported. Without a checkpoint since its last report it dies at once,
    as with the default action.
    """

    SLACK_NS = 50_000_000  # file times come from a coarse clock: a little before counts
    GRACE = 2.0

    def __init__(self) -> None:
        self.checkpoint_dir: str | None = None
        self.pid = 0
        self.last_report_ns = 0
        self.pending = self.dying = False

    def install(self, checkpoint_dir: str | None) -> None:
        """Handle SIGTERM so (main thread, and only if nothing else handles it)."""
        if (
            checkpoint_dir
            and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
            and threading.current_thread() is threading.main_thread()
        ):
            self.checkpoint_dir, self.pid = checkpoint_dir, os.getpid()
            self.last_report_ns = time.time_ns()
            signal.signal(signal.SIGTERM, self._on_sigterm)

    def reported(self) -> None:
        self.last_report_ns = time.time_ns()
        if self.pending and os.getpid() == self.pid:
            self.dying = True
            os.kill(self.pid, signal.SIGTERM)  # its handler runs in the main thread: dies

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        if self.dying or os.getpid() != self.pid or not self._checkpointed_since_report():
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked child of the trial,
            os.kill(os.getpid(), signal.SIGTERM)  # or nothing unreported: as by default
        elif not self.pending:
            self.pending = True  # dies once the report is written
            timer = threading.Timer(self.GRACE, os.kill, (self.pid, signal.SIGKILL))
            timer.daemon = True
            timer.start()

    def _checkpointed_since_report(self) -> bool:
        since = self.last_report_ns - self.SLACK_NS
        for root, dirs, files in os.walk(self.checkpoint_dir or ""):
            for name in [*dirs, *files]:
                try:
                    if os.stat(os.path.join(root, name)).st_mtime_ns > since:
                        return True
                except OSError:  # replaced meanwhile: it changed
                    return True
        return False


_SIGTERM = _FinishReportOnSigterm()
_STAMPED_DIR: str | None = None  # the checkpoint directory each report line stamps


def format_report(metrics: dict[str, Any]) -> str:
    """One protocol line (without newline); ValueError names a value that is not a number."""
    if not metrics:
        raise ValueError("a report needs at least one metric, e.g. reporter(epoch=1, loss=0.3)")
    out: dict[str, float | int] = {}
    for name, value in metrics.items():
        if hasattr(value, "item") and callable(value.item):  # numpy scalars
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(
                f"report value {name}={value!r} is not a number; report numbers only"
            )
        out[name] = value
    return PREFIX + json.dumps(out)


def parse_report(line: str) -> dict[str, float | int] | None:
    """The metrics of a protocol line, None for any other line.

    ValueError (saying what is wrong) when the line has the prefix but no valid report.
    """
    return split_report(line)[0]


def split_report(line: str) -> tuple[dict[str, float | int] | None, str | None]:
    """(the metrics of a protocol line or None, the checkpoint stamp it carries or None)."""
    line = line.rstrip("\r\n")
    if not line.startswith(PREFIX):
        return None, None
    body = line[len(PREFIX) :]
    try:
        data = json.loads(body)
    except json.JSONDecodeError as e:
        raise ValueError(f"report is not valid JSON ({e.msg}): {body[:200]!r}") from None
    stamp = data.pop(STAMP_KEY, None) if isinstance(data, dict) else None
    if not isinstance(data, dict) or not data:
        raise ValueError(f"report is not a JSON object of metrics: {body[:200]!r}")
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"report value {name}={value!r} is not a number")
    return data, stamp if isinstance(stamp, str) else None


def parse_value(text: str) -> int | float | bool | str:
    """A command-line value as int or float when it looks like a number, bool for True/False."""
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if text in ("True", "False"):
        return text == "True"
    return text


def format_value(value: Any) -> str:
    """The command-line form of a config value; `parse_value` gives it back."""
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return str(value)


def config_to_argv(config: dict[str, Any]) -> list[str]:
    """`--name value` pairs, one argv item each (never joined into a shell string)."""
    argv: list[str] = []
    for name, value in config.items():
        argv += [f"--{name}", format_value(value)]
    return argv


def parse_args(
    argv: Sequence[str], typed: str | None = None
) -> tuple[dict[str, Any], str | None]:
    """Config and checkpoint dir from `--name value` pairs and/or `--config-json JSON`.

    Values of pairs are guessed by `parse_value`, unless `typed` (the JSON text of
    $SIMTUNE_CONFIG) holds exactly the same pairs: then they keep its types. ValueError
    names a bad item.
    """
    raw: dict[str, str] = {}
    config: dict[str, Any] = {}
    checkpoint_dir = None
    if len(argv) % 2:
        raise ValueError(
            f"arguments must come in '--name value' pairs; got {len(argv)} items: {list(argv)!r}"
        )
    for i in range(0, len(argv), 2):
        key, value = argv[i], argv[i + 1]
        if not key.startswith("--") or len(key) == 2:
            raise ValueError(f"argument {i + 1} is {key!r}; expected '--name' before each value")
        if key == CHECKPOINT_ARG:
            checkpoint_dir = value
        elif key == CONFIG_ARG:
            config.update(_json_config(value, CONFIG_ARG))
        else:
            raw[key[2:]] = value
    both = sorted(set(raw) & set(config))
    if both:
        raise ValueError(f"{both[0]!r} is given both in {CONFIG_ARG} and as --{both[0]}")
    exact = _json_config(typed, CONFIG_ENV) if typed else None
    if exact is not None and (
        set(exact) != set(raw) or any(format_value(exact[k]) != v for k, v in raw.items())
    ):
        exact = None  # describes another config (e.g. inherited by a nested script)
    config.update(exact if exact is not None else {k: parse_value(v) for k, v in raw.items()})
    return config, checkpoint_dir


def _json_config(text: str, where: str) -> dict[str, Any]:
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where} is not valid JSON ({e.msg}): {text[:200]!r}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{where} must be a JSON object of name: value, got {text[:200]!r}")
    return config


CONFIG_SHAPE = "config"  # train(config, reporter[, checkpoint_dir])
KEYWORDS_SHAPE = "keywords"  # train(**hyperparameters[, checkpoint_dir]), reports via Reporter()


def function_shape(train: Callable[..., Any], names: Iterable[str]) -> str:
    """How `train` takes a config of the hyperparameters `names`: CONFIG_SHAPE, or
    KEYWORDS_SHAPE (Syne Tune's shape: each hyperparameter a keyword argument). A
    function that fits both (e.g. `f(*args, **kwargs)`) gets CONFIG_SHAPE; one that
    fits neither a ValueError in one line saying why.

    Example:
        >>> function_shape(lambda steps, width: None, ["steps", "width"])
        'keywords'
    """
    names = list(names)
    try:
        sig = inspect.signature(train)
    except (TypeError, ValueError):  # no signature to read (a builtin): the native shape
        return CONFIG_SHAPE
    params = sig.parameters
    keywords: dict[str, Any] = dict.fromkeys(names)
    if "checkpoint_dir" in params:
        keywords.setdefault("checkpoint_dir", None)
    why = "the config has no hyperparameters"
    if names and not any(p.kind == p.VAR_POSITIONAL for p in params.values()):
        try:
            sig.bind(**keywords)
            return KEYWORDS_SHAPE
        except TypeError as e:
            why = str(e)
    # a parameter named like a hyperparameter means keywords were meant: say why they fail
    if not set(params) & set(names):
        takes = _takes_checkpoint_dir(params)
        try:
            sig.bind(None, None, **({"checkpoint_dir": None} if takes else {}))
            return CONFIG_SHAPE
        except TypeError:
            pass
    name = getattr(train, "__qualname__", repr(train))
    raise ValueError(
        f"training function {name}{sig} fits neither shape: fn(config, reporter"
        f"[, checkpoint_dir]), or the hyperparameters as keywords fn("
        f"{', '.join(f'{n}=...' for n in names[:6])}{', ...' if len(names) > 6 else ''}) "
        f"reporting with Reporter() ({why})"
    )


def call_train(
    train: Callable[..., Any],
    config: dict[str, Any],
    reporter: Reporter,
    checkpoint_dir: str | None,
) -> Any:
    """`train(config, reporter[, checkpoint_dir])`, or `train(**config[, checkpoint_dir])`
    for a function taking its hyperparameters as keywords (`function_shape`); a
    `Reporter()` made inside reports to `reporter`. The checkpoint dir goes only to a
    function that takes it."""
    shape = function_shape(train, config)
    params = inspect.signature(train).parameters if shape == KEYWORDS_SHAPE else {}
    token = _TRIAL_REPORTER.set(reporter)
    try:
        if shape == KEYWORDS_SHAPE:
            extra = {"checkpoint_dir": checkpoint_dir} if "checkpoint_dir" in params else {}
            return train(**config, **extra)
        return _call_config_shape(train, config, reporter, checkpoint_dir)
    finally:
        _TRIAL_REPORTER.reset(token)


def _call_config_shape(
    train: Callable[..., Any], config: dict[str, Any], reporter: Reporter,
    checkpoint_dir: str | None,
) -> Any:
    try:
        params = inspect.signature(train).parameters
    except (TypeError, ValueError):
        return train(config, reporter)
    if _takes_checkpoint_dir(params):
        return train(config, reporter, checkpoint_dir=checkpoint_dir)
    return train(config, reporter)


def _takes_checkpoint_dir(params: Mapping[str, inspect.Parameter]) -> bool:
    """A config-shaped function gets `checkpoint_dir=` if it names it or takes **kwargs."""
    return "checkpoint_dir" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def run_script(train: Callable[..., Any], argv: Sequence[str] | None = None) -> Any:
    """Entry point of a training script: parse argv, build the stdout reporter, call `train`.

    The config comes from `--name value` pairs (typed by $SIMTUNE_CONFIG when it holds
    the same pairs) or from one `--config-json JSON` argument; the checkpoint directory
    from `--checkpoint-dir` or $SIMTUNE_CHECKPOINT_DIR.

    Example:
        >>> if __name__ == "__main__":
        ...     run_script(train)   # python train.py --lr 0.1 --checkpoint-dir ckpt
        ...     # or: python train.py --config-json '{"lr": 0.1, "id": "007"}'
    """
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        config, checkpoint_dir = parse_args(args, os.environ.get(CONFIG_ENV))
        function_shape(train, config)  # a function of neither shape: one line, not a trace
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    checkpoint_dir = checkpoint_dir or os.environ.get(CHECKPOINT_ENV) or None
    return run_trial(train, config, checkpoint_dir)


def run_trial(train: Callable[..., Any], config: dict[str, Any], checkpoint_dir: str | None) -> Any:
    """`call_train` in a trial process: reports as protocol lines on stdout, and a SIGTERM
    after a checkpoint lets the report of that checkpoint out before the process dies."""
    global _STAMPED_DIR
    if checkpoint_dir:
        os.makedirs(checkpoint_dir, exist_ok=True)
        if os.environ.get(STAMP_ENV) == "1":
            _STAMPED_DIR = checkpoint_dir
    _SIGTERM.install(checkpoint_dir)
    return call_train(train, config, StdoutReporter(), checkpoint_dir)
