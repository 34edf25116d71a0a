"""The searchers' BLAS limit covers every BLAS library, whichever searcher ran first."""

import os
import subprocess
import sys

CODE = """
from simtune.core.schedulers.blas import single_threaded
with single_threaded():  # first use before scipy is imported, as when TPE runs first
    pass
import numpy, scipy.linalg
from threadpoolctl import threadpool_info
with single_threaded():
    print(sorted(i["filepath"] for i in threadpool_info()
                 if i["user_api"] == "blas" and i["num_threads"] != 1))
    print(len([i for i in threadpool_info() if i["user_api"] == "blas"]))
"""


def test_single_threaded_limits_scipy_blas_too_when_first_used_before_scipy():
    """A GP after a TPE in one process decided differently (scipy's BLAS, loaded after
    the thread limiter was made, ran on every core): same seed, another trace."""
    env = {k: v for k, v in os.environ.items()  # as a user runs it, not as conftest sets
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         timeout=120, check=True, env=env).stdout.split("\n")
    assert out[0] == "[]", f"BLAS libraries left multi-threaded: {out[0]}"
    assert int(out[1]) >= 1  # numpy's and scipy's (one if they share a library)
