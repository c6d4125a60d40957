"""One LLaMA-Factory training stage as ONE distributed job on a Ray cluster.

The controller (`w2s_lf.lf.train.train(..., launcher=RayJob(...))`: `w2s-lf train --ray-workers N`
or a pipeline stage) starts this module as a child process,
`python -m w2s_lf.launch.ray_job CONFIG --workers N ...`, teed into the stage log like `llamafactory-cli`. That driver connects to the cluster, reserves one placement-group bundle per
rank, starts one Ray actor per bundle, and each actor runs LLaMA-Factory's `run_exp` as one
torch.distributed rank (NCCL on GPUs, gloo on CPUs; rendezvous `env://` at rank 0's node).
Coordination stays in the engines: Ray places and supervises the processes, torch.distributed
joins them, LLaMA-Factory trains and checkpoints.

Why not LLaMA-Factory's own `USE_RAY=1` path: in 0.9.5 it reserves one bundle of 10 CPUs (plus one
GPU) for every device of the whole cluster whatever `ray_num_workers` says, so on GPUs it holds
every GPU of the cluster, and on CPUs it asks for ten times the CPUs that exist and waits forever
in `pg.ready()`. Its old TorchTrainer keys (`resources_per_worker`, `placement_strategy`,
`ray_storage_path`) are gone.

Shared file system: every path in the config (model, dataset_dir, output_dir, adapters,
DeepSpeed JSON) is made absolute and must name the same files on every node (NFS/Lustre mount
at the same path). Rank 0 writes the adapter, logs and `trainer_state.json`; with DeepSpeed
ZeRO-3 every rank writes its shard of each checkpoint, and on a rerun every rank reads it back.

Failure: the driver waits on all ranks at once; the first rank that dies (SIGKILL, OOM, a lost
node) fails the job: the driver kills the other actors, which sit in a collective, and exits
non-zero within seconds. `ddp_timeout` bounds the remaining case, a rank that hangs alive. A
rerun resumes from the last `checkpoint-*` in output_dir (LLaMA-Factory does this when
`overwrite_output_dir` is false; `prepare_output_dir` keeps such a folder).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from w2s_lf.errors import W2SError
from w2s_lf.launch.base import optim_torch_env, shared_fs_config, shell_line
from w2s_lf.launch.ray_cluster import actor_env, node_network, node_network_env, reserve
from w2s_lf.lf.configs import DDP_TIMEOUT

PLACEMENTS = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")


@dataclass(frozen=True)
class RayJob:
    """Where one training stage runs on a Ray cluster."""

    workers: int                    # ranks (cluster.nodes x cluster.gpus_per_node / gpus_per_worker)
    gpus_per_worker: int = 1        # 0: CPU ranks with gloo (tests, CPU clusters)
    cpus_per_worker: float = 1      # logical Ray CPUs each rank reserves (scheduling only)
    address: str | None = None      # default $RAY_ADDRESS, else "auto" (a cluster on this machine)
    placement: str = "PACK"         # PACK fills nodes in turn (fewer NCCL hops); SPREAD one per node
    ready_timeout: float = 600      # how long to wait for the cluster to have the resources

    def __post_init__(self):
        if self.workers < 1:
            raise W2SError(f"ray workers: must be at least 1, got {self.workers}")
        if self.gpus_per_worker < 0 or self.cpus_per_worker <= 0:
            raise W2SError("ray: gpus_per_worker must be >= 0 and cpus_per_worker > 0")
        if self.placement not in PLACEMENTS:
            raise W2SError(f"ray placement: '{self.placement}' is not one of {', '.join(PLACEMENTS)}")

    kind = "ray"

    def world(self) -> tuple[int, int]:
        return self.workers, 1

    def rank_config(self, config: dict) -> dict:
        return shared_fs_config(config, self.gpus_per_worker)

    def command(self, config_path: str | Path) -> list[str]:
        """The driver that trains `config_path` as this job."""
        out = [sys.executable, "-m", "w2s_lf.launch.ray_job", str(Path(config_path).absolute()),
               "--workers", str(self.workers), "--gpus-per-worker", str(self.gpus_per_worker),
               "--cpus-per-worker", f"{self.cpus_per_worker:g}", "--placement", self.placement,
               "--ready-timeout", f"{self.ready_timeout:g}"]
        return out + (["--address", self.address] if self.address else [])

    def env(self, config: dict) -> dict[str, str]:
        # RAY_DEDUP_LOGS=0: every rank's lines reach the stage log, not "[repeated 2x across cluster]"
        return {"RAY_DEDUP_LOGS": "0", "PYTHONUNBUFFERED": "1", "DISABLE_VERSION_CHECK": "1"}

    def shown(self, config_path: str | Path, config: dict) -> str:
        return shell_line(self.command(config_path))


# ---- the driver (runs in its own process) -------------------------------------------------------

class Rank:
    """One training process, as a Ray actor. Its methods run in the actor's own process."""

    def where(self) -> dict:
        import ray
        ctx = ray.get_runtime_context()
        return {"node": ctx.get_node_id(), "ip": ray.util.get_node_ip_address(), "pid": os.getpid(),
                "gpus": [str(g) for g in ctx.get_accelerator_ids().get("GPU", [])], "network": node_network()}

    def host_rendezvous(self) -> int:
        """Start the job's torch.distributed store here (rank 0's actor) and return its port.

        The kernel picks a free port when the store's server binds it (port 0), and the server
        holds it for the actor's life: no moment in which another process could take it, as there
        was when a port was probed, closed and handed to rank 0 to bind again. Every rank, this
        one too, then joins as a client (TORCHELASTIC_USE_AGENT_STORE, as under torchrun, whose
        agent hosts the store)."""
        from datetime import timedelta

        from torch.distributed import TCPStore
        self._store = TCPStore(ray_node_ip(), 0, is_master=True, wait_for_workers=False,
                               timeout=timedelta(seconds=DDP_TIMEOUT))
        return self._store.port

    def train(self, args: dict, env: dict[str, str]) -> None:
        os.environ.update(env)   # before torch reads CUDA_VISIBLE_DEVICES / RANK
        from w2s_lf.lf.templates import register
        register()               # LLaMA-Factory knows only templates registered in its process
        from llamafactory.train.tuner import run_exp
        run_exp(dict(args))


def ray_node_ip() -> str:
    import ray
    return ray.util.get_node_ip_address()


def rank_actor_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every rank's actor starts with: the controller's settings (`actor_env`),
    what LLaMA-Factory's torchrun launch would add, and Ray told to leave CUDA_VISIBLE_DEVICES
    alone (`rank_env` sets it per node, shared by the node's ranks)."""
    return {**actor_env(environ), **optim_torch_env(environ), "RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES": "1"}


def rank_env(places: list[dict], master_port: int, controller: dict[str, str] | None = None) -> list[dict[str, str]]:
    """torch.distributed variables per rank, for ranks already in rank order. Ranks on one node
    share CUDA_VISIBLE_DEVICES (NCCL then sees its peers for P2P/NVLink) and are told their index
    in it as LOCAL_RANK, as torchrun does. Every rank joins the store rank 0's actor hosts
    (`Rank.host_rendezvous`). The controller's interface settings (`controller`, default our
    environment) apply on the nodes they fit (`node_network_env`)."""
    controller = os.environ if controller is None else controller
    nodes: dict[str, list[int]] = {}
    for i, place in enumerate(places):
        nodes.setdefault(place["node"], []).append(i)
    out = []
    for rank, place in enumerate(places):
        peers = nodes[place["node"]]
        env = {"RANK": str(rank), "WORLD_SIZE": str(len(places)), "LOCAL_RANK": str(peers.index(rank)),
               "LOCAL_WORLD_SIZE": str(len(peers)), "NODE_RANK": str(list(nodes).index(place["node"])),
               "MASTER_ADDR": places[0]["ip"], "MASTER_PORT": str(master_port),
               "TORCHELASTIC_USE_AGENT_STORE": "True", "USE_RAY": "0",
               **node_network_env(place["network"], controller)[0]}
        gpus = [g for i in peers for g in places[i]["gpus"]]
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
            env["LOCAL_RANK"] = str(gpus.index(place["gpus"][0]))
        out.append(env)
    return out


def order_ranks(places: list[dict], home_node: str | None) -> list[int]:
    """Actor indices in rank order: the driver's node first (rank 0 writes the outputs and hosts
    the rendezvous), then node by node, and by GPU within a node."""
    first_seen = {}
    for p in places:
        first_seen.setdefault(p["node"], len(first_seen))

    def key(i: int):
        p = places[i]
        gpus = [(0, int(g), "") if g.isdigit() else (1, 0, g) for g in p["gpus"]]   # ids or UUIDs
        return (p["node"] != home_node, first_seen[p["node"]], gpus, p["pid"])
    return sorted(range(len(places)), key=key)


def _failures(ray, refs: dict, first: tuple[int, Exception], grace: float) -> dict[int, Exception]:
    """The first failure and any other within `grace` seconds (a killed rank breaks its peers'
    collectives at about the time Ray reports its death)."""
    failures = dict([first])
    if refs:
        done, _ = ray.wait(list(refs), num_returns=len(refs), timeout=grace)
        for ref in done:
            try:
                ray.get(ref)
            except ray.exceptions.RayError as e:
                failures[refs[ref]] = e
    return failures


def _supervise(ray, actors: list, refs: list, grace: float = 3) -> None:
    """Wait for every rank; on the first failure kill the others (blocked in a collective) and
    raise, naming first a rank that died outright (the cause) over those its death broke."""
    pending = dict(zip(refs, range(len(refs))))
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        rank = pending.pop(done[0])
        try:
            ray.get(done[0])
        except ray.exceptions.RayError as e:   # RayActorError (killed, OOM, node lost), RayTaskError (Python)
            failures = _failures(ray, pending, (rank, e), grace)
            for actor in actors:
                ray.kill(actor)
            for r, err in sorted(failures.items()):
                print(f"[w2s-lf] rank {r} failed:\n{err}", flush=True)
            time.sleep(2)   # the ranks' last lines reach this log through Ray's log monitor, late
            cause = min(failures, key=lambda r: (not isinstance(failures[r], ray.exceptions.RayActorError), r))
            how = "died" if isinstance(failures[cause], ray.exceptions.RayActorError) else "failed"
            reason = str(failures[cause]).strip().splitlines()
            others = sorted(set(failures) - {cause})
            raise W2SError(f"rank {cause} {how}, so the job was stopped"
                           + (f" (then rank(s) {', '.join(map(str, others))} failed too)" if others else "")
                           + f": {reason[-1] if reason else type(failures[cause]).__name__}") from None
        print(f"[w2s-lf] rank {rank} finished", flush=True)


def run_job(config_path: Path, job: RayJob) -> None:
    import ray
    import yaml
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    args = yaml.safe_load(config_path.read_text())
    address = job.address or os.environ.get("RAY_ADDRESS") or "auto"
    ray.init(address=address, logging_level="WARNING", log_to_driver=True)
    workers = job.workers
    start = time.monotonic()
    bundle = {"CPU": job.cpus_per_worker, **({"GPU": job.gpus_per_worker} if job.gpus_per_worker else {})}
    pg = reserve(ray, bundle, workers, job.placement, job.ready_timeout, "ranks")
    remote = ray.remote(Rank)
    actors = [remote.options(num_cpus=job.cpus_per_worker, num_gpus=job.gpus_per_worker,
                             scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=i),
                             runtime_env={"env_vars": rank_actor_env()}).remote() for i in range(workers)]
    places = ray.get([a.where.remote() for a in actors])
    order = order_ranks(places, ray.get_runtime_context().get_node_id())
    actors, places = [actors[i] for i in order], [places[i] for i in order]
    port = ray.get(actors[0].host_rendezvous.remote())
    envs = rank_env(places, port)
    for rank, (place, e) in enumerate(zip(places, envs)):
        gpus = f" GPU {e['CUDA_VISIBLE_DEVICES']} (local rank {e['LOCAL_RANK']})" if place["gpus"] else ""
        print(f"[w2s-lf] rank {rank}: node {place['node'][:12]} ({place['ip']}) pid {place['pid']}{gpus}", flush=True)
    for node in dict.fromkeys(p["node"] for p in places):
        notes = node_network_env(next(p for p in places if p["node"] == node)["network"], os.environ)[1]
        if notes:
            print(f"[w2s-lf] node {node[:12]}: {'; '.join(notes)}", flush=True)
    print(f"[w2s-lf] {workers} ranks placed in {time.monotonic() - start:.1f} s; "
          f"rendezvous {places[0]['ip']}:{port}; output_dir {args.get('output_dir')}", flush=True)
    _supervise(ray, actors, [a.train.remote(args, e) for a, e in zip(actors, envs)])
    ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m w2s_lf.launch.ray_job",
                                description="Train one LLaMA-Factory config as one job on a Ray cluster "
                                            "(started by `w2s-lf train --ray-workers N`).")
    p.add_argument("config", type=Path)
    p.add_argument("--workers", type=int, required=True)
    p.add_argument("--gpus-per-worker", type=int, default=1)
    p.add_argument("--cpus-per-worker", type=float, default=1)
    p.add_argument("--address")
    p.add_argument("--placement", default="PACK")
    p.add_argument("--ready-timeout", type=float, default=600)
    a = p.parse_args(argv)
    try:
        run_job(a.config, RayJob(a.workers, a.gpus_per_worker, a.cpus_per_worker, a.address, a.placement,
                                 a.ready_timeout))
    except W2SError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
