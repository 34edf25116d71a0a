"""The random streams of a run, derived from its seed here and nowhere else.

Example:
    >>> scheduler_rng, backend_rng = run_rngs(0)
"""

from __future__ import annotations

import numpy as np


def run_rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The scheduler's and the backend's generators of the run with `seed`: independent
    streams of `numpy.random.SeedSequence(seed)`, so the same seed gives the same run."""
    scheduler, backend = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(scheduler), np.random.default_rng(backend)
