"""The interface every training launcher implements, and the config rule they share.

A training stage is one LLaMA-Factory job. Where its ranks run is the launcher's business:
`Torchrun` (this node; LLaMA-Factory's own torchrun launch), `RayJob` (one Ray actor per rank
over a Ray cluster) or `SrunJob` (one torchrun agent per node inside a SLURM allocation).
`w2s_lf.lf.train.train` drives any of them the same way: it asks the launcher how many ranks the
global batch is divided by (`world`), how every rank must see the config (`rank_config`), then
runs `command` with `env` as one supervised, logged process.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Protocol


class Launcher(Protocol):
    kind: str            # "torchrun", "ray" or "srun": names the launch in plans and logs

    def world(self) -> tuple[int, int]:
        """(processes per node, nodes): what the global batch is divided by."""

    def rank_config(self, config: dict) -> dict:
        """The config as every rank must see it (paths, devices, timeouts)."""

    def command(self, config_path: str | Path) -> list[str]:
        """The process that trains `config_path` (it starts the ranks)."""

    def env(self, config: dict) -> dict[str, str]:
        """Environment `command` needs on top of ours, for the config as written."""

    def shown(self, config_path: str | Path, config: dict) -> str:
        """The shell line a dry run prints for this launch."""


# What LLaMA-Factory's own torchrun launch puts in every rank's environment (llamafactory/launcher.py,
# unless OPTIM_TORCH is off): the CUDA allocator's expandable segments (less fragmentation, so fewer
# out-of-memory stops at 70B) and no record_stream on NCCL's tensors (memory freed sooner).
OPTIM_TORCH_ENV = {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True", "TORCH_NCCL_AVOID_RECORD_STREAMS": "1"}


def optim_torch_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """OPTIM_TORCH_ENV for ranks our own launchers start (Ray, srun), as LLaMA-Factory's torchrun
    launch gives them; a value already in the environment stays, and OPTIM_TORCH=0 turns it off."""
    environ = os.environ if environ is None else environ
    if environ.get("OPTIM_TORCH", "1").lower() not in ("true", "y", "1"):
        return {}
    return {k: v for k, v in OPTIM_TORCH_ENV.items() if k not in environ}


def shared_fs_config(config: dict, gpus_per_rank: int, base: str | Path | None = None) -> dict:
    """The config as ranks on several machines must see it: every path absolute (the nodes share
    the file system), `ddp_timeout` bounded (a config may set a shorter one),
    `data_shared_file_system` (only the global rank 0 preprocesses the datasets first, not the
    local rank 0 of every node into one shared cache; on one node they are the same process),
    and on CPU ranks `use_cpu` with gloo and no DeepSpeed (ZeRO needs an accelerator)."""
    from w2s_lf.lf.configs import DDP_TIMEOUT, absolute_paths
    out = absolute_paths(config, base)
    out["data_shared_file_system"] = True
    if gpus_per_rank == 0:
        out.update(use_cpu=True, ddp_backend="gloo", bf16=False, fp16=False)
        out.pop("deepspeed", None)
    out["ddp_timeout"] = min(int(out.get("ddp_timeout") or DDP_TIMEOUT), DDP_TIMEOUT)
    return out


def shell_line(cmd: list[str]) -> str:
    """A command as a dry run shows it: quoted, with `python` for this interpreter's path."""
    return " ".join("python" if part == sys.executable else shlex.quote(part) for part in cmd)
