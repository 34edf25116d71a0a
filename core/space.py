"""Configuration spaces: domains, seeded sampling, validation, JSON (the [0,1]^d encoding
is core.encoding).

The domains live in `simtune.core.domains` and are re-exported here, so
`from simtune.core.space import Space, uniform, choice` keeps working.

Example:
    >>> import numpy as np
    >>> space = Space({"lr": loguniform(1e-4, 1e-1), "layers": randint(1, 4), "opt": "adam"})
    >>> config = space.sample(np.random.default_rng(0))
    >>> space.validate(config)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping

import numpy as np

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
    """A configuration space: hyperparameter name -> Domain, or a constant value.

    Example:
        >>> space = Space({"x": uniform(0, 1), "opt": choice(["sgd", "adam"]), "epochs": 10})
        >>> space.validate({"x": 0.3, "opt": "adam", "epochs": 10})
    """

    def __init__(self, domains: Mapping[str, Domain | Value]) -> None:
        self._items = {
            str(k): (v if isinstance(v, Domain) else _plain(v)) for k, v in domains.items()
        }
        self.tunable = {k: v for k, v in self._items.items() if isinstance(v, Domain)}
        self.constants = {k: v for k, v in self._items.items() if not isinstance(v, Domain)}
        self._names = tuple(self.tunable)

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
        return isinstance(other, Space) and self._items == other._items

    def __repr__(self) -> str:
        return f"Space({self._items!r})"

    @property
    def is_finite(self) -> bool:
        return all(d.is_finite for d in self.tunable.values())

    def size(self) -> int | None:
        """Number of distinct configurations, or None if infinite."""
        if not self.is_finite:
            return None
        return math.prod(len(d.values()) for d in self.tunable.values())

    def sample(self, rng: np.random.Generator, size: int | None = None) -> dict | list[dict]:
        """One configuration (size=None) or a list of `size` configurations."""
        n = 1 if size is None else size
        columns = {k: d.sample(rng, n) for k, d in self.tunable.items()}
        configs = [
            {k: (columns[k][i] if k in columns else v) for k, v in self._items.items()}
            for i in range(n)
        ]
        return configs[0] if size is None else configs

    def validate(self, config: Mapping[str, Value]) -> None:
        """Raise ValueError naming the hyperparameter, the value and the domain if invalid."""
        unknown = [k for k in config if k not in self._items]
        if unknown:
            raise ValueError(
                f"unknown hyperparameter {unknown[0]!r} (value {config[unknown[0]]!r}); "
                f"the space has {sorted(self._items)}"
            )
        for name, domain in self._items.items():
            if name not in config:
                raise ValueError(f"missing hyperparameter {name!r}; expected a value in {domain!r}")
            value = config[name]
            if isinstance(domain, Domain):
                why = domain.check(value)
                if why is not None:
                    raise ValueError(f"hyperparameter {name!r}: {why} (domain {domain!r})")
            elif value != domain:
                raise ValueError(
                    f"hyperparameter {name!r} is the constant {domain!r}, got {value!r}"
                )

    def key(self, config: Mapping[str, Value]) -> tuple:
        """A hashable identity of a configuration (tunable values in space order)."""
        return self.key_of_values(tuple(map(config.__getitem__, self._names)))

    @staticmethod
    def key_of_values(values: tuple) -> tuple:
        """`key` of a configuration given as its tunable values in space order."""
        if set(map(type, values)) <= _PLAIN_TYPES:  # the common case, kept fast
            return values
        return tuple(map(_category_key, values))

    def to_dict(self) -> dict:
        return {
            k: (v.to_dict() if isinstance(v, Domain) else {"type": "constant", "value": v})
            for k, v in self._items.items()
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, spec: Mapping[str, Mapping]) -> Space:
        """Inverse of `to_dict`; a domain with a missing or unknown key is a ValueError
        naming the hyperparameter, the key and the keys its type takes."""
        items = {}
        for name, s in spec.items():
            if not isinstance(s, Mapping) or "type" not in s:
                raise ValueError(
                    f"hyperparameter {name!r}: expected a dict with a 'type', got {s!r}"
                )
            try:
                items[name] = domain_from_dict(s)
            except ValueError as e:
                raise ValueError(f"hyperparameter {name!r}: {e}") from None
        return cls(items)

    @classmethod
    def from_json(cls, text: str) -> Space:
        return cls.from_dict(json.loads(text))


def _is_constant(value: Value) -> bool:
    """True for a value a config may hold as it is: anything JSON writes (numpy scalars too)."""
    try:
        json.dumps(_plain(value))
    except (TypeError, ValueError):
        return False
    return True
