"""One run's results as a pandas DataFrame, and its best configuration.

Example:
    >>> run = load_run("outputs/2026-12-01/10-00-00")  # doctest: +SKIP
    >>> run.best()  # doctest: +SKIP
    Best(trial_id=12, value=0.931, fidelity=50, config={'lr': 0.01, ...}, rule='incumbent: ...',
         checkpoint=PosixPath('outputs/2026-12-01/10-00-00/trials/trial_12/checkpoints'))
    >>> run.trials()  # doctest: +SKIP  (one row per trial: status, checkpoint, error)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simtune.core.constraints import feasible_rows
from simtune.core.incumbent import incumbent
from simtune.core.rundir import METADATA, RESULTS, TRIALS

RULES = {  # RunResults.best's rules -> how Best.rule says them
    "incumbent": "incumbent: best value at the highest fidelity reached",
    "any": "any report",
    "last": "last report of each trial",
}


@dataclass
class Best:
    """The best trial of a run under `rule`, its value of the metric and its config."""

    trial_id: int
    value: float
    fidelity: int | None
    config: dict[str, Any]
    rule: str
    checkpoint: Path | None = None  # its checkpoint directory (None: the backend keeps none)


@dataclass
class RunResults:
    """results.csv as a DataFrame (`rows`) and metadata.json (`metadata`) of one run."""

    rows: Any  # pandas.DataFrame, one row per report in time order
    metadata: dict[str, Any]
    directory: Path | None = None  # the run directory (load_run sets it)

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
        """Trial id -> its configuration (the config_<name> columns, names without prefix;
        a conditional run's empty cells, its inactive hyperparameters, left out)."""
        cols = [c for c in self.rows.columns if c.startswith("config_")]
        first = self.rows.drop_duplicates("trial_id").set_index("trial_id")[cols]
        conditional = _conditional_domains(self.metadata.get("space"))
        if not conditional:
            return {int(tid): {c[len("config_"):]: _plain(v) for c, v in row.items()}
                    for tid, row in first.iterrows()}
        out = {}
        for tid, row in first.iterrows():
            names = ((c[len("config_"):], v) for c, v in row.items())
            out[int(tid)] = {n: _typed(_plain(v), conditional.get(n)) for n, v in names
                             if n not in conditional or v == v}  # NaN: an empty cell
        return out

    def best(self, rule: str = "incumbent", metric: str | None = None,
             mode: str | None = None) -> Best | None:
        """The best trial by the run's metric and mode (or the given ones), under `rule`:

        - "incumbent": the run's one definition (core.incumbent): among the reports at
          the highest fidelity any trial reached, the best value; metadata.json's `best`,
          the Tuner's summary and status line, and run.png's star say the same.
        - "any": a trial counts with its best value in any report, at any fidelity.
        - "last": with its last report only (the model as it ended).

        In a run with outcome constraints (metadata.json "constraints") only feasible
        reports count. None if no report has the metric (or none is feasible).
        """
        if rule not in RULES:
            raise ValueError(f"rule must be one of {', '.join(RULES)}; got {rule!r}")
        metric, mode = metric or self.metric, mode or self.mode
        if metric not in self.rows.columns:
            raise ValueError(f"the run has no metric {metric!r}; columns: "
                             f"{', '.join(self.rows.columns)}")
        rows = self.rows[self.rows[metric].notna()]
        constraints = self.metadata.get("constraints") or ()
        if constraints:
            rows = rows[feasible_rows(rows, constraints)]
        if rule == "last":
            rows = rows.groupby("trial_id", sort=False).tail(1)
        fidelity_name = self.metadata.get("fidelity_name")
        row = incumbent(rows, metric, mode, fidelity_name if rule == "incumbent" else None)
        if row is None:
            return None
        trial_id = int(row["trial_id"])
        fidelity = row.get(fidelity_name) if fidelity_name else None
        return Best(
            trial_id=trial_id,
            value=float(row[metric]),
            fidelity=None if fidelity is None or fidelity != fidelity else int(fidelity),
            config=self.configs()[trial_id],
            rule=RULES[rule],
            checkpoint=self.checkpoint(trial_id),
        )

    def checkpoint(self, trial_id: int) -> Path | None:
        """The checkpoint directory of `trial_id` (<run dir>/trials/trial_<id>/checkpoints),
        None if it has none: the simulated backend keeps none, a trial may save none, and
        SageMaker's are in S3."""
        if self.directory is None:
            return None
        path = self.directory / TRIALS / f"trial_{trial_id}" / "checkpoints"
        return path if path.is_dir() and any(path.iterdir()) else None

    def error(self, trial_id: int) -> str | None:
        """Why `trial_id` failed (the reason the run logged), None if it did not fail."""
        return (self.metadata.get("errors") or {}).get(str(trial_id))

    def trials(self) -> Any:
        """One row per trial (a DataFrame indexed by trial_id): its last status and
        fidelity, its checkpoint directory and its error text (None where it has none)."""
        fidelity = self.metadata.get("fidelity_name")
        last = self.rows.groupby("trial_id").tail(1).set_index("trial_id").sort_index()
        out = last[["status"]].copy()
        if fidelity and fidelity in self.rows.columns:  # its highest fidelity reported
            out["fidelity"] = self.rows.groupby("trial_id")[fidelity].max()
        import pandas as pd

        for name, get in (("checkpoint", self.checkpoint), ("error", self.error)):
            out[name] = pd.Series([get(int(t)) for t in out.index], index=out.index,
                                  dtype=object)  # None stays None
        return out


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
    return RunResults(rows=rows, metadata=metadata, directory=directory)


def _conditional_domains(spec: Any) -> dict[str, Any]:
    """The conditional hyperparameters of a run's space (metadata.json) -> their domains."""
    if not isinstance(spec, dict) or not any(
            isinstance(d, dict) and "condition" in d for d in spec.values()):
        return {}
    from simtune.core.space import Space

    try:
        space = Space.from_dict(spec)
    except (TypeError, ValueError, KeyError):
        return {}
    return {n: space[n] for n in space.conditions}


def _typed(value: Any, domain: Any) -> Any:
    """`value` of a column that had empty cells (pandas read it as float) as the domain's
    own value: an integer, or the category it equals."""
    from simtune.core.domains import Categorical, Interval

    if isinstance(domain, Interval) and domain.integer and float(value).is_integer():
        return int(value)
    if isinstance(domain, Categorical):
        return next((c for c in domain.categories if c == value), value)
    return value


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
