"""Ctrl-C in the Tuner loop: at once while it waits for events, else held until it waits.

A KeyboardInterrupt raised while the loop updates its state (a report half recorded)
would leave nothing safe to drain; held until the loop next waits, it always lets the
Tuner record what the trials reported (Tuner._drain). A second Ctrl-C acts at once.

Example:
    >>> held = HeldSigint(lambda: tuner_is_waiting)
    >>> held.install(); ...; held.restore()
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any


class HeldSigint:
    """SIGINT raises KeyboardInterrupt when `waiting()` is true or after an earlier SIGINT;
    otherwise it only sets `came`. Installed only in the main thread over Python's default
    handler (a caller's own handler is left alone)."""

    def __init__(self, waiting: Callable[[], bool]) -> None:
        self.waiting = waiting
        self.came = False
        self._installed = False

    def install(self) -> None:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True

    def restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self._installed = False

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self.came or self.waiting():
            self.came = True
            raise KeyboardInterrupt
        self.came = True
