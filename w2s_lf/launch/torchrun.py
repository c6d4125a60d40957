"""Training on this node: LLaMA-Factory's own launch, which starts torchrun for several processes.

`python -m w2s_lf.lf.cli train CONFIG` with the environment `llamafactory-cli` reads
(`NPROC_PER_NODE`, `NNODES`, `MASTER_PORT`, `FORCE_TORCHRUN`, ...), set from the recipe's
`training.launch` or, for `w2s-lf train`, taken from our own environment.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from w2s_lf.errors import W2SError

# recipe `training.launch` key -> environment variable read by `llamafactory-cli`
LAUNCH_ENV = {"nnodes": "NNODES", "node_rank": "NODE_RANK", "master_addr": "MASTER_ADDR",
              "master_port": "MASTER_PORT", "nproc_per_node": "NPROC_PER_NODE"}


def launch_from_env() -> dict:
    """`training.launch` as the llamafactory-cli variables in our environment say (NNODES, ...)."""
    return {key: os.environ[var] for key, var in LAUNCH_ENV.items() if os.environ.get(var)}


def torch_visible_gpus() -> int:
    """CUDA devices this process sees (0 without torch or CUDA); does not create a CUDA context.
    Counted by torch, as llamafactory-cli counts them for its default NPROC_PER_NODE (the
    controller's planner counts without importing torch: `w2s_lf.launch.placement.visible_gpus`)."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@dataclass(frozen=True)
class Torchrun:
    """LLaMA-Factory's launch on this node; `launch` holds `training.launch` keys (LAUNCH_ENV)."""

    launch: dict = field(default_factory=dict)
    kind = "torchrun"

    def __post_init__(self):
        unknown = set(self.launch) - set(LAUNCH_ENV)
        if unknown:
            raise W2SError(f"training.launch: unknown key(s) {sorted(unknown)}; known: {sorted(LAUNCH_ENV)}")

    def world(self) -> tuple[int, int]:
        """`training.launch` where it says, else one process per visible GPU (what
        llamafactory-cli itself would start), at least one."""
        nproc = int(self.launch.get("nproc_per_node") or max(1, torch_visible_gpus()))
        return nproc, int(self.launch.get("nnodes") or 1)

    def rank_config(self, config: dict) -> dict:
        return config   # one machine: the config as written

    def command(self, config_path: str | Path) -> list[str]:
        from w2s_lf.lf.cli import command_line
        return command_line("train", config_path)

    def env(self, config: dict) -> dict[str, str]:
        """Multi-GPU / multi-node settings and version checks off.

        `DISABLE_VERSION_CHECK=1` because w2s-lf runs LLaMA-Factory on a newer transformers than
        it pins (see scripts/setup.sh). NPROC_PER_NODE is always set, to the count the global batch
        was divided by. `FORCE_TORCHRUN=1` whenever more than one process is asked for, and for
        DeepSpeed even on one GPU (LLaMA-Factory refuses DeepSpeed outside torchrun)."""
        nproc, nnodes = self.world()
        env = {"DISABLE_VERSION_CHECK": "1"}
        for key, var in LAUNCH_ENV.items():
            if self.launch.get(key) is not None:
                env[var] = str(self.launch[key])
        env["NPROC_PER_NODE"] = str(nproc)
        if nproc * nnodes > 1 or config.get("deepspeed"):
            env["FORCE_TORCHRUN"] = "1"
        return env

    def shown(self, config_path: str | Path, config: dict) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.env(config).items())
        return f"{env} python -m w2s_lf.lf.cli train {shlex.quote(str(config_path))}"
