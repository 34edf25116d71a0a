"""One real local Ray instance per test session (2 logical CPUs), shared by every Ray test;
and a multi-node cluster for one test module at a time (`multi_node`).

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
    start_session(ray)
    yield ray
    ray.shutdown()


def gcs_address(ray) -> str:
    """HOST:PORT of the session's head node: another process joins it with this address."""
    return ray.get_runtime_context().gcs_address


def start_session(ray) -> None:
    """Start (again) the session's one-node instance in this process."""
    ray.init(num_cpus=NUM_CPUS, object_store_memory=100 * 2**20, include_dashboard=False,
             log_to_driver=False)


# faster than Ray's default (5 missed checks of 3 s): a removed node is declared dead in ~3 s
FAST_HEALTH = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 1000,
               "health_check_failure_threshold": 3}
NODE_ARGS = {"num_cpus": 1, "object_store_memory": 80 * 2**20}


def multi_node(ray, names: tuple[str, ...] = ("node_a", "node_b")):
    """A generator for a module-scoped fixture: a real Ray cluster of a head (no CPUs: the
    driver's node) and one worker node per name (1 CPU, the custom resource {name: 1}),
    each with its own raylet; this process is its driver. The session's one-node instance,
    if up, is shut down meanwhile and started again afterwards."""
    from ray.cluster_utils import Cluster

    was_up = ray.is_initialized()
    if was_up:
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "object_store_memory": 80 * 2**20, "include_dashboard": False,
        "_system_config": FAST_HEALTH})
    try:
        for name in names:
            cluster.add_node(resources={name: 1}, **NODE_ARGS)
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
        if was_up:
            start_session(ray)
