"""The shape of the machines a run uses: how many GPUs, how many engines, which launcher.

This only plans; it starts nothing. Coordination across nodes belongs to engines built for it:
Ray (vLLM engines as actors, training ranks as actors: `w2s_lf.launch.ray_job`) or SLURM's `srun` with torchrun.
"""

from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass

from w2s_lf.run.recipe import ClusterSpec, Recipe


def visible_gpus() -> int:
    """GPUs this process may use, without importing torch (the controller may have no CUDA)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() not in ("", "-1")])
    return len(glob.glob("/dev/nvidia[0-9]*"))


@dataclass(frozen=True)
class ClusterShape:
    backend: str          # local | ray | slurm
    nodes: int
    gpus_per_node: int    # 0: CPU only
    address: str | None = None

    @classmethod
    def of(cls, spec: ClusterSpec) -> "ClusterShape":
        gpus = spec.gpus_per_node if spec.gpus_per_node is not None else visible_gpus()
        return cls(spec.backend, spec.nodes, gpus, spec.address)

    @property
    def gpus(self) -> int:
        return self.nodes * self.gpus_per_node

    def engines(self, tensor_parallel_size: int, wanted: int | None = None) -> int:
        """Data-parallel generation engines of one TP group each: every GPU used unless `wanted`."""
        if wanted:
            return wanted
        if not self.gpus:
            return 1
        if tensor_parallel_size > self.gpus_per_node and self.backend == "local":
            return 1   # one engine spanning the node; vLLM reports if it does not fit
        return max(1, self.gpus // tensor_parallel_size)

    def training_world(self, launch: dict, config: dict | None = None) -> tuple[int, int]:
        """(processes per node, nodes) of a training stage: one per GPU of every node
        (`training.launch.nproc_per_node` on one node says otherwise), one on a CPU machine.
        A stage whose global batch is smaller than that many ranks can use uses fewer nodes
        (the 7B weak model's batch of 16 fills one 8-GPU node, not two)."""
        if self.backend == "local":
            return int(launch.get("nproc_per_node") or self.gpus_per_node or 1), 1
        per_node, nodes = self.gpus_per_node or 1, self.nodes
        if config and config.get("global_batch_size"):
            rank_batch = per_node * int(config.get("per_device_train_batch_size", 8))
            while nodes > 1 and int(config["global_batch_size"]) % (rank_batch * nodes):
                nodes -= 1
        return per_node, nodes

    def torchrun_launch(self, launch: dict) -> dict:
        """`training.launch` for LLaMA-Factory's torchrun launcher on this node."""
        return {**launch, "nproc_per_node": self.training_world(launch)[0]}

    # -- training: one stage = one job over the cluster, through the engine built for it --------
    def ray_job(self, world: tuple[int, int]):
        from w2s_lf.launch.ray_job import RayJob
        per_node, nodes = world
        return RayJob(workers=per_node * nodes, gpus_per_worker=1 if self.gpus else 0, address=self.address)

    def srun_job(self, world: tuple[int, int], shown: bool = False):
        from w2s_lf.launch.slurm import SrunJob
        host = "$FIRST_NODE" if shown and not os.environ.get("SLURM_JOB_NODELIST") else None
        return SrunJob(nodes=world[1], gpus_per_node=world[0], rdzv_host=host)

    def training_job(self, world: tuple[int, int], shown: bool = False):
        """The job object `w2s_lf.lf.train.train(cluster=...)` launches; None: torchrun on this node."""
        if self.backend == "ray":
            return self.ray_job(world)
        if self.backend == "slurm":
            return self.srun_job(world, shown)
        return None

    def training_command(self, config_path: str, launch: dict, config: dict) -> str:
        """What a training stage runs, as a shell line (for --dry-run)."""
        import shlex
        job = self.training_job(self.training_world(launch, config), shown=True)
        if job is None:
            from w2s_lf.lf.train import launch_env
            deepspeed = bool(config.get("deepspeed"))
            env = " ".join(f"{k}={v}" for k, v in launch_env(self.torchrun_launch(launch), deepspeed).items())
            return f"{env} python -m w2s_lf.lf.cli train {shlex.quote(config_path)}"
        return " ".join("python" if part == sys.executable else shlex.quote(part) for part in job.command(config_path))

    def write_training_config(self, config: dict, config_path, launch: dict, deepspeed: dict | None = None):
        """The config with its global batch resolved for this shape, written where it is launched
        from; returns (LLaMA-Factory config, launch environment, a line about the batch)."""
        from w2s_lf.lf.train import write_train_config
        per_node, nodes = self.training_world(launch, config)
        world = {"nproc_per_node": per_node, **({"nnodes": nodes} if nodes > 1 else {})}
        return write_train_config(config, config_path, {**launch, **world}, deepspeed)

    def train(self, config: dict, config_path: str, log_path, launch: dict, progress: bool = True,
              deepspeed: dict | None = None):
        from w2s_lf.lf import train
        job = self.training_job(self.training_world(launch, config))
        return train.train(config, config_path, log_path, self.torchrun_launch(launch), progress=progress,
                           deepspeed=deepspeed, cluster=job)

    def generation_placement(self, tp: int, engines: int) -> str:
        if not self.gpus:
            return "this machine, CPU"
        where = "this node" if self.backend == "local" else f"{self.nodes} node(s) via {self.backend}"
        return f"{engines} engine(s) x TP {tp} on {where}"

    def training_placement(self, world: tuple[int, int]) -> str:
        if not self.gpus:
            return "this machine, CPU"
        via = {"local": "torchrun on this node", "ray": "a Ray train job", "slurm": "srun + torchrun"}[self.backend]
        return f"{world[0] * world[1]} process(es) over {world[1]} node(s), {via}"


def shape_of(recipe: Recipe) -> ClusterShape:
    return ClusterShape.of(recipe.cluster)
