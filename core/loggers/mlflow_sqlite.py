"""MLflow runs written straight into an MLflow SQLite tracking database, many per transaction.

MLflow's client writes one call at a time, each its own transaction (on SQLite, a sync to
disk): about 30 ms per trial here, a minute for a simulated run of 2,000 trials that takes
0.4 s itself. `SqliteRuns` takes the same rows (runs, tags, params, metrics, latest_metrics)
for a whole batch of trials and inserts them with sqlite3's executemany in one transaction,
which `mlflow ui` and MlflowClient then read as their own. The columns written are checked
against the database when it is opened: a schema this writer does not know is one line
naming `logger.mlflow.tracking_uri` as the way round (MLflow's client writes any schema).

A new database is a copy of an empty one that MLflow's own migrations built, once per
MLflow version, in <cache>/mlflow/ (building costs about 2 s, copying 1 ms).
"""

from __future__ import annotations

import getpass
import logging
import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

# what this writer writes: table -> columns (MLflow's names; checked against the database)
WRITES = {
    "experiments": ("experiment_id", "name", "artifact_location", "lifecycle_stage",
                    "creation_time", "last_update_time"),
    "runs": ("run_uuid", "name", "source_type", "source_name", "entry_point_name", "user_id",
             "status", "start_time", "end_time", "source_version", "lifecycle_stage",
             "artifact_uri", "experiment_id"),
    "tags": ("key", "value", "run_uuid"),
    "params": ("key", "value", "run_uuid"),
    "metrics": ("key", "value", "timestamp", "step", "is_nan", "run_uuid"),
    "latest_metrics": ("key", "value", "timestamp", "step", "is_nan", "run_uuid"),
}
RUN_NAME_TAG = "mlflow.runName"


def _insert(table: str, how: str = "INSERT") -> str:
    """The statement inserting one row of `table`'s WRITES columns, in their order."""
    columns = WRITES[table]
    return f"{how} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


INSERTS = {  # rows are tuples in WRITES' order; a tag is replaced, a repeated point ignored
    "runs": _insert("runs"),
    "tags": _insert("tags", "INSERT OR REPLACE"),
    "params": _insert("params", "INSERT OR IGNORE"),
    "metrics": _insert("metrics", "INSERT OR IGNORE"),
}
# the newest point by (step, timestamp, value), as MLflow's store keeps it
UPSERT_LATEST = (_insert("latest_metrics") + " ON CONFLICT (key, run_uuid) DO UPDATE SET "
                 "value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, "
                 "is_nan = excluded.is_nan WHERE (excluded.step, excluded.timestamp, "
                 "excluded.value) > (step, timestamp, value)")


class SchemaMismatch(ValueError):
    """The database's tables are not the ones this writer writes."""


def template() -> Path:
    """An empty MLflow tracking database of the installed MLflow, built by MLflow itself:
    cached per MLflow version in <cache>/mlflow/ (in the temporary directory if the cache
    cannot be written)."""
    import mlflow

    from simtune.blackboxes.cache import cache_dir

    name = f"empty-{mlflow.__version__}.db"
    try:
        return _built(cache_dir() / "mlflow" / name)
    except OSError:
        return _built(Path(tempfile.gettempdir()) / f"simtune-mlflow-{os.getuid()}" / name)


def _built(path: Path) -> Path:
    """`path`, an empty MLflow database built by MLflow's own migrations if not there yet."""
    from mlflow.tracking import MlflowClient

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".building-", suffix=".db")
    os.close(fd)
    os.unlink(tmp)
    quiet = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [q.level for q in quiet]
    try:
        for q in quiet:  # "Creating initial MLflow database tables...": not the user's news
            q.setLevel(logging.WARNING)
        MlflowClient(tracking_uri=f"sqlite:///{tmp}").search_experiments()  # migrates
        os.replace(tmp, path)  # another process building it at once is harmless
    finally:
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def revision(path: Path) -> str | None:
    """The schema revision (alembic) of the MLflow database at `path`."""
    with closing(sqlite3.connect(path)) as db:
        try:
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError:  # not an MLflow database, or not a database
            return None
    return row[0] if row else None


def writable(path: Path) -> bool:
    """True if `path` is no file yet, or an MLflow database of the installed MLflow's schema."""
    return not path.exists() or revision(path) == revision(template())


class SqliteRuns:
    """The MLflow database at `path` (created from `template()` if missing), experiment
    `experiment` (created if missing; artifacts under `artifacts`). Rows are buffered,
    inserted by `write()` and made visible by `commit()`; one thread only."""

    def __init__(self, path: Path, experiment: str, artifacts: Path) -> None:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(template(), path)
        self.path = path
        self.db = sqlite3.connect(path)
        # while the run writes: a commit appends to the write-ahead log without a sync to
        # disk (a crash of the machine may lose the newest commits, never the file);
        # close() folds the log back into mlflow.db
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self._check()
        self._artifacts = artifacts.resolve().as_uri()
        self.experiment_id, self._location = self._experiment(experiment)
        try:
            self.user = getpass.getuser()
        except Exception:  # no user name (a container with an unknown uid)
            self.user = "unknown"
        self._rows: dict[str, list[tuple]] = {}
        self._latest: dict[tuple[str, str], tuple] = {}  # (run, key) -> newest point
        self._changed: set[tuple[str, str]] = set()  # its newest point is not written yet
        self._ends: list[tuple] = []

    def _check(self) -> None:
        for table, columns in WRITES.items():
            info = self.db.execute(f"PRAGMA table_info({table})").fetchall()
            have = {row[1] for row in info}
            required = {row[1] for row in info if row[3] and row[4] is None and not row[5]}
            missing, unknown = set(columns) - have, required - set(columns)
            if missing or unknown:
                what = (f"lacks the columns {sorted(missing)}" if missing else
                        f"requires the columns {sorted(unknown)}")
                self.db.close()
                raise SchemaMismatch(f"{self.path}: MLflow's table {table} {what}, which "
                                     "simtune's SQLite writer does not know")

    def _experiment(self, name: str) -> tuple[int, str]:
        """The experiment `name` (created if missing): its id and artifact location."""
        found = self.db.execute("SELECT experiment_id, lifecycle_stage, artifact_location "
                                "FROM experiments WHERE name = ?", (name,)).fetchone()
        if found is not None:
            if found[1] != "active":
                self.db.close()
                raise ValueError(f"MLflow experiment {name!r} in {self.path} is deleted; restore "
                                 "it or choose another with logger.mlflow.experiment=...")
            return int(found[0]), found[2] or f"{self._artifacts}/{found[0]}"
        now = _now_ms()
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO experiments (name, lifecycle_stage, creation_time, last_update_time)"
                " VALUES (?, 'active', ?, ?)", (name, now, now))
            eid = int(cursor.lastrowid)
            self.db.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
                            (f"{self._artifacts}/{eid}", eid))
        return eid, f"{self._artifacts}/{eid}"

    # reading (a resumed run continues its runs)
    def run_with_tag(self, key: str, value: str) -> str | None:
        """The id of this experiment's first run with tag `key` = `value`."""
        row = self.db.execute(
            "SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
            "WHERE r.experiment_id = ? AND t.key = ? AND t.value = ? ORDER BY r.start_time "
            "LIMIT 1", (self.experiment_id, key, value)).fetchone()
        return None if row is None else row[0]

    def tag_of_runs_with_tag(self, key: str, value: str, wanted: str) -> dict[str, str]:
        """Run id -> its tag `wanted`, for this experiment's runs with tag `key` = `value`."""
        return dict(self.db.execute(
            "SELECT t.run_uuid, w.value FROM tags t JOIN tags w ON w.run_uuid = t.run_uuid "
            "JOIN runs r ON r.run_uuid = t.run_uuid WHERE r.experiment_id = ? AND t.key = ? "
            "AND t.value = ? AND w.key = ?", (self.experiment_id, key, value, wanted)))

    # writing: buffered until commit()
    def create_run(self, name: str, start_ms: int, tags: dict[str, str]) -> str:
        """A new RUNNING run; its id."""
        run_id = uuid.uuid4().hex
        self._add("runs", (run_id, name, "UNKNOWN", "", "", self.user, "RUNNING", start_ms,
                           None, "", "active", f"{self._location}/{run_id}/artifacts",
                           self.experiment_id))
        self.log(run_id, tags={RUN_NAME_TAG: name, **tags})
        return run_id

    def log(self, run_id: str, metrics: Iterable[tuple[str, float, int, int]] = (),
            params: dict[str, str] | None = None, tags: dict[str, str] | None = None) -> None:
        """`metrics`: (key, value, timestamp ms, step); finite values only."""
        for key, value in (params or {}).items():
            self._add("params", (key, value, run_id))
        for key, value in (tags or {}).items():
            self._add("tags", (key, value, run_id))
        latest, changed = self._latest, self._changed
        for key, value, stamp, step in metrics:
            self._add("metrics", (key, value, stamp, step, 0, run_id))
            point = (step, stamp, value)
            old = latest.get((run_id, key))
            if old is None or point > old:
                latest[(run_id, key)] = point
                changed.add((run_id, key))

    def terminate(self, run_id: str, status: str, end_ms: int) -> None:
        self._ends.append((status, end_ms, run_id))

    def _add(self, table: str, row: tuple) -> None:
        rows = self._rows.get(table)
        if rows is None:
            rows = self._rows[table] = []
        rows.append(row)

    def write(self) -> None:
        """Insert the buffered rows, in the open transaction (readers see them at commit)."""
        rows, self._rows = self._rows, {}
        ends, self._ends = self._ends, []
        changed, self._changed = self._changed, set()
        if not rows and not ends and not changed:
            return
        latest = [(key, value, stamp, step, 0, run_id) for run_id, key in sorted(changed)
                  for step, stamp, value in (self._latest[(run_id, key)],)]
        run = self.db.executemany
        for table, statement in INSERTS.items():
            run(statement, rows.get(table, ()))
        run(UPSERT_LATEST, latest)
        run("UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?", ends)

    def commit(self) -> None:
        """Insert the buffered rows and commit: MLflow's readers see them."""
        self.write()
        self.db.commit()

    def close(self) -> None:
        """Commit, and leave mlflow.db alone (no write-ahead log beside it, unless a reader,
        such as `mlflow ui`, has it open: then the log stays, and SQLite reads it)."""
        self.commit()
        try:
            self.db.execute("PRAGMA busy_timeout = 200")  # not SQLite's 5 s for a reader
            self.db.execute("PRAGMA journal_mode = DELETE")
        except sqlite3.OperationalError:  # "database is locked": a reader holds it
            pass
        self.db.close()


def _now_ms() -> int:
    return int(time.time() * 1000)
