"""A trial's directory on disk: config.json and checkpoints/, kept across interruptions.

The directory of a trial id belongs to one configuration: a later process of the same
run continues on what is there, and a different configuration is refused.
"""

from __future__ import annotations

import ast
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from simtune.core.report import PREFIX, parse_report
from simtune.core.trial import Trial

REPORT_PREFIX = PREFIX.encode()


def training_path(spec: str, base: str | Path | None = None) -> tuple[Path, str]:
    """The script file and function name of "path/to/file.py:name", checked, not imported.

    A relative path is taken against `base`. ValueError names a malformed spec or a
    missing file.
    """
    path_text, sep, name = spec.rpartition(":")
    if not sep or not path_text.endswith(".py") or not name.isidentifier():
        raise ValueError(f"training {spec!r} must look like 'path/to/script.py:function_name'")
    path = Path(path_text).expanduser()
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    path = path.resolve()
    if not path.is_file():
        raise ValueError(f"training script {path_text!r} not found ({path})")
    defined = top_level_names(path)
    if defined is not None and name not in defined:
        functions = ", ".join(sorted(n for n, f in defined.items() if f and n[0] != "_"))
        raise ValueError(f"training script {path_text} has no function {name!r} (its "
                         f"functions: {functions or 'none'}); write {path_text}:<function>")
    return path, name


def top_level_names(path: Path) -> dict[str, bool] | None:
    """The names a Python file defines at its top level (functions, classes, assignments,
    imports), each with whether it is a `def`, read without running the file; None if it
    does not parse (running it will say)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return None
    names: dict[str, bool] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = not isinstance(node, ast.ClassDef)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            if any(a.name == "*" for a in node.names):
                return None  # names only running it tells
            names.update({(a.asname or a.name).partition(".")[0]: False for a in node.names})
        else:  # assignments, and definitions under a top-level if/try
            for n in ast.walk(node):
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                    names.setdefault(n.id, False)
                elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef):
                    names[n.name] = True
    return names


def take_trial_dir(tdir: Path, trial: Trial, source: Path | None) -> None:
    """Make `tdir` hold `trial` (config.json, checkpoints/), keeping what an earlier process
    of the same trial left there; `source` is the checkpoint to start from (PBT), copied
    only into an empty checkpoint directory. ValueError if `tdir` holds another config.
    """
    ckpt = tdir / "checkpoints"
    config_file = tdir / "config.json"
    wanted = config_text(trial.config)
    if config_file.exists():
        found = config_file.read_text()
        if _canonical(found) != _canonical(wanted):
            raise ValueError(
                f"trial directory {tdir} holds another configuration ({found.strip()}) "
                f"than trial {trial.trial_id} ({wanted.strip()}); use a new run "
                "directory or remove that one to start afresh"
            )
    else:
        tdir.mkdir(parents=True, exist_ok=True)
        tmp = tdir / "config.json.tmp"
        tmp.write_text(wanted)
        tmp.replace(config_file)
    fresh = not ckpt.is_dir() or not any(ckpt.iterdir())
    ckpt.mkdir(exist_ok=True)
    if source is not None and fresh:
        if not source.is_dir():
            raise ValueError(f"trial {trial.trial_id}: no checkpoint of {trial.checkpoint_of}")
        shutil.copytree(source, ckpt, dirs_exist_ok=True)


def config_text(config: dict[str, Any]) -> str:
    """The config.json text of a trial (values JSON-normalised, in the config's order)."""
    return json.dumps(config, default=str) + "\n"


def _canonical(text: str) -> str:
    """Config JSON text with sorted keys: two configs are the same iff these are equal."""
    try:
        return json.dumps(json.loads(text), sort_keys=True)
    except json.JSONDecodeError:
        return text


def output_reports(tdir: Path, fidelity: str) -> list[tuple[int, dict[str, Any]]]:
    """The (fidelity, metrics) reports in `tdir`/stdout.txt, in the order written.

    What a trial said, as its output on storage holds it: a later process of the run
    recovers the reports its interrupted tuner never recorded from here. Lines other
    than reports are skipped; reading stops at the first report the live backend would
    have refused (malformed, cut off, without a whole-number fidelity).
    """
    out: list[tuple[int, dict[str, Any]]] = []
    path = tdir / "stdout.txt"
    if not path.is_file():
        return out
    with open(path, "rb") as f:
        for raw in f:
            if not raw.startswith(REPORT_PREFIX):
                continue
            try:
                metrics = parse_report(raw.decode("utf-8", errors="replace"))
            except ValueError:
                break
            value = None if metrics is None else metrics.get(fidelity)
            if (not raw.endswith(b"\n") or value is None or not math.isfinite(value)
                    or value != int(value)):
                break
            out.append((int(value), metrics))
    return out


def unrecorded(
    reports: list[tuple[int, dict[str, Any]]], recorded: int | None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], int]:
    """Of a trial's `reports` (output_reports), those above the `recorded` fidelity, each
    above the one before: (metrics of the recorded report, the new ones, highest fidelity).

    Example:
        >>> unrecorded([(1, {"e": 1}), (2, {"e": 2}), (3, {"e": 3}), (3, {"e": 3})], 2)
        ({'e': 2}, [{'e': 3}], 3)
    """
    top = -1 if recorded is None else recorded
    base: dict[str, Any] | None = None
    new: list[dict[str, Any]] = []
    for fidelity, metrics in reports:
        if fidelity == recorded and not new:
            base = metrics
        elif fidelity > top:
            new.append(metrics)
            top = fidelity
    return base, new, top


def tree_bytes(path: Path) -> int:
    """Bytes of the files under `path` (0 if it does not exist)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total
