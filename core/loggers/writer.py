"""The thread a logger writes through, so that the Tuner's loop never waits for a library.

The loop hands over whole batches (a trial's points at its end, pause, or every
`Logger.flush_every` real seconds) with `submit`; one thread runs them in the order given.
`close` waits until every batch is written: a logger's `on_run_end` calls it, so the run
returns (and metadata.json says complete) only once its logs are written and closed.
`on_idle` runs each time the thread has caught up (a logger that buffers commits then).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

_CLOSE = object()


class BackgroundWriter:
    """Runs submitted calls in order on one daemon thread; the first exception is passed to
    `on_error`, and every later call is skipped.

    Example:
        >>> writer = BackgroundWriter("tensorboard", on_error=print)
        >>> writer.submit(print, "written")
        >>> writer.close()
        written
    """

    def __init__(self, name: str, on_error: Callable[[Exception], None],
                 on_idle: Callable[[], None] | None = None) -> None:
        self.on_error, self.on_idle = on_error, on_idle
        self.failed = False
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=f"simtune-logger-{name}",
                                        daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` on the thread, after everything submitted before."""
        self._queue.put((fn, args))

    def send(self) -> None:
        """Nothing to hand over: `submit` queues each call for the thread at once (the
        process writer's batches are handed over here)."""

    def sync(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far has run; False if `timeout` s passed."""
        done = threading.Event()
        self._queue.put((done.set, ()))
        return done.wait(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Write what is left and end the thread; False if `timeout` s passed first."""
        if self._thread.is_alive():
            self._queue.put(_CLOSE)
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _work(self) -> None:
        pending = self._queue
        while True:
            item = pending.get()
            if item is _CLOSE:
                return
            if self.failed:
                continue
            fn, args = item
            try:
                fn(*args)
                if self.on_idle is not None and pending.empty():
                    self.on_idle()
            except Exception as e:  # the logger is disabled; the run goes on
                self.failed = True
                self.on_error(e)
