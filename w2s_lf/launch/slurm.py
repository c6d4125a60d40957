"""One LLaMA-Factory training stage as one torchrun job over the nodes of a SLURM allocation.

A launcher (`w2s_lf.launch.base`) beside torchrun on one node and Ray, for clusters where SLURM
hands out the nodes. The controller (`w2s-lf run` in the sbatch script, which SLURM runs on the allocation's
first node) starts, per training stage, one job step:

    srun --nodes=N --ntasks=N --ntasks-per-node=1 --kill-on-bad-exit=1 \\
      torchrun --nnodes=N --nproc-per-node=G --rdzv-backend=c10d --rdzv-endpoint=HOST:PORT \\
               --rdzv-id=ID --max-restarts=0 -m w2s_lf.lf.cli worker CONFIG

srun starts one torchrun agent per node; the agents meet at the c10d rendezvous on HOST (the
first node) and start G ranks each. The rendezvous id is new for every launch, so two stages can
never join one rendezvous. When a rank dies, its agent stops the node's other ranks and exits
non-zero (`--max-restarts=0`), and `--kill-on-bad-exit` makes srun end the other nodes: the step
fails within seconds. A rerun resumes from the last checkpoint, as with any launcher.

Same file-system rule as on Ray: the config's paths are made absolute and must hold on every node.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from w2s_lf.errors import W2SError
from w2s_lf.launch.base import optim_torch_env, shared_fs_config, shell_line

RDZV_PORT = 29500


@dataclass(frozen=True)
class SrunJob:
    """Where one training stage runs inside a SLURM allocation."""

    nodes: int
    gpus_per_node: int
    rdzv_host: str | None = None        # default: the allocation's first node
    rdzv_port: int = RDZV_PORT
    srun_args: tuple[str, ...] = ()     # e.g. ("--overlap",) when the controller itself runs in a step

    def __post_init__(self):
        if self.nodes < 1 or self.gpus_per_node < 1:
            raise W2SError(f"slurm: nodes ({self.nodes}) and gpus_per_node ({self.gpus_per_node}) must be at least 1")

    kind = "srun"

    def world(self) -> tuple[int, int]:
        return self.gpus_per_node, self.nodes

    def rank_config(self, config: dict) -> dict:
        return shared_fs_config(config, 1)

    def command(self, config_path: str | Path) -> list[str]:
        return srun_torchrun_command(config_path, self)

    def env(self, config: dict) -> dict[str, str]:
        """What LLaMA-Factory's own torchrun launch adds to the ranks' environment (srun passes
        ours on)."""
        return {"DISABLE_VERSION_CHECK": "1", **optim_torch_env(), "PYTHONUNBUFFERED": "1"}

    def shown(self, config_path: str | Path, config: dict) -> str:
        return shell_line(self.command(config_path))


def first_node(nodelist: str | None = None) -> str:
    """The first host of `$SLURM_JOB_NODELIST` (`scontrol show hostnames` expands `gpu[01-04]`)."""
    nodelist = nodelist or os.environ.get("SLURM_JOB_NODELIST")
    if not nodelist:
        raise W2SError("slurm: not inside an allocation ($SLURM_JOB_NODELIST unset); run under sbatch/salloc "
                       "or give the rendezvous host")
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True,
                             check=True, timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError) as e:
        raise W2SError(f"slurm: could not expand the node list '{nodelist}' with scontrol: {e}") from None
    if not out:
        raise W2SError(f"slurm: the node list '{nodelist}' names no host")
    return out[0]


def srun_torchrun_command(config_path: str | Path, job: SrunJob, rdzv_id: str | None = None) -> list[str]:
    """The srun + torchrun command line that trains `config_path` over `job.nodes` nodes."""
    host = job.rdzv_host or first_node()
    rdzv_id = rdzv_id or f"w2s-{os.environ.get('SLURM_JOB_ID', 'job')}-{uuid.uuid4().hex[:8]}"
    torchrun = str(Path(sys.executable).parent / "torchrun")
    # One node of several: on the rendezvous host, where the c10d store is started (an agent
    # elsewhere would wait for a store nobody hosts).
    where = [f"--nodelist={host}"] if job.nodes == 1 else []
    return ["srun", f"--nodes={job.nodes}", f"--ntasks={job.nodes}", "--ntasks-per-node=1", *where,
            "--kill-on-bad-exit=1", *job.srun_args,
            torchrun, f"--nnodes={job.nodes}", f"--nproc-per-node={job.gpus_per_node}",
            "--rdzv-backend=c10d", f"--rdzv-endpoint={host}:{job.rdzv_port}", f"--rdzv-id={rdzv_id}",
            "--max-restarts=0", "-m", "w2s_lf.lf.cli", "worker", str(Path(config_path).absolute())]
