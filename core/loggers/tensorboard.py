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
import socket
import time
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
        require("tensorboardX", "tensorboard", "tensorboardX")
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary
        from tensorboardX.record_writer import RecordWriter
        from tensorboardX.summary import hparams

        self._Event, self._Summary, self._RecordWriter = Event, Summary, RecordWriter
        self._hparams = hparams
        _, _, self._session_end = hparams({}, {})  # SUCCESS; FAILURE for a failed trial
        self._session_failed = _session_end_failed()
        self._writers: dict[int, Any] = {}  # trial id -> its open event file (RecordWriter)
        self._root: Any = None
        self._described = False  # the HParams experiment is written
        self.logdir = Path()

    def start(self, tuner: Tuner) -> None:
        assert self.directory is not None
        self.logdir = self.directory / SUBDIR
        self._root = self._open(self.logdir)

    def _open(self, where: Path) -> Any:
        """A new event file in `where` (one per process and opening: a resumed trial adds
        one), begun as TensorBoard's readers expect."""
        where.mkdir(parents=True, exist_ok=True)
        name = (f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
                f".{os.getpid()}.{next(_SEGMENTS)}")
        writer = self._RecordWriter(str(where / name))
        writer.write(self._Event(wall_time=time.time(),
                                 file_version="brain.Event:2").SerializeToString())
        return writer

    def _write(self, writer: Any, summary: Any, step: int = 0, wall: float | None = None) -> None:
        event = self._Event(summary=summary, step=step,
                            wall_time=self.time0 if wall is None else wall)
        writer.write(event.SerializeToString())

    def _scalars(self, values: list[tuple[str, float]]) -> Any:
        """A Summary of scalars: (tag, value) pairs."""
        value = self._Summary.Value
        return self._Summary(value=[value(tag=t, simple_value=v) for t, v in values])

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
        if not self._described:  # the table's columns: hyperparameters and metrics
            metrics = getattr(self._results, "metrics", None) or [self.metric]
            experiment, _, _ = self._hparams(config, {m: None for m in metrics})
            self._write(self._root, experiment)
            self._described = True
        if trial.fidelity is None:  # a new trial (a resumed one has its session already)
            self._write(self._trial(trial), _session_start(config),
                        wall=self.stamp(trial.start_time))

    def report(self, trial: Trial, report: Report, decision: Decision, replayed: bool,
               best: float | None) -> None:
        if replayed:
            return
        writer, wall = self._trial(trial), self.stamp(report.time)
        values = [(name, float(v)) for name, v in report.metrics.items() if finite(v)]
        self._write(writer, self._scalars([*values, ("time", float(report.time))]),
                    report.fidelity, wall)  # one event per report
        if best is not None:
            self._write(self._root, self._scalars([(f"best/{self.metric}", float(best))]),
                        self.tuner.n_reports, wall)
        if decision == Decision.PAUSE:  # a paused trial holds no open file
            self._close(trial.trial_id)

    def trial_end(self, trial: Trial, replayed: bool) -> None:
        if not replayed:
            session_end = (self._session_failed if trial.status == Status.FAILED
                           else self._session_end)
            self._write(self._trial(trial), session_end,
                        wall=self.stamp(self.tuner.backend.time() if self.tuner else 0.0))
        self._close(trial.trial_id)

    def _close(self, trial_id: int) -> None:
        writer = self._writers.pop(trial_id, None)
        if writer is not None:
            writer.close()  # to the OS, without an fsync per trial

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


def _plugin_summary(tag: str, **content: Any) -> Any:
    """A Summary of the HParams plugin holding `content` (tensorboardX's protobuf classes)."""
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata

    data = HParamsPluginData(version=0, **content).SerializeToString()
    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="hparams",
                                                                  content=data))
    return Summary(value=[Summary.Value(tag=f"_hparams_/{tag}", metadata=meta)])


def _session_end_failed() -> Any:
    """The HParams session end of a failed trial (tensorboardX's hparams() says success)."""
    from tensorboardX.proto.api_pb2 import Status as SessionStatus
    from tensorboardX.proto.plugin_hparams_pb2 import SessionEndInfo

    return _plugin_summary("session_end_info", session_end_info=SessionEndInfo(
        status=SessionStatus.Value("STATUS_FAILURE")))


def _session_start(config: dict[str, Any]) -> Any:
    """The HParams session start of a trial: its hyperparameters (what tensorboardX's
    hparams() writes, without building the experiment each time)."""
    from tensorboardX.proto.plugin_hparams_pb2 import SessionStartInfo

    info = SessionStartInfo()
    for name, value in config.items():
        if isinstance(value, str):
            info.hparams[name].string_value = value
        elif isinstance(value, bool):
            info.hparams[name].bool_value = value
        else:
            info.hparams[name].number_value = float(value)
    return _plugin_summary("session_start_info", session_start_info=info)


def _hparam(value: Any) -> Any:
    """A configuration value as the HParams plugin takes it: number, bool or string."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)
