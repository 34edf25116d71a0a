"""The run directory: what it holds, and the one call that opens it for a run.

One run directory holds one run: results.csv (the rows, which are also the run's event
log) and metadata.json (what the run is, and `complete`). `open_run` is the one place
that reads a directory's state and decides: a new run starts, a complete run of the same
configuration is left alone (RunComplete), an incomplete one resumes, and a run of
another configuration is refused in one line (or set aside, with resume=False). Call it
once the whole configuration is validated: nothing is written before it.

Example:
    >>> session = open_run("outputs/run1", fidelity="epoch", metrics=["loss"],
    ...                    hyperparameters=["lr"], config={"seed": 0})  # doctest: +SKIP
    >>> Tuner(..., backend=session.backend(backend), results=session.writer)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simtune.core.results import (
    DIGEST,
    DIGEST_BYTES,
    METADATA,
    RESULTS,
    SUPERSEDED,
    ResultsWriter,
    columns,
    recorded_events,
)
from simtune.core.runlock import LOCK_FILE, RunLock
from simtune.core.stopping import EndReason

if TYPE_CHECKING:
    from simtune.core.backends.base import Backend
    from simtune.core.trial import Event

log = logging.getLogger("simtune.rundir")
TRIALS = "trials"  # trial directories of the real backends
LOGGED = ("tensorboard", "mlflow.db", "mlruns", "wandb")  # what the loggers write (core.loggers)
# config keys that do not change a run's results (allow_single_fidelity only permits one;
# logger only watches)
IGNORED_KEYS = ("progress", "resume", "status_every", "allow_single_fidelity", "logger")


class RunComplete(ValueError):
    """The directory holds a complete run of this configuration: nothing left to do."""


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


def read_state(directory: str | Path, config: dict[str, Any] | None = None) -> RunState:
    """The state of `directory` for a run of `config` (None: any config matches); reads,
    never writes. ValueError (one line) if it holds something that is not a run."""
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
        state = read_state(directory, config)
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
    """Move the run in `directory` (results, metadata, trial dirs, what its loggers wrote)
    to superseded/<n>/."""
    directory = Path(directory)
    n = 0
    while (directory / SUPERSEDED / str(n)).exists():
        n += 1
    target = directory / SUPERSEDED / str(n)
    target.mkdir(parents=True)
    for name in (RESULTS, METADATA, TRIALS, *LOGGED):
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


def results_changed(directory: str | Path, metadata: dict[str, Any]) -> str | None:
    """One line if results.csv no longer starts with the bytes `metadata` recorded a digest
    of (a row edited or deleted since), or no digest was recorded (a run of an older
    simtune, which this one does not resume); None if it does."""
    digest, size = metadata.get(DIGEST), metadata.get(DIGEST_BYTES)
    if not isinstance(digest, str) or not isinstance(size, int):
        return (f"{Path(directory) / METADATA} records no digest of {RESULTS}: a run of an "
                "older simtune, which this one does not resume; rerun into a new directory")
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


@dataclass
class RunSession:
    """An open run directory: the `writer` that records the run (holding the directory's
    lock until it is closed) and, for a resumed run, the events to replay."""

    writer: ResultsWriter

    @property
    def resuming(self) -> bool:
        """True if the directory held an interrupted run whose rows are replayed."""
        return self.writer.n_recorded > 0

    @cached_property
    def events(self) -> list[Event]:
        """The events behind the recorded rows, in order (empty for a new run)."""
        return recorded_events(self.writer.recorded, self.writer.metrics)

    def backend(self, backend: Backend) -> Backend:
        """The backend to run on: `backend` itself, or, resuming on a real backend, behind
        a replay of the recorded events (core.backends.replay). On a deterministic
        backend the run is simply redone and every row checked against the recorded one."""
        if not self.resuming or backend.deterministic:
            return backend
        from simtune.core.backends.replay import ReplayBackend

        return ReplayBackend(backend, self.events)


def open_run(
    directory: str | Path,
    *,
    fidelity: str,
    metrics: Sequence[str],
    hyperparameters: Sequence[str],
    metadata: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    resume: bool = True,
    replayable: bool = True,
) -> RunSession:
    """Open `directory` for the run of `config` (None: any config matches) and return its
    session: a new run, or the resume of an interrupted run of the same config.

    Refused with ValueError (one line, nothing written): a run of another config, results
    changed since they were written, a directory another process writes (RunLocked), an
    interrupted run that is not `replayable` (its results depend on the host's speed);
    RunComplete if it holds a complete run of `config`. resume=False moves an earlier run
    to superseded/<n>/ and starts afresh, as is done with a run that ended without a
    valid report (of any config). `metadata` starts metadata.json.
    """
    directory = Path(directory)
    header = columns(fidelity, list(metrics), list(hyperparameters))
    _refuse(directory, read_state(directory, config), resume, replayable)  # no lock file yet
    directory.mkdir(parents=True, exist_ok=True)
    lock = RunLock.acquire(directory / LOCK_FILE)
    try:
        state = read_state(directory, config)  # as it is now that it is ours
        _refuse(directory, state, resume, replayable)
        meta: dict[str, Any] = {**(metadata or {}), "complete": False}
        if config is not None:
            meta["config"] = comparable(config)
        recorded: list[str] = []
        if state.kind != "new" and (not resume or state.kind == "empty"):
            aside = set_aside(directory)  # nothing worth resuming: set aside, start afresh
            log.info("moved the earlier run of %s (%s) to %s", directory,
                     state.metadata.get("end_reason", "interrupted"), aside)
        elif state.kind != "new":
            recorded = read_rows(directory, header)
            meta["resumed"] = int(state.metadata.get("resumed", 0)) + 1
        writer = ResultsWriter(directory, fidelity=fidelity, metrics=metrics,
                               hyperparameters=hyperparameters, metadata=meta, lock=lock,
                               recorded=recorded)
    except BaseException:
        lock.release()
        raise
    return RunSession(writer)


def _refuse(directory: Path, state: RunState, resume: bool, replayable: bool) -> None:
    """ValueError if the run in `directory` may not go on (RunComplete: it is done)."""
    if state.kind in ("new", "empty") or not resume:
        return
    why = refusal(directory, state)
    if why:
        raise ValueError(why)
    if state.kind == "complete":
        raise RunComplete(f"{directory} holds a complete run of this configuration already")
    if not replayable:
        raise ValueError(
            f"{directory} holds an interrupted run whose results depend on the host's speed "
            "(the backend charges decision time): it cannot be replayed; rerun with "
            "resume=false (moves it aside) or use a new directory"
        )
