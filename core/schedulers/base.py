"""The scheduler protocol: which trial to run next, and what to do after each report."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from simtune.core.trial import Decision, Report, Suggestion, Trial


class Registered:
    """What schedulers and searchers share: a registered `name`, and metadata derived
    from the constructor (`describe`), plus `derived` facts."""

    name = "?"  # its name in core.schedulers.SCHEDULERS or SEARCHERS

    def metadata(self) -> dict[str, Any]:
        """What the run's metadata.json says of it: see `describe`."""
        return describe(self)

    def derived(self) -> dict[str, Any]:
        """Facts the constructor arguments imply but do not show (rung levels, bracket
        sizes, ...), for `metadata`; none by default."""
        return {}


class Scheduler(Registered):
    """Base class of every HPO algorithm.

    The Tuner calls `suggest` whenever a worker is free, `on_start` once the trial
    it suggested exists, `on_report` for every report (and acts on the Decision),
    `on_complete` when a trial has reported its last fidelity and `on_error` when it
    failed. Subclasses override what they need; the hooks default to doing nothing.

    Example:
        >>> class Always(Scheduler):
        ...     def suggest(self, trial_id):
        ...         return Start({"x": 1})
    """

    name = "scheduler"
    metric: str
    mode: str
    multi_objective = False  # True: it ranks several objectives (one works, but is pointless)
    # declared by every scheduler (None: not declared): True if it decides on intermediate
    # fidelities (stops, pauses or promotes trials part-way), so it needs learning curves;
    # on a table with one fidelity it is the random search of its searcher
    multi_fidelity: bool | None = None

    def suggest(self, trial_id: int) -> Suggestion | None:
        """A new configuration for trial `trial_id`, a paused trial to resume, or None."""
        raise NotImplementedError

    def on_start(self, trial: Trial) -> None:
        """`trial` has started (or resumed) on a worker."""

    def on_report(self, trial: Trial, report: Report) -> Decision:
        """Decide whether `trial` continues after `report`."""
        return Decision.CONTINUE

    def on_complete(self, trial: Trial, report: Report) -> None:
        """`trial` has reported its last fidelity; `report` is that last report."""

    def on_error(self, trial: Trial) -> None:
        """`trial` failed; it will not report again."""

    def inherit(self, trial: Trial, reports: Sequence[Report]) -> None:
        """An earlier run's `trial` and its valid `reports` (warm start, before the first
        `suggest`): what the model learns from, never a trial to stop, pause or resume.
        Schedulers with a searcher hand it on; the others ignore it."""

    def on_constraints(self, trial: Trial, fidelity: int, value: float,
                       constraints: dict[str, float]) -> None:
        """A run with outcome constraints (core.constraints): `trial` reported `value` of
        the metric and these constraint values (NaN: missing) at `fidelity`; called just
        before `on_report`, which sees the metric as NaN if a constraint is violated.
        Schedulers with a searcher hand them on (`Searcher.observe_constraints`)."""


# what every scheduler and searcher is given by the benchmark (transfer: its family's other
# tasks, for the transfer-learning ones); metadata.json records it elsewhere
CONTEXT = frozenset({"space", "metric", "mode", "objectives", "fidelities", "rng", "candidates",
                     "transfer"})


def signature(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword parameters of `cls`'s constructor, following **kwargs to its bases
    (the subclass's first), `self` left out."""
    params: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        own = inspect.signature(klass.__init__).parameters.values()
        for p in own:
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self":
                params.setdefault(p.name, p)
        if not any(p.kind == p.VAR_KEYWORD for p in own):
            break
    return params


def constructor_args(obj: Any) -> dict[str, Any]:
    """Each constructor argument of `obj` but the CONTEXT ones, with the value `obj` holds
    under the argument's name: the argument as given, a None default resolved (e.g. ASHA's
    grace_period: the benchmark's smallest fidelity)."""
    args = {}
    for name in signature(type(obj)):
        if name in CONTEXT:
            continue
        if not hasattr(obj, name):
            raise AttributeError(
                f"{type(obj).__name__} stores no attribute for its constructor argument "
                f"{name!r}; metadata() reads the arguments from attributes of their names"
            )
        args[name] = getattr(obj, name)
    return args


def describe(obj: Any) -> dict[str, Any]:
    """The one shape of a scheduler's or searcher's metadata: its registered `name`; its
    constructor arguments (`constructor_args`), but the searcher it uses described under
    "searcher" and the scheduler it wraps under "inner"; and its `derived()` facts under
    "derived", if any."""
    args = constructor_args(obj)
    meta: dict[str, Any] = {"name": obj.name, "args": args}
    for arg, value in list(args.items()):
        if hasattr(value, "metadata"):
            meta["inner" if isinstance(value, Scheduler) else "searcher"] = value.metadata()
            del args[arg]
    derived = obj.derived()
    if derived:
        meta["derived"] = derived
    return meta


def check_mode(mode: str) -> str:
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    return mode


def mode_sign(mode: str) -> float:
    """1 for "min", -1 for "max": a value times it is one to minimize."""
    return 1.0 if mode == "min" else -1.0


def metric_value(scheduler: str, metric: str, trial: Trial, report: Report) -> float:
    """The value of `metric` in `report`; a ValueError naming what the report has if absent."""
    value = report.metrics.get(metric)
    if value is None:
        raise ValueError(
            f"{scheduler}: report of trial {trial.trial_id} lacks metric {metric!r} "
            f"(has {sorted(report.metrics)})"
        )
    return value


def check_count(name: str, arg: str, value: int | None, optional: bool = False) -> int | None:
    """`value` as a positive int (None passes if `optional`); a ValueError naming the
    scheduler and the argument otherwise (a float with an integral value is accepted)."""
    if value is None and optional:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not float(value).is_integer() or value < 1):  # also rejects nan and inf
        raise ValueError(f"{name}: {arg} must be a positive integer, got {value!r}")
    return int(value)


def check_range(
    name: str, arg: str, value: float, low: float, high: float, closed: str = "both"
) -> float:
    """`value` if it is a number within [low, high] (`closed`: "both", "low", "high" or
    "neither" end included); a ValueError naming the scheduler and the argument otherwise."""
    lo_ok = {"both": True, "low": True, "high": False, "neither": False}[closed]
    hi_ok = closed in ("both", "high")
    number = not isinstance(value, bool) and isinstance(value, (int, float))
    if not number or not (
        (low <= value if lo_ok else low < value) and (value <= high if hi_ok else value < high)
    ):  # nan fails every comparison
        interval = f"{'[' if lo_ok else '('}{low:g}, {high:g}{']' if hi_ok else ')'}"
        raise ValueError(f"{name}: {arg} must be a number in {interval}, got {value!r}")
    return value
