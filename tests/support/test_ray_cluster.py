"""The throwaway Ray cluster fixture itself: a node that fails to boot is retried from scratch,
and the cluster's settings are in os.environ only while it is up. (Its real start is exercised
by tests/test_generation_ray.py and tests/test_ray_train.py.)"""

from __future__ import annotations

import os

import pytest

from support import ray_cluster
from support.ports import free_ports
from support.ray_cluster import ClusterDidNotStart, local_ray_cluster


def test_free_ports_are_distinct():
    ports = free_ports(64)
    assert len(set(ports)) == 64 and all(p > 0 for p in ports)


@pytest.fixture
def fake_starts(monkeypatch, tmp_path):
    """_start_cluster fails as many times as `failures` says, then returns a fake cluster."""
    failures, killed, calls = [], [], []

    def start(nodes, cpus_per_node, object_store_mb, timeout):
        calls.append(nodes)
        if len(calls) <= failures[0]:
            raise ClusterDidNotStart(f"node1 exited (attempt {len(calls)})")
        (tmp_path / "session").mkdir()
        env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "secret"}
        return ["procs"], tmp_path / "session", env, "127.0.0.1:6380"

    monkeypatch.setattr(ray_cluster, "_start_cluster", start)
    monkeypatch.setattr(ray_cluster, "_kill_tree", killed.append)
    for key in ray_cluster.AUTH_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    return failures, killed, calls


def test_a_failed_start_is_retried_and_the_environment_restored(fake_starts, tmp_path):
    failures, killed, calls = fake_starts
    failures.append(2)
    with local_ray_cluster(nodes=2, attempts=3) as address:
        assert address == os.environ["RAY_ADDRESS"] == "127.0.0.1:6380"
        assert os.environ["RAY_AUTH_TOKEN"] == "secret" and os.environ["RAY_AUTH_MODE"] == "token"
    assert calls == [2, 2, 2] and killed == [["procs"]]
    assert os.environ["RAY_AUTH_MODE"] == "disabled"
    assert "RAY_ADDRESS" not in os.environ and "RAY_AUTH_TOKEN" not in os.environ
    assert not (tmp_path / "session").exists()


def test_every_attempt_failing_raises_with_each_reason(fake_starts):
    failures, killed, calls = fake_starts
    failures.append(5)
    with pytest.raises(ClusterDidNotStart) as err, local_ray_cluster(nodes=2, attempts=2):
        pass
    assert calls == [2, 2] and killed == []
    assert "in 2 attempts" in str(err.value)
    assert "(attempt 1)" in str(err.value) and "(attempt 2)" in str(err.value)
    assert "RAY_ADDRESS" not in os.environ
