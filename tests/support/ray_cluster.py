"""A throwaway Ray cluster of several nodes on this machine: one head and N-1 more raylets, each
a `ray start --block` in its own process group, every port picked free (other people's clusters
may be running here), and a fresh auth token of its own.

    with local_ray_cluster(nodes=2, cpus_per_node=2) as address:
        ...   # RAY_ADDRESS, RAY_AUTH_MODE and RAY_AUTH_TOKEN are set in os.environ meanwhile

Teardown SIGKILLs exactly the process groups it started (never `ray stop`, which would kill
everybody's Ray on the machine).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from support.ports import free_ports

RAY = str(Path(sys.executable).parent / "ray")
# Ray 2.60 turns token authentication on for a new head when a token exists (~/.ray/auth_token),
# but not for `ray start --address` or `ray.init(address=...)`; give every process the same
# explicit mode and a token private to this cluster.
AUTH_ENV = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_ADDRESS")


def _node_ports() -> list[str]:
    """Ports that Ray would otherwise take at fixed defaults, clashing between two raylets."""
    names = ("node-manager", "object-manager", "dashboard-agent-listen", "dashboard-agent-grpc",
             "runtime-env-agent", "metrics-export")
    return [f"--{name}-port={port}" for name, port in zip(names, free_ports(len(names)))] + \
        ["--min-worker-port=0", "--max-worker-port=0"]


def _alive_nodes(address: str, env: dict) -> int:
    script = (f"import ray; ray.init(address={address!r}, logging_level='ERROR', log_to_driver=False); "
              "print(sum(n['Alive'] for n in ray.nodes()))")
    try:
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
                             check=False)
    except subprocess.TimeoutExpired:  # a GCS not answering yet: ask again until the deadline
        return 0
    return int(out.stdout.strip() or 0) if out.returncode == 0 else 0


class ClusterDidNotStart(RuntimeError):
    pass


@contextlib.contextmanager
def local_ray_cluster(nodes: int = 2, cpus_per_node: int = 2, object_store_mb: int = 150,
                      timeout: float = 90, attempts: int = 3) -> Iterator[str]:
    """Start a head plus `nodes - 1` raylets on loopback; yield the head's GCS address.

    A node that does not register in time is retried from scratch, with new ports and a new temp
    dir: Ray gives a raylet a fixed 30 s to register, which a 2-core machine busy with earlier
    tests can miss once in a while (seen in CI, not reproduced since). Simulated machines
    failing to boot is not what the tests using this cluster are about."""
    errors = []
    for _ in range(attempts):
        try:
            cluster = _start_cluster(nodes, cpus_per_node, object_store_mb, timeout)
            break
        except ClusterDidNotStart as exc:
            errors.append(str(exc))
    else:
        raise ClusterDidNotStart(f"local Ray cluster did not come up in {attempts} attempts:\n" + "\n".join(errors))
    started, tmp, env, address = cluster
    saved = {k: os.environ.get(k) for k in AUTH_ENV}
    try:
        os.environ.update({k: env[k] for k in AUTH_ENV[:2]}, RAY_ADDRESS=address)
        yield address
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _kill_tree(started)
        shutil.rmtree(tmp, ignore_errors=True)


def _start_cluster(nodes: int, cpus_per_node: int, object_store_mb: int, timeout: float):
    """One attempt: (processes, temp dir, env, address), or ClusterDidNotStart with each node's
    `ray start` output and the tails of its raylet and GCS logs, after killing what it started."""
    tmp = Path(tempfile.mkdtemp(prefix="w2s-ray-"))
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    gcs_port, client_port = free_ports(2)
    address = f"127.0.0.1:{gcs_port}"
    common = ["--block", "--disable-usage-stats", f"--num-cpus={cpus_per_node}", "--num-gpus=0",
              f"--object-store-memory={object_store_mb * 2**20}"]
    started: dict[str, subprocess.Popen] = {}

    def start(name: str, args: list[str]) -> None:
        with open(tmp / f"{name}.log", "w") as log:
            # a temp dir per node, as on separate machines (a shared one makes each node's log
            # monitor forward every node's worker logs: each line twice)
            started[name] = subprocess.Popen([RAY, "start", *common, *_node_ports(), f"--temp-dir={tmp / name}", *args],
                                             env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        start("head", ["--head", f"--port={gcs_port}", "--include-dashboard=false",
                       f"--ray-client-server-port={client_port}"])
        for i in range(1, nodes):
            start(f"node{i}", [f"--address={address}"])
        deadline = time.monotonic() + timeout
        while not all("Ray runtime started" in (tmp / f"{n}.log").read_text() for n in started) \
                or _alive_nodes(address, env) < nodes:
            dead = [name for name, proc in started.items() if proc.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise ClusterDidNotStart(f"{', '.join(dead) + ' exited' if dead else 'timeout'}:\n{_logs(tmp)}")
            time.sleep(0.5)
    except BaseException:
        _kill_tree(list(started.values()))
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return list(started.values()), tmp, env, address


def _logs(tmp: Path, chars: int = 1500) -> str:
    """The end of each node's `ray start` output and of its raylet/GCS logs."""
    files = sorted(tmp.glob("*.log")) + sorted(tmp.glob("*/session_2*/logs/raylet.*")) + \
        sorted(tmp.glob("*/session_2*/logs/gcs_server.*"))
    return "\n".join(f"--- {f.relative_to(tmp)}\n{f.read_text(errors='replace')[-chars:]}" for f in files)


def _kill_tree(started: list[subprocess.Popen]) -> None:
    """SIGKILL each `ray start`, its daemons, and the workers its raylet spawned (which run in
    sessions of their own, so the process group alone misses them). SIGTERM would make a raylet
    drain for 30 s; nothing here needs that."""
    import psutil

    doomed = []
    for proc in started:
        with contextlib.suppress(psutil.NoSuchProcess):
            doomed += psutil.Process(proc.pid).children(recursive=True)
    for proc in reversed(started):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    for child in doomed:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    for proc in started:
        proc.wait(timeout=30)
