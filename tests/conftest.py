"""Shared fixtures: an isolated cache per test session and the raw-data samples dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA_ENV = "SIMTUNE_DATA"

# Small matrices on a shared 2-core machine: BLAS threads only add contention, here and in
# the subprocesses the tests start (runs, sweeps, trials).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


# modules whose tests start, use or stop this session's Ray instance (tests/ray_cluster.py):
# under pytest-xdist they all run in one worker, one Ray instance at a time
_RAY_MODULES = {"test_assemble", "test_backend_contract", "test_ray_backend", "test_ray_nodes",
                "test_sweeps"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `-n N --dist loadgroup`: a module's tests stay in one worker (its module-scoped
    fixtures are built once), the Ray modules' all in the same one."""
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else item.nodeid
        item.add_marker(pytest.mark.xdist_group("ray" if module in _RAY_MODULES else module))


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory):
    """Converted tables go to a fresh tmp dir, never ~/.cache; no user raw dir leaks in."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIMTUNE_CACHE", str(tmp_path_factory.mktemp("simtune_cache")))
        mp.delenv("SIMTUNE_NATS_DIR", raising=False)
        yield


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """$SIMTUNE_DATA: the directory holding the nats/ and yahpo/ raw samples (skip if unset)."""
    value = os.environ.get(DATA_ENV)
    if not value:
        pytest.skip(f"set {DATA_ENV} to the directory holding nats/ and yahpo/ raw samples")
    path = Path(value).expanduser()
    if not path.is_dir():
        pytest.fail(f"{DATA_ENV}={value} is not a directory")
    return path
