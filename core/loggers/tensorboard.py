"""logger=tensorboard: TensorBoard event files of the run, through tensorboardX.

<run dir>/tensorboard/ holds the run-level series `best/<metric>` (the incumbent's value,
core.incumbent, each time it changes; step = reports so far) and the HParams experiment;
<run dir>/tensorboard/trial_<id>/ holds one TensorBoard run per trial: a scalar series per
metric against the fidelity (step), its `time` on the backend's clock, and its
hyperparameters as an HParams session, so the HParams table and parallel-coordinates view
work. Event wall times are the run's start plus the backend's clock: TensorBoard's
"Relative" axis shows a simulated run's virtual time.

    tensorboard --logdir outputs/2026-12-06/10-00-00/tensorboard
"""

from __future__ import annotations

import os
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simtune.core.loggers.base import Logger, finite, require
from simtune.core.trial import Decision, Report, Status, Trial

if TYPE_CHECKING:
    from simtune.core.tuner import Tuner, TuningSummary

SUBDIR = "tensorboard"
_SEGMENTS = count()  # event file names: unique within this process


class TensorBoardLogger(Logger):
    """Writes the run as TensorBoard event files under `directory`/tensorboard (default: the
    run directory). Needs `pip install "simtune[tensorboard]"`.

    Example:
        >>> Tuner(..., results=session.writer, callbacks=[TensorBoardLogger()])  # doctest: +SKIP
    """

    name = "tensorboard"

    def __init__(self, directory: str | Path | None = None) -> None:
        super().__init__(directory)
        self._tbx = require("tensorboardX", "tensorboard", "tensorboardX")
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.summary import hparams, scalar

        self._EventsWriter, self._Event = EventsWriter, Event
        self._hparams, self._scalar = hparams, scalar
        self._writers: dict[int, Any] = {}  # trial id -> its open EventsWriter
        self._root: Any = None
        self._described = False  # the HParams experiment is written
        self._best: float | None = None
        self.logdir = Path()

    def start(self, tuner: Tuner) -> None:
        assert self.directory is not None
        self.logdir = self.directory / SUBDIR
        self._root = self._open(self.logdir)

    def _open(self, where: Path) -> Any:
        where.mkdir(parents=True, exist_ok=True)
        return self._EventsWriter(str(where / "events"), f".{os.getpid()}.{next(_SEGMENTS)}")

    def _write(self, writer: Any, summary: Any, step: int = 0, wall: float | None = None) -> None:
        event = self._Event(summary=summary, step=step,
                            wall_time=self.time0 if wall is None else wall)
        writer.write_event(event)

    def _trial(self, trial: Trial) -> Any:
        writer = self._writers.get(trial.trial_id)
        if writer is None:
            writer = self._writers[trial.trial_id] = self._open(
                self.logdir / f"trial_{trial.trial_id}")
        return writer

    def trial_start(self, trial: Trial) -> None:
        if self.replaying():
            return
        config = {k: _hparam(v) for k, v in trial.config.items()}
        metrics = getattr(self._results, "metrics", None) or [self.metric]
        experiment, session_start, _ = self._hparams(config, {m: None for m in metrics})
        if not self._described:  # the table's columns: hyperparameters and metrics
            self._write(self._root, experiment)
            self._described = True
        if trial.fidelity is None:  # a new trial (a resumed one has its session already)
            self._write(self._trial(trial), session_start, wall=self.stamp(trial.start_time))

    def report(self, trial: Trial, report: Report, decision: Decision, replayed: bool) -> None:
        tuner = self.tuner
        assert tuner is not None
        best = tuner.incumbent.value
        if replayed:
            self._best = best
            return
        writer, wall = self._trial(trial), self.stamp(report.time)
        for name, value in report.metrics.items():
            if finite(value):
                self._write(writer, self._scalar(name, float(value)), report.fidelity, wall)
        self._write(writer, self._scalar("time", float(report.time)), report.fidelity, wall)
        if best is not None and best != self._best:
            self._best = best
            self._write(self._root, self._scalar(f"best/{self.metric}", float(best)),
                        tuner.n_reports, wall)
        if decision == Decision.PAUSE:  # a paused trial holds no open file
            self._close(trial.trial_id)

    def trial_end(self, trial: Trial, replayed: bool) -> None:
        if not replayed:
            _, _, session_end = self._hparams({}, {})
            if trial.status == Status.FAILED:
                session_end = self._session_end_failed()
            self._write(self._trial(trial), session_end,
                        wall=self.stamp(self.tuner.backend.time() if self.tuner else 0.0))
        self._close(trial.trial_id)

    def _session_end_failed(self) -> Any:
        from tensorboardX.proto.api_pb2 import Status as SessionStatus
        from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData, SessionEndInfo
        from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata

        content = HParamsPluginData(session_end_info=SessionEndInfo(
            status=SessionStatus.Value("STATUS_FAILURE")), version=0)
        meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
            plugin_name="hparams", content=content.SerializeToString()))
        return Summary(value=[Summary.Value(tag="_hparams_/session_end_info", metadata=meta)])

    def _close(self, trial_id: int) -> None:
        writer = self._writers.pop(trial_id, None)
        if writer is not None:
            writer.close()

    def end(self, summary: TuningSummary) -> None:
        for trial_id in list(self._writers):
            self._close(trial_id)
        if self._root is not None:
            self._root.close()
            self._root = None

    def on_wait(self) -> None:  # real backends: what the running trials said reaches disk
        if not self.disabled:
            self._guard(self._flush)

    def _flush(self) -> None:
        for writer in (self._root, *self._writers.values()):
            if writer is not None:
                writer.flush()


def _hparam(value: Any) -> Any:
    """A configuration value as the HParams plugin takes it: number, bool or string."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)
