"""The shape of the machines a run uses: how many GPUs, how many engines, which launcher.

It plans and starts nothing: it says how many engines and ranks a stage gets and which launcher
starts them (`w2s_lf.launch.base`). Coordination across nodes belongs to engines built for it: Ray
(vLLM engines as actors, training ranks as actors: `w2s_lf.launch.ray_job`) or SLURM's `srun`
with torchrun.
"""

from __future__ import annotations

import glob
import os
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

    def launcher(self, launch: dict, config: dict | None = None, shown: bool = False):
        """The `Launcher` of a training stage on this shape: torchrun on this node, one Ray job,
        or one srun + torchrun step. `shown`: for a dry run outside an allocation, the SLURM
        rendezvous host is written `$FIRST_NODE`."""
        per_node, nodes = self.training_world(launch, config)
        if self.backend == "ray":
            from w2s_lf.launch.ray_job import RayJob
            return RayJob(workers=per_node * nodes, gpus_per_worker=1 if self.gpus else 0, address=self.address)
        if self.backend == "slurm":
            from w2s_lf.launch.slurm import SrunJob
            host = "$FIRST_NODE" if shown and not os.environ.get("SLURM_JOB_NODELIST") else None
            return SrunJob(nodes=nodes, gpus_per_node=per_node, rdzv_host=host)
        from w2s_lf.launch.torchrun import Torchrun
        return Torchrun({**launch, "nproc_per_node": per_node})

    def write_training_config(self, config: dict, config_path, launch: dict, deepspeed: dict | None = None):
        """The config with its global batch resolved for this shape, written where it is launched
        from; returns (LLaMA-Factory config, a line about the batch)."""
        from w2s_lf.lf.train import write_train_config
        return write_train_config(config, config_path, self.training_world(launch, config), deepspeed)

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
