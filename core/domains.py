"""Hyperparameter domains: intervals (linear/log, float/int), categories, ordinals and
finite ranges, with seeded sampling, validation, the [0,1] encoding and JSON.

Example:
    >>> loguniform(1e-4, 1e-1).sample(np.random.default_rng(0), 3)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Value = Any


class Domain:
    """The set of values one hyperparameter may take."""

    kind: str = ""
    is_finite: bool = False

    def sample(self, rng: np.random.Generator, size: int) -> list:
        """Draw `size` values as plain Python objects."""
        raise NotImplementedError

    def check(self, value: Value) -> str | None:
        """Return why `value` is not in the domain, or None when it is."""
        raise NotImplementedError

    def n_dims(self) -> int:
        """Number of coordinates in the [0,1]^d encoding."""
        return 1

    def encode(self, value: Value) -> list[float]:
        raise NotImplementedError

    def decode(self, coords: Sequence[float]) -> Value:
        raise NotImplementedError

    def to_dict(self) -> dict:
        raise NotImplementedError

    def values(self) -> list:
        """All values of a finite domain, in order."""
        raise TypeError(f"{self} is not finite")

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self) -> str:
        args = ", ".join(repr(v) for k, v in self.to_dict().items() if k != "type")
        return f"{self.kind}({args})"


def _is_int(value: Value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_number(value: Value) -> bool:
    return (_is_int(value) or isinstance(value, float | np.floating)) and not (
        isinstance(value, float | np.floating) and math.isnan(value)
    )


class Interval(Domain):
    """A closed numeric interval, optionally on a log scale."""

    log: bool = False
    integer: bool = False

    def __init__(self, low: float, high: float) -> None:
        if not (_is_number(low) and _is_number(high)):
            raise ValueError(f"{self.kind}: bounds must be numbers, got low={low!r}, high={high!r}")
        if low > high:
            raise ValueError(f"{self.kind}: low={low!r} must not exceed high={high!r}")
        if self.log and low <= 0:
            raise ValueError(f"{self.kind}: log scale needs low > 0, got low={low!r}")
        if self.integer and not (_is_int(low) and _is_int(high)):
            raise ValueError(
                f"{self.kind}: bounds must be integers, got low={low!r}, high={high!r}"
            )
        self.low = int(low) if self.integer else float(low)
        self.high = int(high) if self.integer else float(high)
        self.is_finite = self.integer

    def _warp(self, x: np.ndarray | float) -> np.ndarray | float:
        return np.log(x) if self.log else x

    def _unwarp(self, x: np.ndarray | float) -> np.ndarray | float:
        return np.exp(x) if self.log else x

    def sample(self, rng: np.random.Generator, size: int) -> list:
        if self.integer:
            if self.log:
                # uniform in log space over [low - 0.5, high + 0.5], rounded
                lo, hi = (
                    math.log(self.low - 0.5 if self.low > 0.5 else self.low),
                    math.log(self.high + 0.5),
                )
                x = np.clip(np.rint(np.exp(rng.uniform(lo, hi, size))), self.low, self.high)
                return x.astype(np.int64).tolist()
            return rng.integers(self.low, self.high, size, endpoint=True).tolist()
        lo, hi = self._warp(self.low), self._warp(self.high)
        return np.clip(self._unwarp(rng.uniform(lo, hi, size)), self.low, self.high).tolist()

    def check(self, value: Value) -> str | None:
        if self.integer and not _is_int(value):
            return f"expected an integer, got {type(value).__name__} {value!r}"
        if not _is_number(value):
            return f"expected a number, got {type(value).__name__} {value!r}"
        if not self.low <= value <= self.high:
            return f"value {value!r} is outside [{self.low}, {self.high}]"
        return None

    def to_unit(self, x: np.ndarray | float) -> np.ndarray | float:
        """Where `x` lies on the domain's scale (log for log domains): low -> 0, high -> 1
        (0.5 if low == high); element-wise on arrays, neither clipped nor rounded."""
        lo, hi = self._warp(self.low), self._warp(self.high)
        if hi == lo:
            return np.full_like(x, 0.5, dtype=float) if np.ndim(x) else 0.5
        return (self._warp(x) - lo) / (hi - lo)

    def from_unit(self, u: np.ndarray | float) -> np.ndarray | float:
        """The value at position `u` of the domain's scale (inverse of `to_unit`), neither
        clipped to [low, high] nor rounded to an integer."""
        lo, hi = self._warp(self.low), self._warp(self.high)
        return self._unwarp(lo + u * (hi - lo))

    def evenly_spaced(self, n: int) -> np.ndarray:
        """`n` values from low to high, evenly spaced on the domain's scale (not rounded)."""
        return self._unwarp(np.linspace(self._warp(self.low), self._warp(self.high), n))

    def encode(self, value: Value) -> list[float]:
        return [float(self.to_unit(value))]

    def decode(self, coords: Sequence[float]) -> Value:
        u = min(max(float(coords[0]), 0.0), 1.0)
        x = float(self.from_unit(u))
        if self.integer:
            return int(min(max(round(x), self.low), self.high))
        return min(max(x, self.low), self.high)

    def values(self) -> list:
        if not self.integer:
            return super().values()
        return list(range(self.low, self.high + 1))

    def to_dict(self) -> dict:
        return {"type": self.kind, "low": self.low, "high": self.high}


class Uniform(Interval):
    kind = "uniform"


class LogUniform(Interval):
    kind = "loguniform"
    log = True


class RandInt(Interval):
    """Integers in [low, high], both inclusive."""

    kind = "randint"
    integer = True


class LogRandInt(Interval):
    """Integers in [low, high], both inclusive, sampled on a log scale."""

    kind = "lograndint"
    integer = True
    log = True


class Categorical(Domain):
    """An unordered finite set of values (one-hot encoded)."""

    kind = "choice"
    is_finite = True

    def __init__(self, categories: Sequence[Value]) -> None:
        categories = [_plain(c) for c in categories]
        if not categories:
            raise ValueError(f"{self.kind}: needs at least one category")
        if len(set(map(_category_key, categories))) != len(categories):
            raise ValueError(f"{self.kind}: categories must be distinct, got {categories!r}")
        self.categories = categories
        self._index = {_category_key(c): i for i, c in enumerate(categories)}

    def index(self, value: Value) -> int:
        """Position of `value` among the categories (KeyError if absent)."""
        return self._index[_category_key(value)]

    def sample(self, rng: np.random.Generator, size: int) -> list:
        cats = self.categories
        return [cats[i] for i in rng.integers(0, len(cats), size).tolist()]

    def check(self, value: Value) -> str | None:
        try:
            self.index(value)
        except (KeyError, TypeError):
            return f"value {value!r} is not one of {self.categories!r}"
        return None

    def n_dims(self) -> int:
        return len(self.categories)

    def encode(self, value: Value) -> list[float]:
        onehot = [0.0] * len(self.categories)
        onehot[self.index(value)] = 1.0
        return onehot

    def decode(self, coords: Sequence[float]) -> Value:
        return self.categories[int(np.argmax(coords))]

    def values(self) -> list:
        return list(self.categories)

    def to_dict(self) -> dict:
        return {"type": self.kind, "categories": list(self.categories)}


class Ordinal(Categorical):
    """An ordered finite set of values (encoded as one coordinate)."""

    kind = "ordinal"

    def n_dims(self) -> int:
        return 1

    def encode(self, value: Value) -> list[float]:
        n = len(self.categories)
        return [self.index(value) / (n - 1) if n > 1 else 0.5]

    def decode(self, coords: Sequence[float]) -> Value:
        n = len(self.categories)
        u = min(max(float(coords[0]), 0.0), 1.0)
        return self.categories[int(round(u * (n - 1)))]


class FiniteRange(Ordinal):
    """`size` evenly spaced numbers from low to high (log-spaced if `log`)."""

    def __init__(
        self, low: float, high: float, size: int, log: bool = False, cast_int: bool = False
    ):
        if not _is_int(size) or size < 1:
            raise ValueError(f"finrange: size must be a positive integer, got {size!r}")
        if log and low <= 0:
            raise ValueError(f"logfinrange: needs low > 0, got low={low!r}")
        points = np.geomspace(low, high, size) if log else np.linspace(low, high, size)
        values = [int(round(v)) for v in points] if cast_int else points.tolist()
        self.low, self.high, self.size, self.log, self.cast_int = low, high, size, log, cast_int
        self.kind = "logfinrange" if log else "finrange"
        super().__init__(values)

    def to_dict(self) -> dict:
        return {
            "type": self.kind,
            "low": self.low,
            "high": self.high,
            "size": self.size,
            "cast_int": self.cast_int,
        }


def _plain(value: Value) -> Value:
    """numpy scalars -> Python scalars, so configs compare, hash and serialize plainly."""
    return value.item() if isinstance(value, np.generic) else value


_PLAIN_TYPES = {str, int, float}


def _category_key(value: Value) -> Value:
    value = _plain(value)
    # 1 and 1.0 are the same category (HPOBench tables mix them); True is not 1.
    return ("bool", value) if isinstance(value, bool) else value


def uniform(low: float, high: float) -> Uniform:
    return Uniform(low, high)


def loguniform(low: float, high: float) -> LogUniform:
    return LogUniform(low, high)


def randint(low: int, high: int) -> RandInt:
    return RandInt(low, high)


def lograndint(low: int, high: int) -> LogRandInt:
    return LogRandInt(low, high)


def choice(categories: Sequence[Value]) -> Categorical:
    return Categorical(categories)


def ordinal(categories: Sequence[Value]) -> Ordinal:
    return Ordinal(categories)


def finrange(low: float, high: float, size: int, cast_int: bool = False) -> FiniteRange:
    return FiniteRange(low, high, size, log=False, cast_int=cast_int)


def logfinrange(low: float, high: float, size: int, cast_int: bool = False) -> FiniteRange:
    return FiniteRange(low, high, size, log=True, cast_int=cast_int)


def domain_from_dict(spec: Mapping) -> Domain | Value:
    """Inverse of `Domain.to_dict` (and the constant of {"type": "constant", "value": v});
    a missing or unknown key (a misspelt `categories`) is a ValueError naming it and the
    keys of the domain's type."""
    kind = spec.get("type")
    if kind not in _KEYS:
        raise ValueError(f"unknown domain type {kind!r}; known: {sorted(_KEYS)}")
    _check_keys(spec)
    if kind == "constant":
        return spec["value"]
    if kind in _INTERVALS:
        return _INTERVALS[kind](spec["low"], spec["high"])
    if kind == "choice":
        return Categorical(spec["categories"])
    if kind == "ordinal":
        return Ordinal(spec["categories"])
    return FiniteRange(
        spec["low"], spec["high"], spec["size"], kind == "logfinrange", spec.get("cast_int", False)
    )


def _check_keys(spec: Mapping) -> None:
    """A ValueError for the first key of `spec` its type does not take (with the nearest
    valid one, if close), or the first one it needs that is missing."""
    import difflib

    kind = spec["type"]
    keys, optional = _KEYS[kind], _OPTIONAL.get(kind, ())
    valid = ", ".join(["type", *keys, *optional])
    for key in spec:
        if key != "type" and key not in keys and key not in optional:
            close = difflib.get_close_matches(str(key), [*keys, *optional], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            if key == "log":
                log_kind = kind if kind.startswith("log") else _LOG_KINDS.get(kind)
                hint = f" (for a log scale, write type: {log_kind})" if log_kind else ""
            raise ValueError(f"type {kind} takes no key {key!r}{hint}; its keys: {valid}")
    missing = [k for k in keys if k not in spec]
    if missing:
        raise ValueError(f"type {kind} needs the key {missing[0]!r}; its keys: {valid}")


_INTERVALS = {c.kind: c for c in (Uniform, LogUniform, RandInt, LogRandInt)}
# each type's required keys (besides "type"), then its optional ones
_KEYS: dict[str, tuple[str, ...]] = {
    **{kind: ("low", "high") for kind in _INTERVALS},
    "choice": ("categories",),
    "ordinal": ("categories",),
    "finrange": ("low", "high", "size"),
    "logfinrange": ("low", "high", "size"),
    "constant": ("value",),
}
_OPTIONAL = {"finrange": ("cast_int",), "logfinrange": ("cast_int",)}
_LOG_KINDS = {"uniform": "loguniform", "randint": "lograndint", "finrange": "logfinrange"}
