"""Conditions and forbidden combinations of a configuration space.

A condition makes a hyperparameter active only when its parents take given values
({parent: value} or {parent: [values]}; several parents must all match; a parent may be
conditional itself). A forbidden clause names values that may not occur together
({name: value or [values], ...}), or is a callable config -> bool. `Structure` checks
them against the domains and answers which hyperparameters a configuration activates.

Example:
    >>> s = Structure(domains, {"momentum": {"optimizer": "sgd"}},
    ...               [{"optimizer": "adam", "lr": 0.1}])
    >>> s.active({"optimizer": "adam", "lr": 0.01, "momentum": 0.9})
    ['optimizer', 'lr']
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from simtune.core.domains import Domain, Value, _category_key, _plain

# a clause: name -> the values it matches (as _category_key keys), with the values as given
Clause = dict[str, tuple[Value, ...]]
Forbidden = Clause | Callable[[dict[str, Any]], bool]


class Structure:
    """The conditions and forbidden clauses of a space, checked against its `items`
    (name -> Domain or constant); ValueError names the hyperparameter and the fix."""

    def __init__(
        self,
        items: Mapping[str, Domain | Value],
        conditions: Mapping[str, Mapping[str, Value]] | None = None,
        forbidden: Sequence[Mapping[str, Value] | Callable] | None = None,
    ) -> None:
        self._items = items
        self.conditions: dict[str, Clause] = {}
        for child, spec in (conditions or {}).items():
            if child not in items:
                raise ValueError(
                    f"a condition is given for {child!r}, which is not a hyperparameter of "
                    f"the space{_hint(child, items)}"
                )
            if not isinstance(spec, Mapping) or not spec:
                raise ValueError(
                    f"hyperparameter {child!r}: a condition is a mapping {{parent: value or "
                    f"[values]}}, e.g. {{optimizer: sgd}}; got {spec!r}"
                )
            self.conditions[child] = self._clause(spec, f"hyperparameter {child!r}: its condition")
            if child in self.conditions[child]:
                raise ValueError(f"hyperparameter {child!r}: its condition names itself")
        self.order = self._topological()
        self.forbidden: list[Forbidden] = []
        for i, clause in enumerate(forbidden or []):
            if callable(clause):
                self.forbidden.append(clause)
            elif isinstance(clause, Mapping) and clause:
                self.forbidden.append(self._clause(clause, f"forbidden clause {i + 1}"))
            else:
                raise ValueError(
                    f"forbidden clause {i + 1}: expected a mapping {{name: value or [values]}} "
                    f"or a callable config -> bool, got {clause!r}"
                )
        self._keys = {
            id(c): {n: {_category_key(v) for v in vals} for n, vals in c.items()}
            for c in [*self.conditions.values(), *self.forbidden]
            if isinstance(c, dict)
        }

    def __bool__(self) -> bool:
        return bool(self.conditions or self.forbidden)

    def _clause(self, spec: Mapping[str, Value], where: str) -> Clause:
        clause: Clause = {}
        for name, want in spec.items():
            name = str(name)
            if name not in self._items:
                raise ValueError(
                    f"{where} names {name!r}, which is not a hyperparameter of the space"
                    f"{_hint(name, self._items)}"
                )
            values = tuple(_plain(v) for v in (want if isinstance(want, list | tuple) else [want]))
            if not values:
                raise ValueError(f"{where}: {name} matches no value (an empty list)")
            domain = self._items[name]
            for v in values:
                why = domain.check(v) if isinstance(domain, Domain) else (
                    None if _category_key(v) == _category_key(domain)
                    else f"{name} is the constant {domain!r}"
                )
                if why is not None:
                    raise ValueError(f"{where}: {name}={v!r} can never hold: {why}")
            clause[name] = values
        return clause

    def _topological(self) -> list[str]:
        """Conditional names, parents before children; ValueError on a cycle."""
        order: list[str] = []
        state: dict[str, int] = {}  # 1: on the path, 2: done

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = [*path[path.index(name):], name]
                raise ValueError(f"the conditions form a cycle: {' -> '.join(cycle)}; "
                                 "a hyperparameter cannot depend on itself")
            state[name] = 1
            for parent in self.conditions.get(name, {}):
                visit(parent, [*path, name])
            state[name] = 2
            if name in self.conditions:
                order.append(name)

        for name in self.conditions:
            visit(name, [])
        return order

    def matches(self, clause: Clause, config: Mapping[str, Any]) -> bool:
        """Every name of `clause` is in `config` with one of its values."""
        keys = self._keys[id(clause)]
        try:
            return all(n in config and _category_key(config[n]) in keys[n] for n in clause)
        except TypeError:  # an unhashable value matches nothing
            return False

    def active(self, config: Mapping[str, Any]) -> list[str]:
        """The names `config`'s values activate, in space order (`config` may hold values
        for inactive names too: they are ignored)."""
        off: set[str] = set()
        for name in self.order:
            parents = self.conditions[name]
            if any(p in off for p in parents) or not self.matches(parents, config):
                off.add(name)
        return [n for n in self._items if n not in off]

    def is_forbidden(self, config: Mapping[str, Any]) -> bool:
        """`config` (active names only) matches a forbidden clause."""
        for clause in self.forbidden:
            if callable(clause):
                if clause(dict(config)):
                    return True
            elif self.matches(clause, config):
                return True
        return False

    def why_inactive(self, name: str) -> str:
        """`name`'s condition, written as `parent=value` pairs."""
        return ", ".join(f"{p}={_show(v)}" for p, v in self.conditions[name].items())

    def to_dict(self) -> tuple[dict[str, dict], list]:
        """The conditions {child: {parent: value or [values]}} and the forbidden clauses
        as JSON (a callable is written as {"callable": "module.name"})."""
        conditions = {c: {p: _show(v) for p, v in cl.items()} for c, cl in self.conditions.items()}
        forbidden = [
            {"callable": f"{getattr(c, '__module__', '?')}.{getattr(c, '__qualname__', '?')}"}
            if callable(c) else {n: _show(v) for n, v in c.items()}
            for c in self.forbidden
        ]
        return conditions, forbidden


def _show(values: tuple) -> Value:
    return values[0] if len(values) == 1 else list(values)


def _hint(name: str, names: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(str(name), list(names), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f"; it has {sorted(names)}"
