"""A scheduler's identity in the analysis, and the family it belongs to.

Two runs are of the same method when their scheduler names agree and so do the
arguments written to metadata.json (``scheduler.args``). Where runs of one name differ
in some arguments, each variant is labelled with the name and those arguments:
``asha(type=promotion)`` and ``asha(type=stopping)`` are two methods, never pooled.
The defaults of a scheduler are not in the result files (the analysis reads nothing
else), so the label shows the arguments that differ between the runs analysed.

Example:
    >>> variant_labels([("asha", '{"eta": 3, "type": "stopping"}'),
    ...                 ("asha", '{"eta": 3, "type": "promotion"}'), ("random", "{}")])
    ['asha(type=stopping)', 'asha(type=promotion)', 'random']
"""

from __future__ import annotations

import json
from collections.abc import Sequence

# family of each registered scheduler: how it spends the budget (see docs/benchmarking.md)
# (a static table: the analysis reads result files only, never core.schedulers)
SINGLE, MF_RANDOM, MF_MODEL = ("single-fidelity", "multi-fidelity, random search",
                               "multi-fidelity, model-based")
FAMILIES: dict[str, str] = {
    **dict.fromkeys(["random", "grid", "bo", "tpe", "rea", "bore", "cqr", "morea",
                     "random_scalarization"], SINGLE),
    **dict.fromkeys(["asha", "hyperband", "sync_hyperband", "sync_sh", "pasha",
                     "median_stopping", "pbt", "moasha"], MF_RANDOM),
    **dict.fromkeys(["bohb", "mobster", "dehb", "asha_bore", "asha_cqr", "hypertune",
                     "hypertune_hyperband"], MF_MODEL),
}
FAMILY_ORDER = [SINGLE, MF_RANDOM, MF_MODEL, "other"]
_MISSING = "-"


def variant_labels(runs: Sequence[tuple[str, str]]) -> list[str]:
    """Label of each (name, args as JSON) run: the name, plus ``(key=value, ...)`` for
    the arguments in which runs of that name differ (an absent argument shows as -)."""
    parsed = [(name, _parse(args)) for name, args in runs]
    varying: dict[str, list[str]] = {}
    for name in {n for n, _ in parsed}:
        dicts = [a for n, a in parsed if n == name]
        keys = sorted(set().union(*dicts))
        varying[name] = [k for k in keys
                         if len({_value(a.get(k, _MISSING)) for a in dicts}) > 1]
    return [name if not varying[name] else
            f"{name}(" + ", ".join(f"{k}={_value(args.get(k, _MISSING))}"
                                   for k in varying[name]) + ")"
            for name, args in parsed]


def family(label: str, searcher: str | None = None) -> str:
    """The family of a scheduler label (its name before any '('), 'other' if unknown; a
    multi-fidelity scheduler run with a searcher other than random (metadata.json
    ``scheduler.details.searcher.name``, e.g. asha with ``searcher: bo``) is model-based."""
    fam = FAMILIES.get(label.split("(")[0].strip(), "other")
    if fam == MF_RANDOM and searcher not in (None, "", "random"):
        return MF_MODEL
    return fam


def _parse(args: str) -> dict:
    try:
        value = json.loads(args)
    except (TypeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _value(v: object) -> str:
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":"))
