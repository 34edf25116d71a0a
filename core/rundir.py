"""The run directory: what it holds, whether that run is complete, and whether it may resume.

One run directory holds one run: results.csv (the rows, which are also the run's event
log) and metadata.json (what the run is, and `complete`). This module is the one place
that reads a directory's state and decides: a new run starts, a complete run of the same
configuration is left alone, an incomplete one resumes, and a run of another
configuration is refused (or set aside, with resume=false). Nothing here writes before
the caller has validated the whole configuration.

Example:
    >>> inspect("outputs/run1", {"seed": 0}).kind  # doctest: +SKIP
    'new'
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.stopping import EndReason

RESULTS = "results.csv"
METADATA = "metadata.json"
SUPERSEDED = "superseded"  # where resume=false moves an earlier run of the directory
TRIALS = "trials"  # trial directories of the real backends
DIGEST, DIGEST_BYTES = "results_sha256", "results_bytes"  # metadata: what results.csv holds
# config keys that do not change a run's results (allow_single_fidelity only permits one)
IGNORED_KEYS = ("progress", "resume", "status_every", "allow_single_fidelity")


@dataclass
class RunState:
    """What a directory holds: kind is "new", "complete", "incomplete" or "empty" (a run
    that ended without a single valid report: a rerun sets it aside and starts afresh).

    `difference` names the config keys that differ from the config asked for
    ("key: old -> new; ..."), None if the stored run is of the same configuration.
    `changed` says that results.csv was changed since it was written (its digest).
    """

    kind: str
    metadata: dict[str, Any] = field(default_factory=dict)
    difference: str | None = None
    changed: str | None = None


def comparable(config: dict[str, Any]) -> dict[str, Any]:
    """`config` as metadata.json stores it (JSON round trip), without IGNORED_KEYS."""
    out = json.loads(json.dumps(config, default=str))
    for key in IGNORED_KEYS:
        out.pop(key, None)
    return out


def config_difference(old: Any, new: Any) -> str | None:
    """Dotted key of the first difference between two configs, None if equal.

    >>> config_difference({"a": {"b": 1}}, {"a": {"b": 2}})
    'a.b'
    """
    return next(iter(config_differences(old, new)), None)


def config_differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys of every difference between two configs, in key order. A key only one
    of them has is a difference: a run written by an older simtune, whose config lacks a
    key added since, is another configuration (a 0.1 project resumes only its own runs)."""
    if isinstance(old, dict) and isinstance(new, dict):
        found: list[str] = []
        for key in sorted(set(old) | set(new)):
            found += config_differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return found
    return [] if old == new else [prefix.rstrip(".") or "config"]


def chosen_differences(keys: list[str]) -> list[str]:
    """`keys` without those that follow from another choice of a config group: where
    `group.name` differs, the keys of its options under `group` are no news.

    >>> chosen_differences(["backend.charge_decision_time", "backend.name", "seed"])
    ['backend.name', 'seed']
    """
    renamed = {k[: -len("name")] for k in keys if k.endswith(".name")}
    return [k for k in keys if k.endswith(".name") and k[: -len("name")] in renamed
            or not any(k.startswith(group) for group in renamed)]


def _at(config: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(config, dict) or key not in config:
            return None
        config = config[key]
    return config


def inspect(directory: str | Path, config: dict[str, Any] | None = None) -> RunState:
    """The state of `directory` for a run of `config` (None: any config matches)."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"run directory {directory} is a file; name a directory")
    path = directory / METADATA
    if not path.exists():
        if (directory / RESULTS).exists():
            raise ValueError(
                f"{directory} holds {RESULTS} without {METADATA}: not a run simtune can "
                "resume; move it away or use another directory"
            )
        return RunState("new")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(
            f"{path} is unreadable ({type(e).__name__}); move the directory away or use "
            "another one"
        ) from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path} holds no run's metadata; use another directory")
    reason = EndReason.of(str(meta.get("end_reason") or "interrupted"))
    if meta.get("n_reports") == 0 and not reason.cut_short:
        kind = "empty"  # it ended with nothing to keep (written so by older simtune: complete)
    else:
        kind = "complete" if meta.get("complete") is True else "incomplete"
    difference = None
    if config is not None:
        old, new = comparable(meta.get("config") or {}), comparable(config)
        keys = chosen_differences(config_differences(old, new))
        if keys:
            difference = "; ".join(f"{key}: {_at(old, key)!r} -> {_at(new, key)!r}"
                                   for key in keys[:3]) + ("; ..." if len(keys) > 3 else "")
    return RunState(kind, meta, difference, results_changed(directory, meta))


def complete_run(directory: str | Path, config: dict[str, Any]) -> bool:
    """True if `directory` holds a complete run of `config` (a rerun has nothing to do)."""
    try:
        state = inspect(directory, config)
    except ValueError:
        return False
    return state.kind == "complete" and state.difference is None and state.changed is None


def refusal(directory: str | Path, state: RunState) -> str | None:
    """Why a run may not go on in `directory` (another configuration's, or its results
    changed since they were written), None if it may."""
    if state.kind != "new" and state.changed is not None:
        return state.changed
    if state.kind == "new" or state.difference is None:
        return None
    what = "a complete" if state.kind == "complete" else "an incomplete"
    return (
        f"{directory} holds {what} run of another configuration ({state.difference}); "
        "use a new output directory (hydra.run.dir=...), or resume=false to move that run "
        f"into {Path(directory) / SUPERSEDED}/ and start afresh"
    )


def set_aside(directory: str | Path) -> Path:
    """Move the run in `directory` (results, metadata, trial dirs) to superseded/<n>/."""
    directory = Path(directory)
    n = 0
    while (directory / SUPERSEDED / str(n)).exists():
        n += 1
    target = directory / SUPERSEDED / str(n)
    target.mkdir(parents=True)
    for name in (RESULTS, METADATA, TRIALS):
        if (directory / name).exists():
            shutil.move(str(directory / name), str(target / name))
    return target


def read_rows(directory: str | Path, header: list[str]) -> list[str]:
    """The complete rows of `directory`/results.csv (lines without their newline).

    A partial last line (the process died while writing it) is cut off the file. A
    header that differs from `header` means another configuration: ValueError.
    """
    path = Path(directory) / RESULTS
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):  # a partial last line: drop it, so the next row starts a line
        with open(path, "r+b") as f:
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
        data = data[:end]
    try:
        lines = data.decode("utf-8").split("\n")[:-1]
    except UnicodeDecodeError:
        raise ValueError(
            f"{path} is not a results file (not UTF-8); use another directory"
        ) from None
    if not lines:
        return []
    expected = ",".join(header)
    if lines[0] != expected:
        raise ValueError(
            f"{path} has columns {lines[0][:200]!r}, this run writes {expected[:200]!r}; "
            "use another directory"
        )
    return lines[1:]


def results_digest(data: bytes) -> dict[str, Any]:
    """The metadata fields recording `data`, the bytes of results.csv written so far."""
    return {DIGEST: hashlib.sha256(data).hexdigest(), DIGEST_BYTES: len(data)}


def results_changed(directory: str | Path, metadata: dict[str, Any]) -> str | None:
    """One line if results.csv no longer starts with the bytes `metadata` recorded a digest
    of (a row edited or deleted since), None if it does or no digest was recorded."""
    digest, size = metadata.get(DIGEST), metadata.get(DIGEST_BYTES)
    if not isinstance(digest, str) or not isinstance(size, int):
        return None  # written by a simtune that kept no digest
    path = Path(directory) / RESULTS
    try:
        with open(path, "rb") as f:
            data = f.read(size)
    except OSError:
        data = b""
    if len(data) == size and hashlib.sha256(data).hexdigest() == digest:
        return None
    return (
        f"{path} was changed after simtune wrote it (its first {size:,} bytes no longer "
        f"match the digest in {METADATA}): a row was edited or deleted; restore the file, "
        "or rerun with resume=false to move that run into "
        f"{Path(directory) / SUPERSEDED}/ and start afresh"
    )


def write_metadata(directory: str | Path, metadata: dict[str, Any]) -> None:
    """Replace metadata.json atomically (a crash leaves the old or the new one, whole)."""
    path = Path(directory) / METADATA
    tmp = path.with_name(METADATA + ".partial")
    try:
        tmp.write_text(json.dumps(metadata, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves the old metadata.json, no debris
        raise
