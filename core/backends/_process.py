"""One trial process: launch in its own session, read its output, stop its whole tree.

Reader threads turn stdout lines into events on a shared queue, stamped with the
monotonic time at which the line arrived; output files are capped so a chatty or
runaway script can fill neither the disk nor memory. A module-level registry
and an atexit hook kill every process still alive when the interpreter exits.
"""

from __future__ import annotations

import atexit
import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from core.report import parse_report

_LINE_LIMIT = 1 << 16  # bytes of one stdout line kept for parsing


@dataclass
class ProcEvent:
    """What a reader thread saw: kind is 'report', 'malformed', 'overflow' or 'exit'."""

    proc: TrialProcess
    kind: str
    time: float  # time.monotonic() when seen
    payload: Any = None


@dataclass(eq=False)
class TrialProcess:
    """A running trial process and what is known about its output."""

    trial_id: int
    popen: subprocess.Popen
    events: queue.Queue
    stdout_path: Path
    stderr_path: Path
    max_output_bytes: int
    tail_lines: int = 20
    started: float = field(default_factory=time.monotonic)
    last_seen: float = 0.0  # monotonic time of the last report (or the start)
    halted: bool = False  # paused or stopped by the backend: its events are stale
    n_reports: int = 0
    last_report: Any = None
    _stderr_tail: deque = field(default_factory=deque)
    _bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.last_seen = self.started
        self._stderr_tail = deque(maxlen=self.tail_lines)
        self.ended = threading.Event()
        out = threading.Thread(target=self._read_stdout, daemon=True, name=f"trial{self.trial_id}")
        err = threading.Thread(target=self._read_stderr, daemon=True, name=f"trial{self.trial_id}e")
        self._threads = [out, err]
        _LIVE.add(self)
        err.start()
        out.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stderr_tail(self) -> str:
        """The last lines the process wrote to stderr."""
        return "".join(self._stderr_tail).rstrip("\n")

    def _count(self, n: int) -> bool:
        """Add `n` bytes of output; False once past the cap (the caller stops storing)."""
        with self._lock:
            self._bytes += n
            return self._bytes <= self.max_output_bytes

    def _overflow(self) -> None:
        self.events.put(ProcEvent(self, "overflow", time.monotonic(), self.max_output_bytes))
        self.terminate(grace=0.0)

    def _read_stdout(self) -> None:
        stream: BinaryIO = self.popen.stdout  # type: ignore[assignment]
        line_no = 0
        with open(self.stdout_path, "ab") as f:
            while True:
                raw = stream.readline(_LINE_LIMIT)
                if not raw:
                    break
                line_no += 1
                if not self._count(len(raw)):
                    self._overflow()
                    break
                f.write(raw)
                f.flush()
                if not raw.startswith(b"[simtune]"):
                    continue
                now = time.monotonic()
                text = raw.decode("utf-8", errors="replace")
                try:
                    if not raw.endswith(b"\n") and len(raw) >= _LINE_LIMIT:
                        raise ValueError(f"report longer than {_LINE_LIMIT} bytes")
                    metrics = parse_report(text)
                except ValueError as e:
                    self.events.put(ProcEvent(self, "malformed", now, (line_no, str(e))))
                    self.terminate(grace=0.0)
                    break
                if metrics is not None:
                    self.events.put(ProcEvent(self, "report", now, metrics))
        for _ in iter(lambda: stream.read(1 << 16), b""):
            pass  # drain after an early break so the process never blocks on a full pipe
        self._threads[1].join()
        code = self.popen.wait()
        self.ended.set()
        _LIVE.discard(self)
        self.events.put(ProcEvent(self, "exit", time.monotonic(), code))

    def _read_stderr(self) -> None:
        stream: BinaryIO = self.popen.stderr  # type: ignore[assignment]
        storing = True
        with open(self.stderr_path, "ab") as f:
            while True:
                raw = stream.readline(_LINE_LIMIT)
                if not raw:
                    break
                self._stderr_tail.append(raw.decode("utf-8", errors="replace"))
                if storing and not self._count(len(raw)):
                    storing = False
                    self._overflow()
                if storing:
                    f.write(raw)
                    f.flush()

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


    def kill_group(self) -> None:
        """SIGKILL whatever is left of the process group."""
        _signal_group(self.pid, signal.SIGKILL)


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
    """Start `argv` (never through a shell) in a new session; output into files in `cwd`."""
    popen = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the whole tree can be signalled
    )
    return TrialProcess(
        trial_id,
        popen,
        events,
        cwd / "stdout.txt",
        cwd / "stderr.txt",
        max_output_bytes,
        tail_lines,
    )


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


_LIVE: set[TrialProcess] = set()


@atexit.register
def _kill_all() -> None:
    """Safety net: no trial process outlives the interpreter."""
    for proc in list(_LIVE):
        _signal_group(proc.pid, signal.SIGKILL)


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into SystemExit (main thread, default handlers only) so cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        return

    def _exit(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, _exit)
