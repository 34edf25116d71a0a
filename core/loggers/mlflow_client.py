"""MLflow runs written through MLflow's client: any tracking URI (a server, a file store,
a database of another schema), one call per run and batch.

The same calls as core.loggers.mlflow_sqlite.SqliteRuns, which writes the default
SQLite database many runs per transaction; this one is the general way, and the slow one
(about 30 ms per trial on a local SQLite file, each call its own transaction).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ClientRuns:
    """The runs of experiment `experiment` (created if missing) at `tracking_uri`."""

    def __init__(self, tracking_uri: str, experiment: str) -> None:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient

        self._Metric, self._Param, self._Tag = Metric, Param, RunTag
        self.client: Any = MlflowClient(tracking_uri=tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = (found.experiment_id if found is not None
                              else self.client.create_experiment(experiment))

    def run_with_tag(self, key: str, value: str) -> str | None:
        """The id of this experiment's first run with tag `key` = `value`."""
        found = self.client.search_runs([self.experiment_id],
                                        filter_string=f"tags.`{key}` = '{value}'",
                                        max_results=1, order_by=["attributes.start_time ASC"])
        return found[0].info.run_id if found else None

    def tag_of_runs_with_tag(self, key: str, value: str, wanted: str) -> dict[str, str]:
        """Run id -> its tag `wanted`, for this experiment's runs with tag `key` = `value`."""
        out, token = {}, None
        while True:
            page = self.client.search_runs([self.experiment_id], max_results=1000,
                                           page_token=token,
                                           filter_string=f"tags.`{key}` = '{value}'")
            for run in page:
                if wanted in run.data.tags:
                    out[run.info.run_id] = run.data.tags[wanted]
            token = page.token
            if not token:
                return out

    def create_run(self, name: str, start_ms: int, tags: dict[str, str]) -> str:
        """A new RUNNING run; its id."""
        return self.client.create_run(self.experiment_id, run_name=name, start_time=start_ms,
                                      tags=tags).info.run_id

    def log(self, run_id: str, metrics: Iterable[tuple[str, float, int, int]] = (),
            params: dict[str, str] | None = None, tags: dict[str, str] | None = None) -> None:
        """`metrics`: (key, value, timestamp ms, step); one log_batch."""
        self.client.log_batch(
            run_id, metrics=[self._Metric(k, v, t, s) for k, v, t, s in metrics],
            params=[self._Param(k, v) for k, v in (params or {}).items()],
            tags=[self._Tag(k, v) for k, v in (tags or {}).items()])

    def terminate(self, run_id: str, status: str, end_ms: int) -> None:
        self.client.set_terminated(run_id, status, end_time=end_ms)

    def write(self) -> None:
        """Nothing: every call above is written when made."""

    def commit(self) -> None:
        """Nothing: every call above is written when made."""

    def close(self) -> None:
        """Nothing to close."""
