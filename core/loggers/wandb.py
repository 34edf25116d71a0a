"""logger=wandb: one Weights & Biases run per trial, grouped by the tuning run.

A trial's W&B run (id `<group>-<trial id>`, name `trial_<id>`, group `simtune-<run dir
name, cut to 32 characters>-<hash of its path>`) has the configuration as its config and
logs the metrics and `time` (the backend's clock: a simulated run's virtual time) with
step = fidelity; its summary holds `status` and `decision`, and `error` for a failed
trial. The runs go to <run dir>/wandb; `WANDB_MODE=offline` (or mode="offline") needs no account:

    WANDB_MODE=offline python experiments/run.py logger=wandb ...
    wandb sync outputs/2026-12-06/10-00-00/wandb/offline-run-*

The loop keeps a trial's rows in memory; the writer thread (core.loggers.writer) writes
its W&B run (init, the rows, the summary, finish) when the trial ends or pauses, and, for
trials still running, opens the run and logs the new rows every `flush_every` real seconds.
A paused trial's run is finished and resumed (same id) when the trial resumes: offline,
each resume is one more offline-run directory of that id, which `wandb sync` joins.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simtune.core.loggers.base import Logger, finite, require
from simtune.core.trial import Decision, Report, Status, Trial

if TYPE_CHECKING:
    from simtune.core.tuner import Tuner, TuningSummary


class WandbLogger(Logger):
    """Writes each trial as a W&B run of `project` into `directory`/wandb (default: the run
    directory); `mode`: W&B's mode (None: WANDB_MODE, else online). Needs
    `pip install "simtune[wandb]"`.

    Example:
        >>> WandbLogger(project="digits", mode="offline")  # doctest: +SKIP
    """

    name = "wandb"

    def __init__(self, directory: str | Path | None = None, *, project: str = "simtune",
                 mode: str | None = None) -> None:
        super().__init__(directory)
        self._wandb = require("wandb", "wandb", "wandb")
        self.project, self.mode = project, mode
        self.group = ""
        self._rows: dict[int, list[tuple[dict[str, float], Any]]] = {}  # not yet sent
        self._decisions: dict[int, str] = {}
        self._settings: Any = None
        self._open_runs: dict[int, Any] = {}  # the writer's: trial id -> its open W&B run

    def start(self, tuner: Tuner) -> None:
        assert self.directory is not None
        where = str(self.directory.resolve())
        digest = hashlib.sha256(where.encode()).hexdigest()[:8]
        name = "".join(c if c.isalnum() else "-" for c in self.directory.name)[:32]
        self.group = f"simtune-{name}-{digest}"
        self._settings = self._wandb.Settings(
            silent=True, console="off", x_disable_stats=True, x_save_requirements=False,
            disable_git=True, save_code=False)

    def trial_start(self, trial: Trial) -> None:
        if not self.replaying():
            self._rows.setdefault(trial.trial_id, [])

    def report(self, trial: Trial, report: Report, decision: Decision, replayed: bool,
               best: float | None) -> None:
        if replayed:
            return
        values = {k: float(v) for k, v in report.metrics.items() if finite(v)}
        values["time"] = float(report.time)
        self._rows.setdefault(trial.trial_id, []).append((values, report.fidelity))
        self._decisions[trial.trial_id] = decision.value
        if decision == Decision.PAUSE:
            self._send(trial, "paused")

    def trial_end(self, trial: Trial, replayed: bool) -> None:
        if not replayed:  # a trial that failed before its first report gets its run too
            self._send(trial, trial.status.value, trial.extra.get("error"))

    def _send(self, trial: Trial, status: str | None, error: str | None = None) -> None:
        """Submit `trial`'s new rows; `status`: finish its run with this status."""
        rows = self._rows.pop(trial.trial_id, [])
        if status is None and not rows:
            return
        self.submit(self._write, trial.trial_id, dict(trial.config), rows, status,
                    self._decisions.get(trial.trial_id), error)

    def flush(self) -> None:
        tuner = self.tuner
        for trial_id in list(self._rows):
            if tuner is not None and trial_id in tuner.trials:
                self._send(tuner.trials[trial_id], None)

    def end(self, summary: TuningSummary) -> None:
        tuner = self.tuner
        for trial_id in list(self._rows):  # trials left running (the run was cut short)
            trial = tuner.trials.get(trial_id) if tuner is not None else None
            if trial is not None:
                self._send(trial, _left(trial))
        self.submit(self._finish_open, tuner)

    # the writer thread
    def _write(self, trial_id: int, config: dict[str, Any], rows: list[tuple], status: str | None,
               decision: str | None, error: str | None) -> None:
        run = self._open_runs.get(trial_id)
        if run is None:
            assert self.directory is not None
            self.directory.mkdir(parents=True, exist_ok=True)
            run = self._open_runs[trial_id] = self._wandb.init(
                project=self.project, group=self.group, name=f"trial_{trial_id}",
                id=f"{self.group}-{trial_id}", dir=str(self.directory), config=config,
                mode=self.mode, resume="allow", reinit="create_new", settings=self._settings)
        for values, step in rows:
            run.log(values, step=step)
        if status is not None:
            self._finish(trial_id, status, decision, error)

    def _finish(self, trial_id: int, status: str, decision: str | None = None,
                error: str | None = None) -> None:
        run = self._open_runs.pop(trial_id, None)
        if run is None:
            return
        run.summary["status"] = status
        if decision:
            run.summary["decision"] = decision
        if error:
            run.summary["error"] = error[:5000]
        run.finish(exit_code=1 if status == Status.FAILED.value else 0)

    def _finish_open(self, tuner: Tuner | None) -> None:
        """Runs flushed while their trials ran and not finished since: say how they stand."""
        for trial_id in list(self._open_runs):
            trial = tuner.trials.get(trial_id) if tuner is not None else None
            self._finish(trial_id, "running" if trial is None else _left(trial),
                         self._decisions.get(trial_id))


def _left(trial: Trial) -> str:
    """The status of a trial the run left unfinished: paused, or running (cut short)."""
    return "paused" if trial.status == Status.PAUSED else "running"
