"""Your own tuning problem: a search space, the metric to optimize and the fidelity reported.

This is what a real run needs to know of a benchmark when there is no table behind it:
`benchmark=custom` in experiments/run.py builds one from its config entries, and the
Python API takes one directly. The training itself is the backend's business.

Example:
    >>> problem = Problem(space=Space({"lr": loguniform(1e-4, 1e-1)}), metric="val_acc",
    ...                   mode="max", fidelity_name="epoch", max_fidelity=20)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simtune.core.configspace import from_configspace, is_configspace
from simtune.core.constraints import check_constraints
from simtune.core.space import Space

KEYS = ("name", "training", "space", "metric", "mode", "fidelity", "max_fidelity",
        "min_fidelity", "objectives", "task", "max_wallclock", "constraints")

# the entries only benchmark=custom reads: a table benchmark brings its own
CUSTOM_ONLY = ("space", "mode", "fidelity", "max_fidelity", "min_fidelity", "objectives")


def use_custom(benchmark: str, key: str, value: Any = None) -> str:
    """The line for `benchmark.<key>=<value>` given to the table benchmark `benchmark`,
    which ignores it: it points to benchmark=custom, where your own space and training go."""
    example = {"training": "path/to/train.py:train", "space": "space.yaml",
               "metric": "val_accuracy", "max_fidelity": "20"}
    if value is not None:
        example[key] = str(value)
    line = " ".join(f"benchmark.{k}={v}" for k, v in example.items())
    if key == "training":
        return (f"benchmark.training: benchmark={benchmark} sets no training; to train your "
                f"script on {benchmark}'s own space write +benchmark.training={value}, and for "
                f"your own space use benchmark=custom, e.g. benchmark=custom {line}")
    return (f"benchmark.{key}: benchmark={benchmark} has its own space, objectives and "
            f"fidelities and takes no {key}; for your own, use benchmark=custom, e.g. "
            f"benchmark=custom {line}")


@dataclass
class Problem:
    """The space, objectives (metric first) and fidelities of a tuning problem."""

    space: Space
    metric: str
    mode: str
    fidelity_name: str = "epoch"
    max_fidelity: int = 1
    min_fidelity: int = 1
    objectives: dict[str, str] = field(default_factory=dict)  # other objectives: name -> mode
    name: str = "custom"
    task: str | None = None  # benchmark=custom: benchmark.task, else the training file's name
    source: str = "your training"
    optimum: dict[str, float] | None = None  # unknown for real training
    # outcome constraints: reported metrics that must be <= 0 (core.constraints)
    constraints: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.space = Space.of(self.space)  # a dict {name: domain or constant} works as well
        self.objectives = {self.metric: self.mode, **self.objectives}
        self.constraints = check_constraints(self.constraints, metric=self.metric,
                                             reported=None, fidelity=self.fidelity_name)

    @property
    def metrics(self) -> list[str]:
        """The metrics results.csv records: the objectives, then the constraints."""
        return [*self.objectives, *(c for c in self.constraints if c not in self.objectives)]

    @property
    def fidelities(self) -> list[int]:
        return list(range(self.min_fidelity, self.max_fidelity + 1))


def problem_from_config(entries: Mapping[str, Any], base: Path | None = None) -> Problem:
    """A Problem from benchmark=custom's entries; errors name the key and the fix."""
    unknown = sorted(set(entries) - set(KEYS))
    if unknown:
        raise ValueError(
            f"benchmark.{unknown[0]} is not an entry of benchmark=custom; its entries: "
            f"{', '.join(KEYS[1:])}"
        )
    if not entries.get("training"):
        raise ValueError(
            "benchmark.training must name your training, e.g. "
            "benchmark.training=path/to/train.py:train"
        )
    space = _space(entries.get("space"), base)
    metric = entries.get("metric")
    if not isinstance(metric, str) or not metric:
        raise ValueError(
            "benchmark.metric must name the metric your training reports, e.g. "
            "benchmark.metric=val_accuracy"
        )
    mode = _mode("benchmark.mode", entries.get("mode"))
    fidelity = entries.get("fidelity")
    if not isinstance(fidelity, str) or not fidelity.isidentifier():
        raise ValueError(
            "benchmark.fidelity must name the counter your training reports with every "
            f"metric, e.g. benchmark.fidelity=epoch; got {fidelity!r}"
        )
    if fidelity == metric:
        raise ValueError(f"benchmark.fidelity and benchmark.metric are both {metric!r}")
    high = _count("benchmark.max_fidelity", entries.get("max_fidelity"))
    low = _count("benchmark.min_fidelity", entries.get("min_fidelity", 1) or 1)
    if low > high:
        raise ValueError(
            f"benchmark.min_fidelity={low} is above benchmark.max_fidelity={high}"
        )
    others = entries.get("objectives") or {}
    if not isinstance(others, Mapping):
        raise ValueError(
            "benchmark.objectives must map metric names to min or max, e.g. "
            "'benchmark.objectives={train_time: min}'"
        )
    others = {str(k): _mode(f"benchmark.objectives.{k}", v) for k, v in others.items()
              if k != metric}
    task = entries.get("task")
    constraints = check_constraints(entries.get("constraints"), metric=metric, reported=None,
                                    fidelity=fidelity, where="benchmark.constraints")
    return Problem(
        space=space,
        metric=metric,
        mode=mode,
        fidelity_name=fidelity,
        max_fidelity=high,
        min_fidelity=low,
        objectives=others,
        task=str(task) if task is not None else Path(str(entries["training"]).split(":")[0]).stem,
        source=f"your training {entries['training']}",
        constraints=constraints,
    )


def _space(spec: Any, base: Path | None) -> Space:
    fix = ("a YAML or JSON file, or a mapping, in the format of Space.to_dict(), e.g. "
           "{lr: {type: loguniform, low: 0.0001, high: 0.1}}, or a ConfigSpace JSON file")
    where = "benchmark.space"
    if isinstance(spec, str):
        path = Path(spec).expanduser()
        if not path.is_absolute() and not path.exists() and base is not None:
            path = base / path
        if not path.is_file():
            raise ValueError(f"benchmark.space={spec!r}: no such file; name {fix}")
        where = f"benchmark.space={spec}"
        try:
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".json":
                spec = json.loads(text)
            else:
                import yaml

                spec = yaml.safe_load(text)
        except Exception as e:  # OSError, UnicodeDecodeError, JSON or YAML errors
            first = " ".join(str(e).split())[:200]
            raise ValueError(f"{where}: cannot be read ({type(e).__name__}: {first})") from None
    if not isinstance(spec, Mapping) or not spec:
        raise ValueError(f"{where} must be {fix}; got {spec!r:.100}")
    try:
        if is_configspace(spec):  # ConfigSpace's JSON/YAML: a 'hyperparameters' list
            return from_configspace(spec)
        return Space.from_dict(spec)
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"{where}: {e}") from None


def _mode(key: str, value: Any) -> str:
    if value not in ("min", "max"):
        raise ValueError(f"{key} must be min or max, got {value!r}")
    return value


def _count(key: str, value: Any) -> int:
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not float(value).is_integer() or value < 1):
        raise ValueError(f"{key} must be a positive integer (e.g. {key}=20), got {value!r}")
    return int(value)
