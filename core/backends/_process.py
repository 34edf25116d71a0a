"""One trial process: launch in its own session, read its output, stop its whole tree.

One reader thread per trial turns whole stdout lines into events on a shared queue,
stamped with the monotonic time at which the line arrived; output files are capped so
a chatty or runaway script can fill neither the disk nor memory. The trial ends when
its process exits (not when its pipes close: a child may hold them), and whatever it
left running then is killed.

No trial process outlives the tuner (Linux): each trial arms PR_SET_PDEATHSIG
(SIGTERM when the tuner's launching thread dies, even by SIGKILL), and a watchdog
process (core/backends/_watchdog.py), which holds a copy of each trial's output pipe
and appends what the trial still writes to its stdout.txt, kills every process carrying
the tuner's SIMTUNE_WATCH token once the tuner is gone, which catches grandchildren in
their own session. An atexit hook and close() kill the process groups on a normal exit.
"""

from __future__ import annotations

import atexit
import os
import queue
import selectors
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

from simtune.core.backends._trialrun import ProcEvent, TrialRun
from simtune.core.backends._watchdog import (
    WATCH_ENV,
    die_with_parent,
    forget,
    hand_over,
    release_watchdog,
    sweep,
    watch_token,
)
from simtune.core.report import split_report

_SERIAL = count()  # numbers the launches of this process
_LINE_LIMIT = 1 << 16  # bytes of one stdout line kept for parsing
_DRAIN_SECONDS = 1.0  # after the exit, output still arriving (a child holds the pipe)
_REPORT_START = b"[simtune]"


class LineSplitter:
    """Whole lines out of a byte stream: `feed` returns (line, whole) pairs.

    A line is whole when it ends with a newline within `limit` bytes. A longer one is
    returned once, cut to `limit` bytes and not whole, and the rest of it is skipped:
    its tail never passes for a line of its own.

    Example:
        >>> LineSplitter(4).feed(b"ab\nabcdefg\nc")
        [(b'ab\n', True), (b'abcd', False)]
    """

    def __init__(self, limit: int = _LINE_LIMIT) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._skipping = False  # inside an over-long line

    def feed(self, chunk: bytes) -> list[tuple[bytes, bool]]:
        out: list[tuple[bytes, bool]] = []
        self._buf += chunk
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                if len(self._buf) > self.limit:
                    if not self._skipping:
                        out.append((bytes(self._buf[: self.limit]), False))
                    self._skipping = True
                    self._buf.clear()
                return out
            line = bytes(self._buf[: end + 1])
            del self._buf[: end + 1]
            if self._skipping:
                self._skipping = False
            elif len(line) > self.limit:
                out.append((line[: self.limit], False))
            else:
                out.append((line, True))

    def close(self) -> list[tuple[bytes, bool]]:
        """The unterminated last line, if any (never whole)."""
        rest, skipping = bytes(self._buf), self._skipping
        self._buf.clear()
        return [(rest, False)] if rest and not skipping else []


@dataclass(eq=False)
class TrialProcess(TrialRun):
    """A running trial process on this machine and what is known about its output."""

    trial_id: int
    popen: subprocess.Popen
    events: queue.Queue
    stdout_path: Path
    stderr_path: Path
    max_output_bytes: int
    tail_lines: int = 20
    watch: str = ""  # its SIMTUNE_WATCH value: every process of this trial carries it
    started: float = field(default_factory=time.monotonic)
    last_seen: float = 0.0  # monotonic time of the last report (or the start)
    halted: bool = False  # paused or stopped by the backend: its events are stale
    n_reports: int = 0
    last_report: Any = None
    best_fidelity: int | None = None  # highest fidelity it reported
    stalled: int = 0  # reports in a row that did not raise best_fidelity
    checkpoint_stamp: str | None = None  # the newest report's (core.checkpoint_stamp)
    _stderr_tail: deque = field(default_factory=deque)
    _bytes: int = 0
    _discard: bool = False  # stop storing and parsing output (after overflow or malformed)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.last_seen = self.started
        self._stderr_tail = deque(maxlen=self.tail_lines)
        self.ended = threading.Event()
        name = f"trial{self.trial_id}"
        self._thread = threading.Thread(target=self._read, daemon=True, name=name)
        _LIVE.add(self)
        self._thread.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stderr_tail(self) -> str:
        """The last lines the process wrote to stderr."""
        return "".join(self._stderr_tail).rstrip("\n")

    # -- the reader thread ---------------------------------------------------------------
    def _read(self) -> None:
        out, err = self.popen.stdout, self.popen.stderr
        assert out is not None and err is not None
        try:
            self._pump(out.fileno(), err.fileno())
        except OSError as e:  # its output files cannot be written: the trial cannot be read
            self._discard = True
            self.events.put(ProcEvent(self, "broken", time.monotonic(), e))
            self.terminate(grace=0.0)
        self._exited(block=True)
        self.kill_group()  # its leader is a zombie now: the group id is still its own
        out.close()
        err.close()
        code = self.popen.wait()
        forget(self.watch)
        self.ended.set()
        _LIVE.discard(self)
        self.events.put(ProcEvent(self, "exit", time.monotonic(), code))

    def _pump(self, out: int, err: int) -> None:
        """Read both pipes until the process has exited and what it wrote is read."""
        streams = {}
        with open(self.stdout_path, "ab") as out_file, open(self.stderr_path, "ab") as err_file:
            streams[out] = (LineSplitter(), out_file, self._on_stdout)
            streams[err] = (LineSplitter(), err_file, self._on_stderr)
            self._select(streams)

    def _select(self, streams: dict[int, tuple[LineSplitter, Any, Callable]]) -> None:
        sel = selectors.DefaultSelector()
        for fd in streams:
            sel.register(fd, selectors.EVENT_READ)
        self._line_no = 0
        exited_at = None
        try:
            while sel.get_map():
                ready = sel.select(0.1 if exited_at is None else 0.0)
                for key, _ in ready:
                    splitter, file, on_line = streams[key.fd]
                    chunk = os.read(key.fd, 1 << 16)
                    lines = splitter.feed(chunk) if chunk else splitter.close()
                    if not chunk:
                        sel.unregister(key.fd)
                    if not self._discard:
                        self._store(file, chunk)
                    for line, whole in lines:
                        on_line(line, whole)
                if exited_at is None:
                    if self._exited():
                        exited_at = time.monotonic()
                elif not ready or time.monotonic() - exited_at > _DRAIN_SECONDS:
                    break  # what the process wrote is read; a child may hold the pipe
        finally:
            sel.close()

    def _exited(self, block: bool = False) -> bool:
        """Whether the process has exited, without reaping it (its pid stays its own)."""
        flags = os.WEXITED | os.WNOWAIT | (0 if block else os.WNOHANG)
        try:
            return os.waitid(os.P_PID, self.pid, flags) is not None
        except ChildProcessError:  # already reaped
            return True

    def _store(self, file: Any, chunk: bytes) -> None:
        if not chunk:
            return
        self._bytes += len(chunk)
        if self._bytes > self.max_output_bytes:
            self._discard = True
            self.events.put(ProcEvent(self, "overflow", time.monotonic(), self.max_output_bytes))
            self.terminate(grace=0.0)
            return
        file.write(chunk)
        file.flush()

    def _on_stdout(self, line: bytes, whole: bool) -> None:
        self._line_no += 1
        if self._discard or not line.startswith(_REPORT_START):
            return
        now = time.monotonic()
        try:
            if not whole:
                raise ValueError(
                    f"report longer than {_LINE_LIMIT} bytes"
                    if len(line) >= _LINE_LIMIT
                    else "report line not ended by a newline"
                )
            metrics, stamp = split_report(line.decode("utf-8", errors="replace"))
        except ValueError as e:
            self._discard = True
            self.events.put(ProcEvent(self, "malformed", now, (self._line_no, str(e))))
            self.terminate(grace=0.0)
            return
        if metrics is not None:
            if stamp is not None:  # its line is in stdout.txt already: stored first
                self.checkpoint_stamp = stamp
            self.events.put(ProcEvent(self, "report", now, metrics))

    def _on_stderr(self, line: bytes, whole: bool) -> None:
        self._stderr_tail.append(line.decode("utf-8", errors="replace"))

    def terminate(self, grace: float) -> None:
        """SIGTERM to the process group, SIGKILL after `grace` seconds (in the background)."""
        _signal_group(self.pid, signal.SIGTERM)
        if grace <= 0:
            _signal_group(self.pid, signal.SIGKILL)
            return

        def _kill_later() -> None:
            if not self.ended.wait(grace):
                _signal_group(self.pid, signal.SIGKILL)

        threading.Thread(target=_kill_later, daemon=True).start()

    def finish(self, grace: float) -> None:
        """Let a process that made its last report exit by itself, or terminate it after `grace`."""

        def _wait_then_stop() -> None:
            if not self.ended.wait(grace):
                self.terminate(grace)

        threading.Thread(target=_wait_then_stop, daemon=True).start()

    def kill_now(self, grace: float) -> None:
        """Terminate and wait until the process has ended (SIGKILL after `grace`)."""
        _signal_group(self.pid, signal.SIGTERM)
        if not self.ended.wait(grace):
            _signal_group(self.pid, signal.SIGKILL)
            self.ended.wait(5.0)
        _signal_group(self.pid, signal.SIGKILL)  # children that ignored SIGTERM

    def kill_group(self, everywhere: bool = True) -> None:
        """SIGKILL whatever is left of the trial: its process group, then (Linux, if
        `everywhere`) any process carrying its SIMTUNE_WATCH value in another session."""
        _signal_group(self.pid, signal.SIGKILL)
        if everywhere and self.watch:
            sweep(lambda value: value == self.watch)


def launch(
    trial_id: int,
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    events: queue.Queue,
    max_output_bytes: int,
    tail_lines: int = 20,
) -> TrialProcess:
    """Start `argv` (never through a shell) in a new session; output into files in `cwd`.

    The process dies with the calling thread (PR_SET_PDEATHSIG, Linux) and carries a
    SIMTUNE_WATCH value that the watchdog of this tuner process knows.
    """
    watch = f"{watch_token()}:{next(_SERIAL)}"
    popen = subprocess.Popen(
        die_with_parent(argv),
        cwd=cwd,
        env={**env, WATCH_ENV: watch},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the whole tree can be signalled
    )
    assert popen.stdout is not None
    hand_over(watch, popen.pid, popen.stdout.fileno(), str(cwd / "stdout.txt"))
    return TrialProcess(
        trial_id,
        popen,
        events,
        cwd / "stdout.txt",
        cwd / "stderr.txt",
        max_output_bytes,
        tail_lines,
        watch,
    )


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


_LIVE: set[TrialProcess] = set()


@atexit.register
def _kill_all() -> None:
    """Safety net on a normal exit: kill the groups, then let the watchdog sweep and end."""
    for proc in list(_LIVE):
        _signal_group(proc.pid, signal.SIGKILL)
    release_watchdog()


os.register_at_fork(after_in_child=_LIVE.clear)  # a forked child's trials are not its own


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into SystemExit (main thread, default handlers only) so cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        return

    def _exit(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, _exit)
