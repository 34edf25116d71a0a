"""ConfigSpace in and out: a ConfigSpace JSON or YAML file, its parsed dict or a
`ConfigurationSpace` object read as a simtune Space, and a Space written back.

Files need no ConfigSpace package: both serializations are read, ConfigSpace < 1.0's
("default", "probabilities", "q", "json_format_version") and >= 1.0's ("default_value",
"weights", "format_version"); the writer writes the >= 1.0 one. Objects need
`pip install 'simtune[configspace]'` (ConfigSpace >= 1.0).

Mapped exactly: uniform_float / uniform_int (log too) -> uniform, loguniform, randint,
lograndint; categorical -> choice; ordinal -> ordinal; constant (unparametrized) ->
constant. Conditions EQ, IN and AND of them; NEQ, LT, GT and an OR on one parent when the
parent is finite (as the values they admit). Forbiddens EQUALS, IN, AND, OR (as several
clauses), CLAUSE_LT/LE/GT/GE on a finite hyperparameter. Dropped: defaults, `meta`, the
space's name. Refused, one line each: quantization (q), normal and beta priors and unequal
categorical weights (`drop_priors=True` keeps their bounds as a uniform domain), an OR over
several parents, comparisons on a float, RELATION clauses between two hyperparameters.

Example:
    >>> space = read_configspace("yahpo/lcbench/config_space.json")
    >>> Path("back.json").write_text(json.dumps(to_configspace_dict(space)))
"""

from __future__ import annotations

import itertools
import json
import math
import operator
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from simtune.core.domains import (
    Categorical,
    Domain,
    FiniteRange,
    Interval,
    LogRandInt,
    LogUniform,
    Ordinal,
    RandInt,
    Uniform,
    _category_key,
    domain_from_dict,
)
from simtune.core.space import Space

EXTRA = "pip install 'simtune[configspace]'"
MAX_VALUES = 10_000  # an integer parent of a NEQ/LT/GT: at most this many values listed
_INTERVALS = {(False, False): Uniform, (False, True): LogUniform,
              (True, False): RandInt, (True, True): LogRandInt}  # (integer, log)
_OPS = {"EQ": "==", "EQUALS": "==", "IN": "in", "NEQ": "!=", "LT": "<", "GT": ">",
        "CLAUSE_LT": "<", "CLAUSE_LE": "<=", "CLAUSE_GT": ">", "CLAUSE_GE": ">="}
_COMPARE = {"!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
            ">=": operator.ge}

Conjunction = dict[str, list]  # name -> the values it matches


def is_configspace(spec: Any) -> bool:
    """`spec` (a parsed JSON/YAML document) is a ConfigSpace serialization: a mapping
    whose "hyperparameters" is a list (a simtune space maps names to domain dicts)."""
    return isinstance(spec, Mapping) and isinstance(spec.get("hyperparameters"), list)


def read_configspace(path: str | Path, drop_priors: bool = False) -> Space:
    """The Space of a ConfigSpace JSON (or .yaml/.yml) file; ValueError says what is wrong."""
    path = Path(path).expanduser()
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        return from_configspace(yaml.safe_load(text), drop_priors)
    return from_configspace(json.loads(text), drop_priors)


def from_configspace(source: Any, drop_priors: bool = False) -> Space:
    """A Space from a ConfigSpace serialization (dict) or a `ConfigurationSpace` object.

    Example:
        >>> from_configspace({"hyperparameters": [
        ...     {"type": "uniform_int", "name": "n", "lower": 1, "upper": 4}]})
        Space({'n': randint(1, 4)})
    """
    spec = _serialized(source) if _is_object(source) else source
    if not is_configspace(spec):
        raise ValueError("a ConfigSpace space is a mapping with a 'hyperparameters' list (the "
                         f"JSON ConfigSpace writes), got {str(spec)[:100]!r}")
    items: dict[str, Any] = {}
    for hp in spec["hyperparameters"]:
        name = hp.get("name") if isinstance(hp, Mapping) else None
        if not isinstance(name, str):
            raise ValueError(f"ConfigSpace hyperparameter without a name: {hp!r:.100}")
        if name in items:
            raise ValueError(f"ConfigSpace hyperparameter {name!r} is given twice")
        try:
            items[name] = _domain(hp, drop_priors)
        except (KeyError, TypeError, ValueError) as e:
            why = f"lacks the key {e}" if isinstance(e, KeyError) else str(e)
            raise ValueError(f"ConfigSpace hyperparameter {name!r}: {why}") from None
    conditions: dict[str, Conjunction] = {}
    for cond in _entries(spec, "conditions"):
        child = cond.get("child") or _first_child(cond)
        if child in conditions:
            raise ValueError(f"ConfigSpace condition: {child!r} has two conditions; ConfigSpace "
                             "takes one per hyperparameter (combine them with AND)")
        conditions[child] = _condition(cond, items, child)
    forbidden = [c for f in _entries(spec, "forbiddens") for c in _forbidden(f, items)]
    return Space(items, conditions, forbidden)


def _entries(spec: Mapping, key: str) -> list[Mapping]:
    """spec[key], checked to be a list of mappings whose nested parts are mappings too."""
    entries = spec.get(key) or []
    parts = [entries] if not isinstance(entries, list) else list(entries)
    while parts:
        part = parts.pop()
        if not isinstance(part, Mapping) or "type" not in part:
            raise ValueError(f"ConfigSpace {key}: expected a list of entries with a 'type', "
                             f"got {part!r:.100}")
        nested = part.get("conditions", part.get("clauses", []))
        parts += nested if isinstance(nested, list) else [nested]
    return entries


def _domain(hp: Mapping, drop_priors: bool) -> Domain | Any:
    kind = hp["type"]
    if kind in ("constant", "unparametrized"):
        return hp["value"]
    integer = kind.endswith("_int")
    if hp.get("q") is not None and not (integer and hp["q"] == 1):
        raise ValueError(f"quantization q={hp['q']} has no simtune domain; drop q, or use an "
                         "ordinal of the quantized values")
    if kind == "categorical":
        weights = hp.get("weights", hp.get("probabilities"))
        if weights and len(set(weights)) > 1 and not drop_priors:
            raise ValueError(f"unequal weights {list(weights)} (a prior): simtune draws "
                             "categories uniformly; read it with drop_priors=True to drop them")
        return Categorical(hp["choices"])
    if kind == "ordinal":
        ordinal = Ordinal(hp["sequence"])
        meta = (hp.get("meta") or {}).get("simtune")  # a finrange this module wrote
        if isinstance(meta, Mapping) and meta.get("type") in ("finrange", "logfinrange"):
            finite = domain_from_dict(meta)
            if finite.values() == ordinal.values():
                return finite
        return ordinal
    if kind not in ("uniform_float", "uniform_int", "normal_float", "normal_int",
                    "beta_float", "beta_int"):
        raise ValueError(f"unknown type {kind!r}")
    if not kind.startswith("uniform"):
        prior = ", ".join(f"{k}={hp[k]}" for k in ("mu", "sigma", "alpha", "beta") if k in hp)
        if not drop_priors or "lower" not in hp:
            raise ValueError(
                f"a {kind} prior ({prior}) has no simtune domain; read it with "
                "drop_priors=True to search its bounds uniformly" if "lower" in hp else
                f"a {kind} ({prior}) without bounds has no simtune domain")
    low, high = hp["lower"], hp["upper"]
    if integer:
        low, high = _integral(low), _integral(high)
    return _INTERVALS[integer, bool(hp.get("log"))](low, high)


def _integral(x: Any) -> Any:
    return int(x) if isinstance(x, float) and x.is_integer() else x


def _condition(cond: Mapping, items: Mapping, child: str) -> Conjunction:
    """The one conjunction {parent: values} of a condition (an OR of one parent: its union)."""
    where = f"ConfigSpace condition of {child!r}"
    options = _dnf(cond, items, where, "conditions", "parent")
    if not options:
        raise ValueError(f"{where} can never hold")
    if len(options) == 1:
        return options[0]
    parents = {p for o in options for p in o}
    if len(parents) > 1 or any(len(o) != 1 for o in options):
        raise ValueError(f"{where}: an OR over several parents ({', '.join(sorted(parents))}) "
                         "has no simtune equivalent; a simtune condition needs every parent "
                         "to match (write it as one parent's values, or split the child)")
    (parent,) = parents
    union: list = []
    for o in options:
        union += [v for v in o[parent] if _category_key(v) not in map(_category_key, union)]
    return {parent: union}


def _forbidden(clause: Mapping, items: Mapping) -> list[Conjunction]:
    return _dnf(clause, items, "ConfigSpace forbidden clause", "clauses", "name")


def _dnf(node: Mapping, items: Mapping, where: str, parts: str, key: str) -> list[Conjunction]:
    """`node` (a condition or forbidden clause, nested through AND/OR) as a disjunction of
    conjunctions {name: values}; conjunctions that can never hold are left out."""
    kind = node.get("type")
    if kind in ("AND", "OR"):
        if not isinstance(node.get(parts), list) or not node[parts]:
            raise ValueError(f"{where}: an {kind} entry needs a list {parts!r}")
        children = [_dnf(c, items, where, parts, key) for c in node[parts]]
        if kind == "OR":
            return [c for options in children for c in options]
        out = []
        for combo in itertools.product(*children):
            merged = _merge(combo)
            if merged is not None:
                out.append(merged)
        return out
    if kind not in _OPS:
        what = "a relation between two hyperparameters" if "RELATION" in str(kind) else "unknown"
        raise ValueError(f"{where}: type {kind!r} is {what}; simtune reads "
                         f"{', '.join(sorted(_OPS))}, AND and OR")
    name = node.get(key)
    if name not in items:
        raise ValueError(f"{where} names {name!r}, which is not a hyperparameter of the space")
    op = _OPS[kind]
    want = "values" if op == "in" else "value"
    if want not in node:
        raise ValueError(f"{where}: type {kind} needs the key {want!r}, got {dict(node)!r:.100}")
    given = node["values"] if op == "in" else [node["value"]]
    values = given if op in ("==", "in") else _admitted(items[name], op, node["value"], where)
    return [{name: list(values)}] if values else []


def _merge(conjunctions: tuple[Conjunction, ...]) -> Conjunction | None:
    """The conjunction of `conjunctions` (a name in several: the values they share), or None
    when a name is left with no value."""
    out: Conjunction = {}
    for c in conjunctions:
        for name, values in c.items():
            if name in out:
                keep = {_category_key(v) for v in values}
                values = [v for v in out[name] if _category_key(v) in keep]
            if not values:
                return None
            out[name] = values
    return out


def _admitted(domain: Any, op: str, value: Any, where: str) -> list:
    """The values of a finite `domain` that `x <op> value` admits."""
    if not isinstance(domain, Domain):
        values = [domain]  # a constant
    elif isinstance(domain, Interval) and domain.integer:
        if domain.high - domain.low >= MAX_VALUES:
            raise ValueError(f"{where}: {op} {value!r} on an integer range of more than "
                             f"{MAX_VALUES} values is not mapped; use an IN condition")
        values = domain.values()
    elif isinstance(domain, Categorical) and (op == "!=" or isinstance(domain, Ordinal)):
        values = domain.values()
    else:
        raise ValueError(f"{where}: {op} {value!r} on {domain!r} has no simtune equivalent "
                         "(only on a finite parent: choice for !=, ordinal or integer for <, >)")
    if op == "!=":
        return [v for v in values if _category_key(v) != _category_key(value)]
    if isinstance(domain, Ordinal):  # compared by position in the sequence
        at = domain.index(value)
        return [v for i, v in enumerate(values) if _COMPARE[op](i, at)]
    return [v for v in values if _COMPARE[op](v, value)]


def _first_child(cond: Mapping) -> str | None:
    for part in cond.get("conditions") or []:
        child = part.get("child") or _first_child(part)
        if child:
            return child
    return None


def to_configspace_dict(space: Space) -> dict:
    """`space` in ConfigSpace's (>= 1.0) serialization: the dict `ConfigurationSpace.
    from_serialized_dict` reads and `json.dumps` writes as its JSON file. A finrange is an
    ordinal of its values (its simtune form kept in "meta"); defaults are ConfigSpace's
    (middle of the range, first category), or a seeded valid configuration when those are
    forbidden; a callable forbidden clause is a ValueError."""
    defaults = _defaults(space)
    hps = [{"name": name, **_hp(item), **({"default_value": defaults[name]}
                                           if isinstance(item, Domain) else {})}
           for name, item in space.items()]
    conditions = []
    for child, clause in space.conditions.items():
        parts = [_literal(p, v, "EQ", "IN", {"child": child, "parent": p})
                 for p, v in clause.items()]
        conditions.append(parts[0] if len(parts) == 1
                          else {"type": "AND", "child": child, "conditions": parts})
    forbiddens = []
    for i, clause in enumerate(space.forbidden):
        if callable(clause):
            raise ValueError(f"forbidden clause {i + 1} is a Python callable; ConfigSpace "
                             "serializes only clauses {name: value or [values]}")
        parts = [_literal(n, v, "EQUALS", "IN", {"name": n}) for n, v in clause.items()]
        forbiddens.append(parts[0] if len(parts) == 1 else {"type": "AND", "clauses": parts})
    return {"name": None, "hyperparameters": hps, "conditions": conditions,
            "forbiddens": forbiddens, "format_version": 0.4}


def write_configspace(space: Space, path: str | Path) -> Path:
    """Write `space` as a ConfigSpace JSON file (what `ConfigurationSpace.from_json` reads)."""
    path = Path(path)
    path.write_text(json.dumps(to_configspace_dict(space), indent=2) + "\n", encoding="utf-8")
    return path


def to_configspace(space: Space) -> Any:
    """`space` as a `ConfigurationSpace` (needs the ConfigSpace package, >= 1.0)."""
    ConfigurationSpace = _package().ConfigurationSpace
    if not hasattr(ConfigurationSpace, "from_serialized_dict"):
        raise ValueError(f"to_configspace needs ConfigSpace >= 1.0: {EXTRA}")
    try:
        return ConfigurationSpace.from_serialized_dict(to_configspace_dict(space))
    except Exception as e:  # ConfigSpace's own checks (e.g. a value type it refuses)
        raise ValueError(f"ConfigSpace refuses the space: {' '.join(str(e).split())[:300]}"
                         ) from None


def _hp(item: Any) -> dict:
    if not isinstance(item, Domain):
        return {"type": "constant", "value": item}
    if isinstance(item, FiniteRange):
        return {"type": "ordinal", "sequence": item.values(), "meta": {"simtune": item.to_dict()}}
    if isinstance(item, Ordinal):
        return {"type": "ordinal", "sequence": item.values()}
    if isinstance(item, Categorical):
        return {"type": "categorical", "choices": item.values(), "weights": None}
    if isinstance(item, Interval):
        return {"type": "uniform_int" if item.integer else "uniform_float",
                "lower": item.low, "upper": item.high, "log": item.log}
    raise ValueError(f"{item!r} has no ConfigSpace equivalent")


def _literal(name: str, values: tuple, one: str, many: str, ids: dict) -> dict:
    if len(values) == 1:
        return {"type": one, **ids, "value": values[0]}
    return {"type": many, **ids, "values": list(values)}


def _defaults(space: Space) -> dict:
    """ConfigSpace's defaults (a range's middle on its scale, the first category); if they
    make a forbidden configuration, those of a valid one drawn with seed 0."""
    out: dict[str, Any] = {}
    for name, d in space.tunable.items():
        if isinstance(d, Interval):
            mid = (math.exp((math.log(d.low) + math.log(d.high)) / 2) if d.log
                   else (d.low + d.high) / 2)
            out[name] = min(max(round(mid), d.low), d.high) if d.integer else mid
        else:
            out[name] = d.values()[0]
    if space.is_forbidden(space.prune({**space.constants, **out})):
        valid = space.sample(np.random.default_rng(0))
        out.update({k: v for k, v in valid.items() if k in space.tunable})
    return out


def _package() -> Any:
    try:
        import ConfigSpace
    except ImportError:
        raise ValueError(f"ConfigurationSpace objects need the ConfigSpace package: {EXTRA}"
                         ) from None
    return ConfigSpace


def _is_object(source: Any) -> bool:
    """`source` is a `ConfigurationSpace` (>= 1.0 is a Mapping of its hyperparameters too)."""
    return type(source).__module__.startswith("ConfigSpace")


def _serialized(cs: Any) -> dict:
    """A `ConfigurationSpace` as its serialization dict (ConfigSpace >= 1.0, or 0.x's JSON)."""
    if hasattr(cs, "to_serialized_dict"):
        return cs.to_serialized_dict()
    from ConfigSpace.read_and_write import json as cs_json  # ConfigSpace < 1.0

    return json.loads(cs_json.write(cs))
