"""The child process a logger of a simulated run writes from, so that its writing runs beside
the Tuner's loop instead of sharing its interpreter lock.

A simulated trial takes a fraction of a millisecond; a logger writing on a thread of the
same process (core.loggers.writer) would slow the loop by as much as it writes. Here the
logger's writer-side methods run in a child forked from the Tuner's process at the logger's
start (a copy of the logger as it stands then, the libraries already imported). The loop
hands over (method name, arguments) in batches to a feeder thread, which pickles them into
a pipe to the child (the loop never waits for the child). `close` sends the rest and waits
for the child to write it; the run returns, and metadata.json says complete, only then.

Signals: the child ignores Ctrl-C (the Tuner holds it, ends the run and closes the writer);
SIGTERM ends the child, as it ends any process (a second Ctrl-C leaves the parent through
Python's exit, which terminates its daemonic children). A child that ended before it was
closed disables the logger with one warning; a child whose parent is gone (the pipe ends,
or its parent process id changes) exits.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

_SYNC = "__sync__"  # a method name no logger has: answer ("synced", n)
_FEEDING: set[Any] = set()  # this process's pipe ends to its writers' children
BATCH = 64  # calls per message


class ProcessWriter:
    """Runs `owner`'s submitted methods, in order, in a child process forked from this one.
    The child's first exception is passed to `on_error` here (at the next `send`, `sync` or
    `close`); the child skips every later call.

    Example:
        >>> writer = ProcessWriter("tensorboard", logger, on_error=print)  # doctest: +SKIP
        >>> writer.submit(logger._write_trial, 3, points, True)            # doctest: +SKIP
        >>> writer.close()                                                 # doctest: +SKIP
    """

    @staticmethod
    def available() -> bool:
        """Fork is there and safe to use: Linux (macOS's system libraries refuse it)."""
        return sys.platform == "linux"

    def __init__(self, name: str, owner: Any, on_error: Callable[[Exception], None]) -> None:
        self.name, self.owner, self.on_error = name, owner, on_error
        self.failed = False
        self._process: Any = None  # forked at the first send
        self._pending: queue.SimpleQueue[list | None] = queue.SimpleQueue()  # to the feeder
        self._feeder: threading.Thread | None = None
        self._answers: Any = None
        self._synced = 0
        self._batch: list[tuple[str, tuple]] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run the owner's method `fn` with `args` in the child, after everything before
        (handed over BATCH calls at a time, and by `send`, `sync` and `close`)."""
        self._batch.append((fn.__name__, args))
        if len(self._batch) >= BATCH:
            self.send()

    def send(self) -> None:
        """Hand the calls submitted so far to the child; the first call forks it."""
        if self._process is None:
            self._fork()
        self._check()
        if self._batch and not self.failed:
            self._pending.put(self._batch)
        self._batch = []

    def sync(self, timeout: float | None = None) -> bool:
        """Wait until the child has run everything submitted so far; False if `timeout` s
        passed first or the child is gone."""
        self._synced += 1
        self._batch.append((_SYNC, self._synced))
        self.send()
        while not self.failed and self._answers.poll(timeout):
            try:
                kind, value = self._answers.recv()
            except EOFError:  # the child is gone
                self._check()
                return False
            if kind == "error":
                self._fail(value)
            elif value == self._synced:
                return True
        return False

    def close(self, timeout: float | None = None) -> bool:
        """Hand over the rest and wait until the child has written it and ended; False if
        `timeout` s passed first."""
        if self._process is None:  # never started (its logger was disabled at its start)
            return True
        self.send()
        self._pending.put(None)  # the feeder sends the end and closes the pipe; the child
        self._process.join(timeout)  # ends once it has run everything before the end
        self._check()
        return not self._process.is_alive()

    def _fork(self) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        calls, self._calls = ctx.Pipe(duplex=False)
        self._answers, answer = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=_serve, name=f"simtune-logger-{self.name}",
                                    args=(self.owner, calls, self._calls, answer, os.getpid()),
                                    daemon=True)
        with warnings.catch_warnings():
            # Python 3.12+ warns of a fork beside other threads (a progress bar's, another
            # logger's): the child runs only the logger's writing, and leaves by os._exit
            warnings.filterwarnings("ignore", "This process .* is multi-threaded",
                                    DeprecationWarning)
            self._process.start()
        calls.close()  # the child's ends: a child gone is a broken pipe here, and
        answer.close()  # a parent gone the end of its pipe there
        _FEEDING.add(self._calls)
        self._feeder = threading.Thread(target=self._feed, name=f"simtune-feed-{self.name}",
                                        daemon=True)
        self._feeder.start()

    def _feed(self) -> None:
        """The feeder thread: each batch pickled into the pipe; None ends the pipe."""
        while True:
            batch = self._pending.get()
            try:
                self._calls.send_bytes(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))
            except OSError:  # the child is gone (close() tells)
                batch = None
            if batch is None:
                _FEEDING.discard(self._calls)
                self._calls.close()
                return

    def _check(self) -> None:
        """Take the child's answers; a child that is gone before `close` is a failure."""
        while not self.failed and self._answers.poll():
            try:
                kind, value = self._answers.recv()
            except EOFError:
                break
            if kind == "error":
                self._fail(value)
        code = self._process.exitcode
        if code not in (None, 0) and not self.failed:
            why = (f"killed by signal {-code}" if code < 0 else f"exit code {code}")
            self._fail(RuntimeError(f"its writer process ended ({why}); what it had not "
                                    "written is lost"))

    def _fail(self, e: Exception) -> None:
        if not self.failed:
            self.failed = True
            self.on_error(e)


def _serve(owner: Any, calls: Any, ours: Any, answer: Any, parent: int) -> None:
    """The child: run each batch of (method name, args) from the pipe `calls` on `owner`,
    its copy of the logger; the owner's `idle()` whenever no batch is waiting."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for end in (ours, *_FEEDING):  # the parent's pipe ends (to us, and to writers forked
        end.close()  # before us): closed here, a parent gone ends our pipe
    failed = False
    while True:
        if not calls.poll(1.0):
            if os.getppid() != parent:  # the Tuner's process is gone: nobody to write for
                break
            continue
        try:
            batch = pickle.loads(calls.recv_bytes())
        except (EOFError, OSError):  # the parent is gone (mid-message, too)
            break
        if batch is None:  # close()
            break
        for name, args in batch:
            if name == _SYNC:
                answer.send(("synced", args))
            elif not failed:
                failed = _run(answer, getattr(owner, name), *args)
        if not failed and not calls.poll():
            failed = _run(answer, owner.idle)
    answer.close()


def _run(answer: Any, fn: Callable[..., Any], *args: Any) -> bool:
    """Run `fn(*args)`; True if it raised (its exception sent back)."""
    try:
        fn(*args)
    except Exception as e:
        try:
            answer.send(("error", e))
        except Exception:  # an exception that does not pickle
            answer.send(("error", RuntimeError(f"{type(e).__name__}: {e}")))
        return True
    return False
