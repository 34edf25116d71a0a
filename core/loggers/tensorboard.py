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
_HOST = socket.gethostname()


class TensorBoardLogger(Logger):
    """Writes the run as TensorBoard event files under `directory`/tensorboard (default: the
    run directory). Needs `pip install "simtune[tensorboard]"`.

    The loop keeps a trial's points in memory; the writer writes them as one batch
    when the trial ends or pauses (and, for trials still running, every `flush_every` s).

    Example:
        >>> Tuner(..., results=session.writer, callbacks=[TensorBoardLogger()])  # doctest: +SKIP
    """

    name = "tensorboard"
    in_process = True

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
        # the loop's side: what each trial reported since its last batch, the run's series
        self._pending: dict[int, list[tuple]] = {}  # trial id -> (kind, ...) not yet sent
        self._root_pending: list[tuple] = []
        self._described = False  # the HParams experiment is submitted
        # the writer's side (a thread, or the child process of a simulated run)
        self._writers: dict[int, Any] = {}  # trial id -> its open event file (RecordWriter)
        self._root: Any = None
        self.logdir = Path()

    def start(self, tuner: Tuner) -> None:
        assert self.directory is not None
        self.logdir = self.directory / SUBDIR
        self.submit(self._open_root)

    def trial_start(self, trial: Trial) -> None:
        if self.replaying():
            return
        config = {k: _hparam(v) for k, v in trial.config.items()}
        if not self._described:  # the table's columns: hyperparameters and metrics
            metrics = getattr(self._results, "metrics", None) or [self.metric]
            self._root_pending.append(("hparams", config, list(metrics), self.time0))
            self._described = True
        if trial.fidelity is None:  # a new trial (a resumed one has its session already)
            self._points(trial.trial_id).append(("start", config,
                                                 self.stamp(trial.start_time)))

    def _points(self, trial_id: int) -> list[tuple]:
        points = self._pending.get(trial_id)
        if points is None:
            points = self._pending[trial_id] = []
        return points

    def report(self, trial: Trial, report: Report, decision: Decision, replayed: bool,
               best: float | None) -> None:
        if replayed:
            return
        wall = self.stamp(report.time)
        self._points(trial.trial_id).append(("scalars", report.metrics, float(report.time),
                                             report.fidelity, wall))
        if best is not None:
            self._root_pending.append(("best", float(best), self.tuner.n_reports, wall))
        if decision == Decision.PAUSE:  # a paused trial holds no open file
            self._send(trial.trial_id, close=True)

    def trial_end(self, trial: Trial, replayed: bool) -> None:
        if not replayed:
            self._points(trial.trial_id).append((
                "end", trial.status == Status.FAILED,
                self.stamp(self.tuner.backend.time() if self.tuner else 0.0)))
        self._send(trial.trial_id, close=True)

    def _send(self, trial_id: int, close: bool) -> None:
        points = self._pending.pop(trial_id, None)
        if points:
            self.submit(self._write_trial, trial_id, points, close)
        elif close:  # nothing new: a file flushed while the trial ran is closed
            self.submit(self._close, trial_id)

    def flush(self) -> None:
        for trial_id in list(self._pending):
            self._send(trial_id, close=False)
        self._send_root(close=False)

    def _send_root(self, close: bool) -> None:
        points, self._root_pending = self._root_pending, []
        self.submit(self._write_root, points, close)

    def end(self, summary: TuningSummary) -> None:
        for trial_id in list(self._pending):
            self._send(trial_id, close=True)
        for trial_id in list(self._writers):  # flushed while running, nothing new since
            self.submit(self._close, trial_id)
        self._send_root(close=True)

    # the writer
    def _open_root(self) -> None:
        self._root = self._open(self.logdir)

    def _open(self, where: Path) -> Any:
        """A new event file in `where` (one per process and opening: a resumed trial adds
        one), begun as TensorBoard's readers expect."""
        where.mkdir(parents=True, exist_ok=True)
        now = time.time()
        writer = self._RecordWriter(f"{where}/events.out.tfevents.{int(now)}.{_HOST}"
                                    f".{os.getpid()}.{next(_SEGMENTS)}")
        writer.write(self._Event(wall_time=now, file_version="brain.Event:2").SerializeToString())
        return writer

    def _event(self, summary: Any, step: int = 0, wall: float = 0.0) -> bytes:
        return self._Event(summary=summary, step=step, wall_time=wall).SerializeToString()

    def _scalars(self, values: list[tuple[str, float]]) -> Any:
        """A Summary of scalars: (tag, value) pairs."""
        value = self._Summary.Value
        return self._Summary(value=[value(tag=t, simple_value=v) for t, v in values])

    def _write_trial(self, trial_id: int, points: list[tuple], close: bool) -> None:
        writer = self._writers.get(trial_id)
        if writer is None:
            writer = self._writers[trial_id] = self._open(self.logdir / f"trial_{trial_id}")
        event, summary, value = self._Event, self._Summary, self._Summary.Value
        for kind, *args in points:
            if kind == "scalars":
                metrics, report_time, step, wall = args
                values = [value(tag=k, simple_value=v) for k, v in metrics.items() if finite(v)]
                values.append(value(tag="time", simple_value=report_time))
                writer.write(event(summary=summary(value=values), step=step,
                                   wall_time=wall).SerializeToString())
            elif kind == "start":
                config, wall = args
                writer.write(event(summary=_session_start(config),
                                   wall_time=wall).SerializeToString())
            else:  # "end"
                failed, wall = args
                writer.write(event(summary=self._session_failed if failed else
                                   self._session_end, wall_time=wall).SerializeToString())
        if close:
            self._close(trial_id)
        else:
            writer.flush()

    def _write_root(self, points: list[tuple], close: bool) -> None:
        root = self._root
        for kind, *args in points:
            if kind == "best":
                best, step, wall = args
                root.write(self._event(self._scalars([(f"best/{self.metric}", best)]),
                                       step, wall))
            else:  # "hparams": the experiment, before the first trial's session
                config, metrics, wall = args
                experiment, _, _ = self._hparams(config, {m: None for m in metrics})
                root.write(self._event(experiment, 0, wall))
        if close:
            root.close()
        else:
            root.flush()

    def _close(self, trial_id: int) -> None:
        writer = self._writers.pop(trial_id, None)
        if writer is not None:
            writer.close()  # to the OS, without an fsync per trial


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
