"""Warm start: an earlier run's recorded results, fed to a new run's scheduler before its
first suggestion, without running them again.

`WarmStart.read` reads a run directory (results.csv and metadata.json) and checks it
(a run, of the same space, with valid reports of the metric); `feed` hands each of its
trials with its valid reports to `Scheduler.inherit`, which a scheduler passes on to its
searcher's observe path (core/schedulers/searcher.py: `Searcher.inherit`): a model-based
searcher fits them, a finite-space searcher does not suggest their configurations again,
and the scheduler's own records (rungs, brackets, populations) are left alone, so an
inherited trial is never stopped, paused or resumed. Inherited trials keep their id
negated, -(id + 1), so they never meet the new run's trials. The new run's results.csv
holds only its own trials; its metadata.json says where the inherited ones came from
(`record`).

Example:
    >>> warm = WarmStart.read("outputs/earlier", metric="loss", space=space)  # doctest: +SKIP
    >>> Tuner(..., warm_start=warm).run()  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simtune.core.domains import Categorical, Domain, Interval
from simtune.core.results import METADATA, RESULTS
from simtune.core.schedulers.base import Scheduler
from simtune.core.space import Space
from simtune.core.trial import Report, Status, Trial


@dataclass
class WarmStart:
    """The trials of the run in `source` with their valid reports, in the order they
    first reported, and the SHA-256 of the results.csv bytes they were read from."""

    source: Path
    trials: list[tuple[Trial, list[Report]]]
    sha256: str

    @classmethod
    def read(cls, run_dir: str | Path, *, metric: str, space: Space | None = None) -> WarmStart:
        """The valid reports of `metric` of the run in `run_dir` (complete or not). With
        `space`, the run must be of that space (the one its metadata.json records, or, if it
        records none, that of its config_ columns); without, of the space it records.
        Anything else is a ValueError of one line: no such directory, not a run, another
        space, no valid report of `metric`."""
        source = Path(run_dir).expanduser().resolve()
        meta = _metadata(source)
        data = (source / RESULTS).read_bytes()
        data = data[: data.rfind(b"\n") + 1]  # whole rows only
        rows = list(csv.reader(data.decode("utf-8").splitlines()))
        header, rows = rows[0] if rows else [], rows[1:]
        space = _space_of(source, meta, header, space)
        if metric not in header[3:]:
            raise ValueError(f"warm_start: {source}/{RESULTS} has no column {metric!r} (its "
                             f"columns: {', '.join(header)}); warm-start from a run that "
                             "reports it")
        trials = _trials(source, header, rows, metric, space)
        if not trials:
            raise ValueError(f"warm_start: {source} holds no valid report of {metric!r}: "
                             "nothing to start from")
        return cls(source, trials, hashlib.sha256(data).hexdigest())

    def feed(self, scheduler: Scheduler) -> None:
        """Hand every trial and its reports to `scheduler` (before its first suggestion)."""
        for trial, reports in self.trials:
            scheduler.inherit(trial, reports)

    def record(self) -> dict[str, Any]:
        """What the new run's metadata.json says of its warm start."""
        return {"source": str(self.source), "n_trials": len(self.trials),
                "n_reports": sum(len(reports) for _, reports in self.trials),
                "results_sha256": self.sha256}


def _metadata(source: Path) -> dict[str, Any]:
    if not source.is_dir():
        what = "is not a directory" if source.exists() else "does not exist"
        raise ValueError(f"warm_start: {source} {what}; name the directory of an earlier run")
    missing = [name for name in (METADATA, RESULTS) if not (source / name).is_file()]
    if missing:
        raise ValueError(f"warm_start: {source} holds no run ({missing[0]} missing); name the "
                         "directory of an earlier run")
    try:
        meta = json.loads((source / METADATA).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"warm_start: {source / METADATA} is unreadable "
                         f"({type(e).__name__})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"warm_start: {source / METADATA} holds no run's metadata")
    return meta


def _space_of(source: Path, meta: dict[str, Any], header: list[str],
              space: Space | None) -> Space:
    """The space of the run in `source`, which must be `space` if given."""
    if isinstance(meta.get("space"), dict):
        recorded = Space.from_dict(meta["space"])
        if space is None or _plain(recorded.to_dict()) == _plain(space.to_dict()):
            return recorded
        names = sorted(set(recorded) ^ set(space)) or [
            n for n in space if recorded[n] != space[n]]
        raise ValueError(f"warm_start: {source} is a run of another space (it differs in "
                         f"{', '.join(names)}); warm-start from a run of this space")
    if space is None:
        raise ValueError(f"warm_start: {source / METADATA} records no space; give the "
                         "space, e.g. WarmStart.read(run_dir, metric=..., space=space)")
    columns = [c[len("config_"):] for c in header if c.startswith("config_")]
    if sorted(columns) != sorted(space):
        raise ValueError(f"warm_start: {source} is a run of another space (hyperparameters "
                         f"{', '.join(columns)}); warm-start from a run of this space")
    return space


def _trials(source: Path, header: list[str], rows: list[list[str]], metric: str,
            space: Space) -> list[tuple[Trial, list[Report]]]:
    """Each trial of `rows` (results.csv) with its reports that have a finite `metric`."""
    at = {name: i for i, name in enumerate(header)}
    fidelity, column = at[header[2]], at[metric]
    found: dict[int, tuple[Trial, list[Report]]] = {}
    for n, row in enumerate(rows, start=2):
        try:
            value = float(row[column]) if row[column] else None
            if value is None or value != value or abs(value) == float("inf"):
                continue  # a failure, or a trial the run's end stopped: nothing observed
            old = int(row[0])
            if old not in found:
                config = _config(space, {name: row[at[f"config_{name}"]] for name in space
                                         if f"config_{name}" in at})
                found[old] = (Trial(-(old + 1), config, status=Status.COMPLETED), [])
            trial, reports = found[old]
            metrics = {m: float(row[i]) for m, i in at.items()
                       if 2 < i < at["decision"] and row[i] != ""}
            last = row[at["status"]] == Status.COMPLETED.value
            reports.append(Report(trial.trial_id, float(row[1]), int(row[fidelity]), metrics,
                                  last))
        except (ValueError, IndexError, KeyError) as e:
            raise ValueError(f"warm_start: {source}/{RESULTS} line {n} is not a row simtune "
                             f"wrote ({type(e).__name__}: {e})") from None
    return list(found.values())


def _config(space: Space, cells: dict[str, str]) -> dict[str, Any]:
    """The configuration of results.csv's config_ `cells` (an empty cell: inactive)."""
    config = {name: _value(space[name], cell) for name, cell in cells.items() if cell != ""}
    space.validate(config)
    return config


def _value(domain: Domain | Any, cell: str) -> Any:
    """The value results.csv wrote as `cell`, of `domain` (or the constant `domain`)."""
    if isinstance(domain, Categorical):
        for category in domain.categories:
            if str(category) == cell:
                return category
        raise ValueError(f"{cell!r} is not one of {domain.categories!r}")
    if isinstance(domain, Interval):
        return int(cell) if domain.integer else float(cell)
    return domain if str(domain) == cell else cell


def _plain(spec: dict[str, Any]) -> Any:
    """`spec` as JSON writes and reads it (tuples as lists)."""
    return json.loads(json.dumps(spec, default=str))
