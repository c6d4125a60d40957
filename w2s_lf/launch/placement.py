"""The shape of the machines a run uses: how many GPUs, how many engines, which launcher.

It plans and starts nothing: it says how many engines and ranks a stage gets and which launcher
starts them (`w2s_lf.launch.base`). Coordination across nodes belongs to engines built for it: Ray
(vLLM engines as actors, training ranks as actors: `w2s_lf.launch.ray_job`) or SLURM's `srun`
with torchrun.

Placement knows the interconnect: generation engines are independent, so they spread over every
node; a ZeRO-3 training stage gathers the model's weights from every rank each step, ~130 GB per
rank per pass at 70B, which NVLink inside a node carries at ~360 GB/s per GPU and InfiniBand
between nodes at ~45-50 GB/s. So a training stage whose model fits on one node trains on one
node (70B LoRA: likely 2-3x faster than on two), unless `cluster.training_nodes` says otherwise.
"""

from __future__ import annotations

import functools
import glob
import os
import subprocess
from dataclasses import dataclass, replace

from w2s_lf.run.recipe import ClusterSpec, Recipe

# The share of a node's GPU memory the model's training state may take for the model to count
# as fitting on one node; the rest holds activations, gathered layers and allocator slack.
FITS_SHARE = 0.5
ASSUMED_GPU_BYTES = 80e9   # the presets' GPU (A100/H100 80 GB) when this machine has none to ask


def visible_gpus() -> int:
    """GPUs this process may use, without importing torch (the controller may have no CUDA)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() not in ("", "-1")])
    return len(glob.glob("/dev/nvidia[0-9]*"))


@functools.cache
def gpu_memory() -> tuple[float, bool]:
    """(bytes of the smallest GPU here, measured) from nvidia-smi, without importing torch;
    (ASSUMED_GPU_BYTES, False) when this machine has no GPU to ask."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=30)
        mib = [float(x) for x in out.stdout.split()] if out.returncode == 0 else []
    except (OSError, subprocess.SubprocessError, ValueError):
        mib = []
    return (min(mib) * 2**20, True) if mib else (ASSUMED_GPU_BYTES, False)


@dataclass(frozen=True)
class ClusterShape:
    backend: str          # local | ray | slurm
    nodes: int
    gpus_per_node: int    # 0: CPU only
    address: str | None = None
    training_nodes: int | None = None   # cluster.training_nodes; None: one node when the model fits

    @classmethod
    def of(cls, spec: ClusterSpec) -> "ClusterShape":
        gpus = spec.gpus_per_node if spec.gpus_per_node is not None else visible_gpus()
        return cls(spec.backend, spec.nodes, gpus, spec.address, spec.training_nodes)

    def for_training(self, config: dict, model: str) -> tuple["ClusterShape", str]:
        """The shape a training stage of `model` (a folder or hub id, for its size) runs on, and
        a line saying why; (self, "") where there is nothing to choose (one node, CPUs)."""
        if self.nodes == 1 or not self.gpus_per_node:
            return self, ""
        if self.training_nodes:
            return replace(self, nodes=self.training_nodes), \
                f"training on {self.training_nodes} of {self.nodes} nodes (cluster.training_nodes)"
        from w2s_lf.run.sizes import human, training_memory_bytes
        need = training_memory_bytes(config, model)
        if need is None:
            return self, (f"training on all {self.nodes} nodes: the size of {model} is unknown "
                          "(cluster.training_nodes: 1 keeps it on one node)")
        per_gpu, measured = gpu_memory()
        node = f"{self.gpus_per_node} x {human(per_gpu)} GPUs{'' if measured else ' (assumed)'}"
        if need > FITS_SHARE * per_gpu * self.gpus_per_node:
            return self, f"training on all {self.nodes} nodes: the model (~{human(need)}) needs more than one node's {node}"
        return replace(self, nodes=1), (
            f"training on 1 of {self.nodes} nodes: the model (~{human(need)}) fits one node's {node}; ZeRO-3 "
            f"across nodes would gather its weights over the interconnect every step, several times slower "
            f"than NVLink (cluster.training_nodes: {self.nodes} to spread it)")

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
            # one node: all ranks on it for certain (PACK may split them when a node is busy)
            return RayJob(workers=per_node * nodes, gpus_per_worker=1 if self.gpus else 0, address=self.address,
                          placement="STRICT_PACK" if nodes == 1 else "PACK")
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
