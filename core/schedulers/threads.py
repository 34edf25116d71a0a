"""BLAS threads for the model-based searchers' small matrices."""

from __future__ import annotations

from contextlib import AbstractContextManager

_CONTROLLER = None


def single_threaded() -> AbstractContextManager:
    """Limit BLAS to one thread: the matrices here are small, threads on a busy machine
    cost far more than they give (10x measured), and one thread keeps sums reproducible."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")
