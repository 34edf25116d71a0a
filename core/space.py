"""Configuration spaces: domains, conditions and forbidden combinations, seeded sampling,
validation, JSON (the [0,1]^d encoding is core.encoding; conditions: core.conditions).

A conditional hyperparameter is active only when its parents take given values; a
configuration holds exactly its active hyperparameters. Forbidden clauses are never
sampled and never valid.

The domains live in `simtune.core.domains` and are re-exported here, so
`from simtune.core.space import Space, uniform, choice` keeps working.

Example:
    >>> import numpy as np
    >>> space = Space({"lr": loguniform(1e-4, 1e-1), "layers": randint(1, 4), "opt": "adam"})
    >>> config = space.sample(np.random.default_rng(0))
    >>> space.validate(config)
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from simtune.core.conditions import Structure
from simtune.core.domains import (  # noqa: F401  (re-exported)
    _PLAIN_TYPES,
    Categorical,
    Domain,
    FiniteRange,
    LogRandInt,
    LogUniform,
    Ordinal,
    RandInt,
    Uniform,
    Value,
    _category_key,
    _plain,
    choice,
    domain_from_dict,
    finrange,
    logfinrange,
    lograndint,
    loguniform,
    ordinal,
    randint,
    uniform,
)


class Space(Mapping):
    """A configuration space: hyperparameter name -> Domain, or a constant value, with
    optional `conditions` {child: {parent: value or [values]}} and `forbidden` clauses
    ({name: value or [values], ...} or a callable config -> bool).

    Example:
        >>> space = Space({"x": uniform(0, 1), "opt": choice(["sgd", "adam"]), "epochs": 10})
        >>> space.validate({"x": 0.3, "opt": "adam", "epochs": 10})
        >>> cond = Space({"opt": choice(["sgd", "adam"]), "momentum": uniform(0, 0.99)},
        ...              conditions={"momentum": {"opt": "sgd"}})
        >>> cond.validate({"opt": "adam"})
    """

    def __init__(
        self,
        domains: Mapping[str, Domain | Value],
        conditions: Mapping[str, Mapping[str, Value]] | None = None,
        forbidden: Sequence[Mapping[str, Value] | Callable[[dict], bool]] | None = None,
    ) -> None:
        self._items = {
            str(k): (v if isinstance(v, Domain) else _plain(v)) for k, v in domains.items()
        }
        self.tunable = {k: v for k, v in self._items.items() if isinstance(v, Domain)}
        self.constants = {k: v for k, v in self._items.items() if not isinstance(v, Domain)}
        self._names = tuple(self.tunable)
        self.structure = Structure(self._items, conditions, forbidden)
        self.conditions = self.structure.conditions
        self.forbidden = self.structure.forbidden
        self._size: int | None = None  # size(), once counted

    @property
    def is_conditional(self) -> bool:
        """Some hyperparameter is active only under a condition."""
        return bool(self.conditions)

    def active(self, config: Mapping[str, Value]) -> list[str]:
        """The hyperparameters `config`'s values make active, in space order."""
        return self.structure.active(config) if self.conditions else list(self._items)

    def prune(self, config: Mapping[str, Value]) -> dict:
        """`config` without its inactive hyperparameters (those its values do not activate)."""
        if not self.conditions:
            return dict(config)
        return {k: config[k] for k in self.structure.active(config) if k in config}

    def complete(self, config: Mapping[str, Value], rng: np.random.Generator) -> dict:
        """`config` made a valid configuration's shape: inactive names dropped, active
        names it lacks drawn from their domains (parents first: a drawn parent may activate
        further children), constants set. Forbidden combinations are not checked."""
        out = {k: v for k, v in config.items() if k in self._items}
        out.update(self.constants)
        for _ in range(len(self._items) + 1):
            missing = [k for k in self.active(out) if k not in out]
            if not missing:
                break
            name = missing[0]
            out[name] = self.tunable[name].sample(rng, 1)[0]
        return {k: out[k] for k in self.active(out)}

    def is_forbidden(self, config: Mapping[str, Value]) -> bool:
        """`config` matches a forbidden clause."""
        return bool(self.forbidden) and self.structure.is_forbidden(config)

    @classmethod
    def of(cls, space: Space | Mapping[str, Domain | Value]) -> Space:
        """`space` as a Space: a Space as it is, a dict {name: Domain | constant} (Syne
        Tune's `config_space`) made into one; ValueError names what is neither.

        Example:
            >>> Space.of({"width": randint(0, 20), "steps": 100}).constants
            {'steps': 100}
        """
        if isinstance(space, Space):
            return space
        if not isinstance(space, Mapping):
            raise ValueError(
                "a config space is a Space or a dict {name: domain or constant}, got "
                f"{type(space).__name__} {str(space)[:100]!r}"
            )
        for name, value in space.items():
            if not isinstance(value, Domain) and not _is_constant(value):
                kind = f"{type(value).__module__}.{type(value).__qualname__}"
                raise ValueError(
                    f"hyperparameter {name!r} is a {kind}, neither a domain of simtune "
                    "(uniform, loguniform, randint, choice, ... from core) nor a constant "
                    "(a number, string, bool or a JSON list/dict of them)"
                )
        return cls(space)

    def __getitem__(self, name: str) -> Domain | Value:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Space) and self._items == other._items
                and self.structure.to_dict() == other.structure.to_dict())

    def __repr__(self) -> str:
        if not self.structure:
            return f"Space({self._items!r})"
        conditions, forbidden = self.structure.to_dict()
        extra = (f", conditions={conditions!r}" if conditions else "") + (
            f", forbidden={forbidden!r}" if forbidden else "")
        return f"Space({self._items!r}{extra})"

    @property
    def is_finite(self) -> bool:
        return all(d.is_finite for d in self.tunable.values())

    def size(self) -> int | None:
        """Number of distinct configurations, or None if infinite (with conditions or
        forbidden clauses: counted by enumeration up to ENUMERATE_MAX grid points, else
        the product of the domains' sizes, an upper bound)."""
        if not self.is_finite:
            return None
        if self._size is None:  # a Space does not change: count once (a grid may be long)
            n = math.prod(len(d.values()) for d in self.tunable.values())
            self._size = len(self.grid()) if self.structure and n <= ENUMERATE_MAX else n
        return self._size

    def grid(self, values: Mapping[str, Sequence[Value]] | None = None) -> list[dict]:
        """Every valid configuration of the product of `values` (default: each finite
        domain's values), inactive names dropped, duplicates and forbidden ones left out,
        in product order."""
        values = values or {k: d.values() for k, d in self.tunable.items()}
        names = list(values)
        out, seen = [], set()
        for combo in itertools.product(*(values[k] for k in names)):
            config = {**self.constants, **dict(zip(names, combo, strict=True))}
            config = self.prune({k: config[k] for k in self._items})
            key = self.key(config)
            if key not in seen and not self.is_forbidden(config):
                seen.add(key)
                out.append(config)
        return out

    def sample(self, rng: np.random.Generator, size: int | None = None) -> dict | list[dict]:
        """One configuration (size=None) or a list of `size` configurations (inactive
        hyperparameters left out; a forbidden draw is drawn again)."""
        n = 1 if size is None else size
        configs = self._draw(rng, n)
        if self.forbidden:
            for _ in range(_MAX_REDRAWS):
                bad = [i for i, c in enumerate(configs) if self.is_forbidden(c)]
                if not bad:
                    break
                for i, config in zip(bad, self._draw(rng, len(bad)), strict=True):
                    configs[i] = config
            else:
                raise ValueError(
                    f"the forbidden clauses exclude nearly the whole space: {_MAX_REDRAWS} "
                    "draws found no allowed configuration; check the space's forbidden list"
                )
        return configs[0] if size is None else configs

    def _draw(self, rng: np.random.Generator, n: int) -> list[dict]:
        columns = {k: d.sample(rng, n) for k, d in self.tunable.items()}
        configs = [
            {k: (columns[k][i] if k in columns else v) for k, v in self._items.items()}
            for i in range(n)
        ]
        return [self.prune(c) for c in configs] if self.conditions else configs

    def validate(self, config: Mapping[str, Value]) -> None:
        """Raise ValueError naming the hyperparameter, the value and the domain if invalid
        (also: an inactive hyperparameter given, an active one missing, a forbidden
        combination)."""
        unknown = [k for k in config if k not in self._items]
        if unknown:
            raise ValueError(
                f"unknown hyperparameter {unknown[0]!r} (value {config[unknown[0]]!r}); "
                f"the space has {sorted(self._items)}"
            )
        active = self.active(config)
        for name in config:
            if name not in active:
                raise ValueError(
                    f"hyperparameter {name!r} is inactive here (it is active only when "
                    f"{self.structure.why_inactive(name)}); leave it out of this configuration"
                )
        for name in active:
            domain = self._items[name]
            if name not in config:
                when = (f" (active because {self.structure.why_inactive(name)})"
                        if name in self.conditions else "")
                raise ValueError(
                    f"missing hyperparameter {name!r}{when}; expected a value in {domain!r}"
                )
            value = config[name]
            if isinstance(domain, Domain):
                why = domain.check(value)
                if why is not None:
                    raise ValueError(f"hyperparameter {name!r}: {why} (domain {domain!r})")
            elif value != domain:
                raise ValueError(
                    f"hyperparameter {name!r} is the constant {domain!r}, got {value!r}"
                )
        if self.is_forbidden(config):
            raise ValueError(
                f"configuration {dict(config)!r} is forbidden by the space's forbidden clauses"
            )

    def key(self, config: Mapping[str, Value]) -> tuple:
        """A hashable identity of a configuration (tunable values in space order; an
        inactive hyperparameter counts as INACTIVE)."""
        if self.conditions:
            return self.key_of_values(tuple(config.get(n, INACTIVE) for n in self._names))
        return self.key_of_values(tuple(map(config.__getitem__, self._names)))

    @staticmethod
    def key_of_values(values: tuple) -> tuple:
        """`key` of a configuration given as its tunable values in space order."""
        if set(map(type, values)) <= _PLAIN_TYPES:  # the common case, kept fast
            return values
        return tuple(map(_category_key, values))

    def to_dict(self) -> dict:
        """{name: domain dict (with its "condition", if any)}, plus "forbidden": [clauses]
        when the space has any."""
        conditions, forbidden = self.structure.to_dict()
        out: dict[str, Any] = {}
        for k, v in self._items.items():
            out[k] = v.to_dict() if isinstance(v, Domain) else {"type": "constant", "value": v}
            if k in conditions:
                out[k]["condition"] = conditions[k]
        if forbidden:
            out[FORBIDDEN] = forbidden
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, spec: Mapping[str, Mapping]) -> Space:
        """Inverse of `to_dict`; a domain with a missing or unknown key is a ValueError
        naming the hyperparameter, the key and the keys its type takes. A domain's
        "condition" {parent: value or [values]} makes it conditional; a top-level
        "forbidden" list holds the forbidden clauses."""
        items, conditions, forbidden = {}, {}, []
        for name, s in spec.items():
            if name == FORBIDDEN and isinstance(s, list):
                forbidden = s
                continue
            if not isinstance(s, Mapping) or "type" not in s:
                raise ValueError(
                    f"hyperparameter {name!r}: expected a dict with a 'type', got {s!r}"
                )
            s = dict(s)
            if "condition" in s:
                conditions[name] = s.pop("condition")
            try:
                items[name] = domain_from_dict(s)
            except ValueError as e:
                raise ValueError(f"hyperparameter {name!r}: {e}") from None
        for i, clause in enumerate(forbidden):
            if isinstance(clause, Mapping) and "callable" in clause:
                raise ValueError(
                    f"forbidden clause {i + 1} was a Python callable ({clause['callable']}); "
                    "it cannot be read back from JSON: pass it to Space(..., forbidden=[...])"
                )
        return cls(items, conditions, forbidden)

    @classmethod
    def from_json(cls, text: str) -> Space:
        return cls.from_dict(json.loads(text))


FORBIDDEN = "forbidden"  # the top-level key of the forbidden clauses in to_dict()
ENUMERATE_MAX = 1_000_000  # conditional finite spaces up to this many grid points are counted
_MAX_REDRAWS = 1000


class _Inactive:
    """The value of an inactive hyperparameter in a configuration's key."""

    def __repr__(self) -> str:
        return "INACTIVE"

    def __reduce__(self) -> str:
        return "INACTIVE"


INACTIVE = _Inactive()


def _is_constant(value: Value) -> bool:
    """True for a value a config may hold as it is: anything JSON writes (numpy scalars too)."""
    try:
        json.dumps(_plain(value))
    except (TypeError, ValueError):
        return False
    return True
