"""logger=wandb: one Weights & Biases run per trial, grouped by the tuning run.

A trial's W&B run (id `<group>-<trial id>`, name `trial_<id>`, group `simtune-<run dir
name, cut to 32 characters>-<hash of its path>`) has the configuration as its config and
logs the metrics and `time` (the backend's clock: a simulated run's virtual time) with
step = fidelity; its summary holds `status` and `decision`, and `error` for a failed
trial. The runs go to <run dir>/wandb; `WANDB_MODE=offline` (or mode="offline") needs no account:

    WANDB_MODE=offline python experiments/run.py logger=wandb ...
    wandb sync outputs/2026-12-06/10-00-00/wandb/offline-run-*

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
        self._runs: dict[int, Any] = {}  # trial id -> its open W&B run
        self._decisions: dict[int, str] = {}

    def start(self, tuner: Tuner) -> None:
        assert self.directory is not None
        where = str(self.directory.resolve())
        digest = hashlib.sha256(where.encode()).hexdigest()[:8]
        name = "".join(c if c.isalnum() else "-" for c in self.directory.name)[:32]
        self.group = f"simtune-{name}-{digest}"

    def _open(self, trial: Trial) -> Any:
        run = self._runs.get(trial.trial_id)
        if run is None:
            wandb = self._wandb
            assert self.directory is not None
            self.directory.mkdir(parents=True, exist_ok=True)
            run = self._runs[trial.trial_id] = wandb.init(
                project=self.project, group=self.group, name=f"trial_{trial.trial_id}",
                id=f"{self.group}-{trial.trial_id}", dir=str(self.directory),
                config=dict(trial.config), mode=self.mode, resume="allow",
                reinit="create_new",
                settings=wandb.Settings(silent=True, console="off", x_disable_stats=True,
                                        x_save_requirements=False, disable_git=True,
                                        save_code=False))
        return run

    def trial_start(self, trial: Trial) -> None:
        if not self.replaying():
            self._open(trial)

    def report(self, trial: Trial, report: Report, decision: Decision, replayed: bool,
               best: float | None) -> None:
        if replayed:
            return
        run = self._open(trial)
        values = {k: float(v) for k, v in report.metrics.items() if finite(v)}
        values["time"] = float(report.time)
        run.log(values, step=report.fidelity)
        self._decisions[trial.trial_id] = decision.value
        if decision == Decision.PAUSE:
            self._finish(trial.trial_id, "paused")

    def _finish(self, trial_id: int, status: str, error: str | None = None) -> None:
        run = self._runs.pop(trial_id, None)
        if run is None:
            return
        run.summary["status"] = status
        if trial_id in self._decisions:
            run.summary["decision"] = self._decisions[trial_id]
        if error:
            run.summary["error"] = error[:5000]
        run.finish(exit_code=1 if status == Status.FAILED.value else 0)

    def trial_end(self, trial: Trial, replayed: bool) -> None:
        if replayed:
            return
        if trial.trial_id not in self._runs:  # failed before its first report: say so
            self._open(trial)
        self._finish(trial.trial_id, trial.status.value, trial.extra.get("error"))

    def end(self, summary: TuningSummary) -> None:
        tuner = self.tuner
        for trial_id in list(self._runs):
            trial = tuner.trials.get(trial_id) if tuner is not None else None
            self._finish(trial_id, trial.status.value if trial is not None else "running")
