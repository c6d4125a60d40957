"""Train or merge with LLaMA-Factory: resolve and write the config, check it, launch, log.

Training runs as one supervised process tree (`w2s_lf.launch.proctree.run_logged`) started by a
launcher (`w2s_lf.launch.base.Launcher`: torchrun on this node, a Ray job, or srun in a SLURM
allocation), with its full output in a log file, a progress bar read from that output, and on
failure an error that quotes the log's last lines.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from w2s_lf.launch.base import Launcher
from w2s_lf.launch.proctree import run_logged
from w2s_lf.lf.configs import resolve_batch, write_config


def prepare_output_dir(output_dir: str | Path) -> None:
    """Keep a folder with checkpoints (LLaMA-Factory resumes from the last one); clear any other
    leftovers, which would otherwise stop LLaMA-Factory with 'Output directory already exists'.

    A checkpoint without a readable trainer_state.json (which transformers writes last) was cut
    off by a kill or a lost node while being written; resuming would pick it as the last one and
    fail, so it goes and the rerun resumes from the one before (why the GPU presets keep two:
    `save_total_limit: 2`)."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return
    for checkpoint in output_dir.glob("checkpoint-*"):
        try:
            json.loads((checkpoint / "trainer_state.json").read_text())
        except (OSError, ValueError):
            shutil.rmtree(checkpoint)
    if not any(output_dir.glob("checkpoint-*")):
        shutil.rmtree(output_dir)


def write_train_config(config: dict, config_path: str | Path, world: tuple[int, int],
                       deepspeed: dict | None = None) -> tuple[dict, str]:
    """Resolve a planned config for `world` (processes per node, nodes) and write what
    LLaMA-Factory reads: the global batch becomes gradient_accumulation_steps; with `deepspeed`
    (the JSON content), that file is written where `config["deepspeed"]` points. Returns (the
    LLaMA-Factory config, a line about the batch)."""
    lf_config, note = resolve_batch(config, *world)
    if deepspeed is not None:
        from w2s_lf.io import write_text
        from w2s_lf.lf.configs import deepspeed_json
        write_text(lf_config["deepspeed"], deepspeed_json(deepspeed))
    write_config(config_path, lf_config)
    return lf_config, note


def train(config: dict, config_path: str | Path, log_path: str | Path, launcher: Launcher | None = None,
          validate: bool = True, progress: bool = True, deepspeed: dict | None = None,
          timeout: float | None = None) -> Path:
    """Resolve, write and check a training config, then train; returns the output folder.

    `launcher` says where the ranks run (default: torchrun on this node as our environment's
    NPROC_PER_NODE etc. say); the global batch is divided by its number of ranks."""
    if launcher is None:
        from w2s_lf.launch.torchrun import Torchrun, launch_from_env
        launcher = Torchrun(launch_from_env())
    config = launcher.rank_config(config)
    deepspeed = deepspeed if "deepspeed" in config else None   # CPU ranks drop ZeRO
    lf_config, _ = write_train_config(config, config_path, launcher.world(), deepspeed)
    if validate:
        from w2s_lf.lf.validate import check_config
        check_config(lf_config, name=str(config_path))
    prepare_output_dir(lf_config["output_dir"])
    run_logged(launcher.command(config_path), log_path, launcher.env(lf_config),
               f"train {Path(config_path).stem}", progress, timeout=timeout)
    return Path(lf_config["output_dir"])


def export(config: dict, config_path: str | Path, log_path: str | Path, progress: bool = True,
           timeout: float | None = None) -> Path:
    """Merge a LoRA adapter into its base model (`llamafactory-cli export`)."""
    from w2s_lf.lf.cli import command_line
    write_config(config_path, config)
    run_logged(command_line("export", config_path), log_path, {"DISABLE_VERSION_CHECK": "1"},
               f"export {Path(config_path).stem}", progress, timeout=timeout)
    return Path(config["export_dir"])
