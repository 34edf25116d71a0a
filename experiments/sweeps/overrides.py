"""experiments/run.py's command line checked against conf/ before Hydra composes it: one
line naming the override and the fix, where Hydra would print its search path, a syntax
error with a link, or a "Key ... is not in struct" block (and exit 1).

Example:
    >>> check_command_line(["scheduler=dehb", "scheduler.eta=3"], Path("conf")) is None
    True
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, NoReturn

CONFIG_GROUPS = ("scheduler", "benchmark", "backend", "launcher", "stop", "logger")
OUTPUT_DIRS = ("hydra.run.dir", "hydra.sweep.dir")


def check_command_line(args: list[str], conf: Path) -> str | None:
    """One line for the first override that Hydra cannot parse, names an unknown option of
    a config group (simtune's or Hydra's, e.g. hydra/launcher), a key that no chosen
    config has, or an output dir that is a file; None if they look right."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    overrides = []
    for arg in _override_args(args):
        try:
            overrides += parser.parse_overrides([arg])
        except Exception as e:  # noqa: BLE001 - Hydra's OverrideParseException, in one line
            why = str(e).split("\nSee ")[0].replace(f"Error parsing override '{arg}'\n", "")
            return (f"{arg}: not an override Hydra can read ({' '.join(why.split())}); write "
                    "key=value, e.g. seed=3, or a sweep seed=1,2 (quote values holding "
                    "brackets or spaces; grammar: "
                    "https://hydra.cc/docs/advanced/override_grammar/basic)")
    chosen = dict(_defaults(conf))  # group -> the options a run (or sweep) uses
    for override in overrides:
        key = override.key_or_group
        if key.startswith("hydra/") and not override.is_delete():
            problem = _unknown_hydra_option(key, _values(override), conf)
            if problem:
                return problem
        elif key in CONFIG_GROUPS:
            values = _values(override)
            if values is None:
                continue
            known = sorted(p.stem for p in (conf / key).glob("*.yaml"))
            unknown = [v for v in values if v not in known]
            if unknown:
                return f"{key}={unknown[0]}: no such {key}; available: {', '.join(known)}"
            chosen[key] = values
        elif key in OUTPUT_DIRS and not override.is_sweep_override():
            path = Path(str(override.value())).expanduser()
            if path.exists() and not path.is_dir():
                return f"{key}={path}: that is a file; name a directory for the run's output"
    for override in overrides:
        if override.is_add() or override.is_force_add() or override.is_delete():
            continue  # "+key=..." adds a key on purpose; run.py checks what it means
        problem = _unknown_key(override.key_or_group, override, chosen, conf)
        if problem:
            return problem
    return None


def _override_args(args: list[str]) -> list[str]:
    """The overrides among Hydra's command-line arguments (not its flags and their values)."""
    from simtune.experiments.sweeps.hydra_private import get_args_parser

    parser = get_args_parser()

    def refuse(message: str) -> NoReturn:
        raise ValueError(message)

    parser.error = refuse  # type: ignore[method-assign]
    try:
        known, rest = parser.parse_known_args(args)
    except ValueError:  # a malformed flag: Hydra's own usage line says it
        return []
    return [*known.overrides, *(a for a in rest if not a.startswith("-"))]


def _unknown_hydra_option(group: str, values: list[str] | None, conf: Path) -> str | None:
    """One line if `values` name an option of Hydra's config group `group` (e.g.
    hydra/launcher) that neither Hydra, its plugins nor conf/ has."""
    from hydra.core.plugins import Plugins

    from simtune.experiments.sweeps.hydra_private import ConfigRepository, create_config_search_path

    Plugins.instance()  # plugins register their options (joblib, submitit_local, ...)
    known = ConfigRepository(create_config_search_path(str(conf))).get_group_options(group)
    unknown = [v for v in values or [] if v not in known]
    if not unknown:
        return None
    if not known:
        return f"{group}: Hydra has no config group {group!r}"
    return f"{group}={unknown[0]}: no such {group}; available: {', '.join(known)}"


def check_sweep_fidelities(args: list[str], conf: Path) -> str | None:
    """For a sweep (-m): the one line refusing a multi-fidelity scheduler of the sweep on a
    table of the sweep with a single fidelity (run.py refuses each such run; here the whole
    sweep stops before its directory is made); None if there is none, if
    allow_single_fidelity=true, or if the values are not plain lists (run.py checks)."""
    if not {"-m", "--multirun"} & set(args):
        return None
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        overrides = OverridesParser.create().parse_overrides(
            [a for a in args if not a.startswith("-")])
    except Exception:  # noqa: BLE001 - Hydra reports the syntax
        return None
    chosen: dict[str, list[str] | None] = dict(_defaults(conf))
    for override in overrides:
        chosen[override.key_or_group.lstrip("+")] = _values(override)
    allow = chosen.get("allow_single_fidelity", ["false"])
    if allow is None or [str(v).lower() for v in allow] != ["false"]:
        return None
    from simtune.core.schedulers import scheduler_class

    try:
        multi = [s for s in chosen.get("scheduler") or [] if scheduler_class(s).multi_fidelity]
    except ValueError:
        return None
    if not multi:
        return None
    from simtune.blackboxes import repository
    from simtune.blackboxes.curves import single_fidelity_refusal

    for name in chosen.get("benchmark") or []:
        entries = _yaml(conf / "benchmark" / f"{name}.yaml") or {}
        if name == "custom" or entries.get("surrogate"):
            continue
        raw = chosen.get("benchmark.raw_dir", [entries.get("raw_dir")])
        for task in chosen.get("benchmark.task", [entries.get("task")]) or []:
            try:
                bb = repository.load_shared(name, None if task is None else str(task),
                                            None if raw in (None, [None], ["null"]) else raw[0])
            except Exception:  # noqa: BLE001 - the run itself reports it
                continue
            if len(bb.fidelities) == 1:
                return single_fidelity_refusal(multi[0], bb.name, bb.task, bb.fidelity_name,
                                               bb.fidelities[0])
    return None


def _values(override: Any) -> list[str] | None:
    try:
        if override.is_sweep_override():
            return list(override.sweep_string_iterator())
        value = override.value()
        if isinstance(value, list):  # logger=[tensorboard,mlflow]: several of the group
            return [str(v) for v in value]
        return [override.get_value_element_as_str()]
    except Exception:  # noqa: BLE001 - an interval or a glob: let Hydra expand it
        return None


@cache
def _yaml(path: Path) -> Any:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _defaults(conf: Path) -> list[tuple[str, list[str]]]:
    entries = (_yaml(conf / "config.yaml") or {}).get("defaults") or []
    return [(g, [str(v)]) for e in entries if isinstance(e, dict)
            for g, v in e.items() if g in CONFIG_GROUPS]


def _unknown_key(key: str, override: Any, chosen: dict[str, list[str]], conf: Path) -> str | None:
    group, _, rest = key.partition(".")
    if group == "hydra" or "/" in key or key in CONFIG_GROUPS:  # hydra/launcher=joblib
        return None
    if not rest:  # a top-level key
        top = {k for k in (_yaml(conf / "config.yaml") or {}) if k != "defaults"}
        if key in top:
            return None
        return (f"{key}: no such key; the run's keys are {', '.join(sorted(top - {'hydra'}))} "
                f"and those of the groups {', '.join(CONFIG_GROUPS)} (e.g. scheduler.eta=3)")
    if group not in CONFIG_GROUPS:
        return None
    value = _values(override)
    shown = value[0] if value and len(value) == 1 else "..."
    names = chosen.get(group, [])
    if group == "logger":  # logger=[a,b]: each config sets logger.<its name>
        first = rest.split(".")[0]
        names = [n for n in names if n == first]
        if not names:
            return (f"{key}: logger {first!r} is not chosen; add logger={first} (or "
                    f"logger=[...,{first}]) to the command line")
    for name in names:
        node: Any = _yaml(conf / group / f"{name}.yaml")
        parts = rest.split(".")
        for depth, part in enumerate(parts):
            if not isinstance(node, dict):
                break  # a value Hydra itself refuses to index
            if part not in node:
                return _missing(group, name, parts[: depth + 1], node, shown)
            node = node[part]
    return None


def _missing(group: str, name: str, parts: list[str], node: dict, shown: str) -> str:
    dotted = ".".join(parts)
    where = f"conf/{group}/{name}.yaml"
    if group == "scheduler" and len(parts) == 1:
        from simtune.core.schedulers import scheduler_parameters

        valid = scheduler_parameters(name)
        if parts[0] not in valid:
            return (f"scheduler.{dotted}: scheduler {name!r} has no parameter {parts[0]!r}; "
                    f"its parameters: {valid}")
    if group == "benchmark" and name != "custom" and len(parts) == 1:
        from simtune.core.problem import CUSTOM_ONLY, use_custom

        if parts[0] in (*CUSTOM_ONLY, "training"):
            return use_custom(name, parts[0], shown)
    keys = ", ".join(sorted(k for k in node if k != "name")) or "none"
    return (f"{group}.{dotted}: {where} does not set {parts[-1]!r} (it sets {keys}); "
            f"to pass it anyway, write +{group}.{dotted}={shown}")
