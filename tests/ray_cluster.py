"""One real local Ray instance per test session (2 logical CPUs), shared by every Ray test.

Import the fixture into a test module: `from tests.ray_cluster import ray_fixture  # noqa: F401`,
then ask for `ray_cluster`.
"""

from __future__ import annotations

import pytest

NUM_CPUS = 2


@pytest.fixture(scope="session", name="ray_cluster")
def ray_fixture():
    """The `ray` module, initialised on a head node started here; shut down after the session."""
    ray = pytest.importorskip("ray", reason='backend=ray is an extra: pip install -e ".[ray]"')
    if ray.is_initialized():
        yield ray
        return
    ray.init(num_cpus=NUM_CPUS, object_store_memory=100 * 2**20, include_dashboard=False,
             log_to_driver=False)
    yield ray
    ray.shutdown()


def gcs_address(ray) -> str:
    """HOST:PORT of the session's head node: another process joins it with this address."""
    return ray.get_runtime_context().gcs_address
