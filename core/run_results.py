"""One run's results as a pandas DataFrame, and its best configuration.

Example:
    >>> run = load_run("outputs/2026-12-01/10-00-00")  # doctest: +SKIP
    >>> run.best()  # doctest: +SKIP
    Best(trial_id=12, value=0.931, fidelity=50, config={'lr': 0.01, ...}, rule='any report')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.rundir import METADATA, RESULTS


@dataclass
class Best:
    """The best trial of a run under `rule`, its value of the metric and its config."""

    trial_id: int
    value: float
    fidelity: int | None
    config: dict[str, Any]
    rule: str


@dataclass
class RunResults:
    """results.csv as a DataFrame (`rows`) and metadata.json (`metadata`) of one run."""

    rows: Any  # pandas.DataFrame, one row per report in time order
    metadata: dict[str, Any]

    @property
    def metric(self) -> str:
        return self.metadata["metric"]

    @property
    def mode(self) -> str:
        return self.metadata["mode"]

    @property
    def complete(self) -> bool:
        return self.metadata.get("complete") is True

    def configs(self) -> dict[int, dict[str, Any]]:
        """Trial id -> its configuration (the config_<name> columns, names without prefix)."""
        cols = [c for c in self.rows.columns if c.startswith("config_")]
        first = self.rows.drop_duplicates("trial_id").set_index("trial_id")[cols]
        return {int(tid): {c[len("config_"):]: _plain(v) for c, v in row.items()}
                for tid, row in first.iterrows()}

    def best(self, per_trial: str = "any", metric: str | None = None,
             mode: str | None = None) -> Best | None:
        """The best trial by the run's metric and mode (or the given ones).

        per_trial="any": a trial counts with its best value in any report (what the
        Tuner's summary reports); "last": with its last report only (the model as it
        ended, e.g. after early stopping). None if no report has the metric.
        """
        if per_trial not in ("any", "last"):
            raise ValueError(f"per_trial must be 'any' or 'last', got {per_trial!r}")
        metric, mode = metric or self.metric, mode or self.mode
        if metric not in self.rows.columns:
            raise ValueError(f"the run has no metric {metric!r}; columns: "
                             f"{', '.join(self.rows.columns)}")
        rows = self.rows[self.rows[metric].notna()]
        if per_trial == "last":
            rows = rows.groupby("trial_id", sort=False).tail(1)
        if rows.empty:
            return None
        i = rows[metric].idxmin() if mode == "min" else rows[metric].idxmax()
        row = rows.loc[i]
        trial_id = int(row["trial_id"])
        fidelity_name = self.metadata.get("fidelity_name")
        fidelity = row.get(fidelity_name) if fidelity_name else None
        return Best(
            trial_id=trial_id,
            value=float(row[metric]),
            fidelity=None if fidelity is None or fidelity != fidelity else int(fidelity),
            config=self.configs()[trial_id],
            rule="any report" if per_trial == "any" else "last report of each trial",
        )


def load_run(directory: str | Path) -> RunResults:
    """The results of the run in `directory`; one line if it holds none."""
    import pandas as pd

    directory = Path(directory)
    try:
        metadata = json.loads((directory / METADATA).read_text(encoding="utf-8"))
        rows = pd.read_csv(directory / RESULTS)
    except FileNotFoundError as e:
        raise ValueError(f"{directory} holds no run ({Path(e.filename).name} missing)") from None
    except (UnicodeDecodeError, json.JSONDecodeError, pd.errors.ParserError) as e:
        raise ValueError(f"{directory}: unreadable run files ({type(e).__name__})") from None
    return RunResults(rows=rows, metadata=metadata)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
