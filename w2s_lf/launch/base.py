"""The interface every training launcher implements, and the config rule they share.

A training stage is one LLaMA-Factory job. Where its ranks run is the launcher's business:
`Torchrun` (this node; LLaMA-Factory's own torchrun launch), `RayJob` (one Ray actor per rank
over a Ray cluster) or `SrunJob` (one torchrun agent per node inside a SLURM allocation).
`w2s_lf.lf.train.train` drives any of them the same way: it asks the launcher how many ranks the
global batch is divided by (`world`), how every rank must see the config (`rank_config`), then
runs `command` with `env` as one supervised, logged process.
"""

from __future__ import annotations

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


def shared_fs_config(config: dict, gpus_per_rank: int, base: str | Path | None = None) -> dict:
    """The config as ranks on several machines must see it: every path absolute (the nodes share
    the file system), `ddp_timeout` bounded (a config may set a shorter one), and on CPU ranks
    `use_cpu` with gloo and no DeepSpeed (ZeRO needs an accelerator)."""
    from w2s_lf.lf.configs import DDP_TIMEOUT, absolute_paths
    out = absolute_paths(config, base)
    if gpus_per_rank == 0:
        out.update(use_cpu=True, ddp_backend="gloo", bf16=False, fp16=False)
        out.pop("deepspeed", None)
    out["ddp_timeout"] = min(int(out.get("ddp_timeout") or DDP_TIMEOUT), DDP_TIMEOUT)
    return out


def shell_line(cmd: list[str]) -> str:
    """A command as a dry run shows it: quoted, with `python` for this interpreter's path."""
    return " ".join("python" if part == sys.executable else shlex.quote(part) for part in cmd)
