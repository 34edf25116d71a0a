"""BLAS threads for the model-based searchers' small matrices."""

from __future__ import annotations

from contextlib import AbstractContextManager

_CONTROLLER = None


def single_threaded() -> AbstractContextManager:
    """Limit BLAS to one thread: the matrices here are small, threads on a busy machine
    cost far more than they give (10x measured), and one thread keeps sums reproducible."""
    global _CONTROLLER
    if _CONTROLLER is None:
        import scipy.linalg  # noqa: F401  (loads scipy's own BLAS, which the GP uses)
        from threadpoolctl import ThreadpoolController

        # the controller limits the BLAS libraries loaded when it is made: made before
        # scipy's (TPE first in a process), it left the GP's on every thread, and a GP run
        # after a TPE run in one process decided differently (and 5x slower)
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")
