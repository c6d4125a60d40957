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

from w2s_lf.errors import W2SError
from w2s_lf.launch.base import Launcher
from w2s_lf.launch.proctree import run_logged
from w2s_lf.lf.configs import resolve_batch, write_config

OURS = ".w2s_lf_output"   # in an output_dir that w2s-lf created (or found empty) for a training


def check_output_dir(output_dir: str | Path, overwrite: bool = False) -> bool:
    """Whether `output_dir` is ours (w2s-lf created it, or found it missing or empty, and marked
    it with `OURS`). A folder that is not ours and that LLaMA-Factory would neither resume from
    (no checkpoint-*) nor train into as asked (`overwrite`: `overwrite_output_dir`) is refused:
    it may be anyone's (`output_dir=.` is the working directory)."""
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise W2SError(f"output_dir {output_dir} is a file; name a folder")
    if (output_dir / OURS).is_file() or not output_dir.is_dir() or not any(output_dir.iterdir()):
        return True
    if not overwrite and not any(output_dir.glob("checkpoint-*")):
        raise W2SError(f"output_dir {output_dir} exists and w2s-lf did not create it (no {OURS}); nothing "
                       "was deleted. Name a new output_dir, or set overwrite_output_dir=true to train into "
                       "it as LLaMA-Factory does (files of the same name are overwritten, none removed)")
    return False


def prepare_output_dir(output_dir: str | Path, overwrite: bool = False) -> None:
    """Make `output_dir` ready for LLaMA-Factory, deleting only inside a folder that is ours.

    Ours: a checkpoint without a readable trainer_state.json (which transformers writes last) was
    cut off by a kill or a lost node while being written; resuming would pick it and fail, so it
    goes and the rerun resumes from the one before (why the GPU presets keep two:
    `save_total_limit: 2`); with no checkpoint left, the folder holds an earlier training's
    output and is cleared, which LLaMA-Factory would otherwise refuse ('Output directory already
    exists') or mix with the new one. Not ours: nothing is deleted; LLaMA-Factory resumes from its
    checkpoints or, with `overwrite`, trains into it (see `check_output_dir`)."""
    output_dir = Path(output_dir)
    if not check_output_dir(output_dir, overwrite):
        return
    if (output_dir / OURS).is_file():
        for checkpoint in output_dir.glob("checkpoint-*"):
            try:
                json.loads((checkpoint / "trainer_state.json").read_text())
            except (OSError, ValueError):
                shutil.rmtree(checkpoint)
        if not any(output_dir.glob("checkpoint-*")):
            shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / OURS).write_text("created by w2s-lf for a training; w2s-lf may clear this folder "
                                   "when it trains here again\n")


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
    overwrite = bool(config.get("overwrite_output_dir"))
    check_output_dir(config["output_dir"], overwrite)   # before anything is written
    deepspeed = deepspeed if "deepspeed" in config else None   # CPU ranks drop ZeRO
    lf_config, _ = write_train_config(config, config_path, launcher.world(), deepspeed)
    if validate:
        from w2s_lf.lf.validate import check_config
        check_config(lf_config, name=str(config_path))
    prepare_output_dir(lf_config["output_dir"], overwrite)
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
