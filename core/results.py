"""Append-only results store: results.csv (one row per report) and metadata.json."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = "results.csv"
METADATA = "metadata.json"


class ResultsWriter:
    """Writes one CSV row per report, flushed as it goes, plus the run's metadata.

    Columns: trial_id, time, <fidelity>, <metrics...>, decision, status, config_<hp>...
    A crash loses nothing already written: every row is handed to the OS at once.

    Example:
        >>> w = ResultsWriter("out", fidelity="epoch", metrics=["loss"], hyperparameters=["lr"])
        >>> w.write(0, 1.5, 1, {"loss": 0.3}, "continue", "running", {"lr": 0.1})
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        fidelity: str,
        metrics: Sequence[str],
        hyperparameters: Sequence[str],
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.metrics = list(metrics)
        self.hyperparameters = list(hyperparameters)
        reserved = {"trial_id", "time", "decision", "status", fidelity}
        clash = reserved & set(self.metrics)
        if clash:
            raise ValueError(
                f"metric names {sorted(clash)} clash with result columns {sorted(reserved)}"
            )
        self.columns = [
            "trial_id",
            "time",
            fidelity,
            *self.metrics,
            "decision",
            "status",
            *(f"config_{h}" for h in self.hyperparameters),
        ]
        self.metadata: dict[str, Any] = {**(metadata or {}), "complete": False}
        self.n_rows = 0
        self._write_metadata()
        self._file = open(self.directory / RESULTS, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._csv = csv.writer(self._file, lineterminator="\n")
        self._csv.writerow(self.columns)
        self._file.flush()

    def write(
        self,
        trial_id: int,
        time: float,
        fidelity: int | None,
        metrics: dict[str, Any],
        decision: str,
        status: str,
        config: dict[str, Any],
    ) -> None:
        """Append one row (missing metrics stay empty)."""
        get = metrics.get
        self._csv.writerow(
            [
                trial_id,
                time,
                fidelity,
                *[get(m) for m in self.metrics],
                decision,
                status,
                *[config.get(h) for h in self.hyperparameters],
            ]
        )
        self._file.flush()
        self.n_rows += 1

    def close(self, **final: Any) -> None:
        """Flush, close, and mark the run complete in metadata.json with `final` facts."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        self.metadata.update(final)
        self.metadata["complete"] = True
        self._write_metadata()

    def _write_metadata(self) -> None:
        path = self.directory / METADATA
        tmp = path.with_name(METADATA + ".partial")
        tmp.write_text(json.dumps(self.metadata, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(path)
