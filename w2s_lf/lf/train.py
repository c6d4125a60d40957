"""Launch LLaMA-Factory: `llamafactory-cli train|export` as a subprocess, checked first.

Training runs in its own process (LLaMA-Factory may itself start torchrun for several GPUs or
nodes), with its full output in a log file, a progress bar read from that output, and on
failure an error that quotes the log's last lines.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import deque
from pathlib import Path


from w2s_lf.lf.configs import resolve_batch, write_config
from w2s_lf.errors import W2SError
from w2s_lf.launch.proctree import Supervised

# recipe `training.launch` key -> environment variable read by `llamafactory-cli`
LAUNCH_ENV = {"nnodes": "NNODES", "node_rank": "NODE_RANK", "master_addr": "MASTER_ADDR",
              "master_port": "MASTER_PORT", "nproc_per_node": "NPROC_PER_NODE"}
PROGRESS = re.compile(r"(\d+)/(\d+) \[")


def _check_launch(launch: dict) -> None:
    unknown = set(launch) - set(LAUNCH_ENV)
    if unknown:
        raise W2SError(f"training.launch: unknown key(s) {sorted(unknown)}; known: {sorted(LAUNCH_ENV)}")


def launch_from_env() -> dict:
    """`training.launch` as the llamafactory-cli variables in our environment say (NNODES, ...)."""
    return {key: os.environ[var] for key, var in LAUNCH_ENV.items() if os.environ.get(var)}


def visible_gpus() -> int:
    """CUDA devices this process sees (0 without torch or CUDA); does not create a CUDA context.
    Counted by torch, as llamafactory-cli counts them for its default NPROC_PER_NODE (the
    controller's planner counts without importing torch: `w2s_lf.launch.placement.visible_gpus`)."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def launch_world(launch: dict | None = None) -> tuple[int, int]:
    """(processes per node, nodes) a training launch uses: `training.launch` where it says, else
    one process per visible GPU (what llamafactory-cli itself would start), at least one."""
    launch = launch or {}
    _check_launch(launch)
    nproc = int(launch.get("nproc_per_node") or max(1, visible_gpus()))
    return nproc, int(launch.get("nnodes") or 1)


def launch_env(launch: dict | None = None, deepspeed: bool = False) -> dict[str, str]:
    """Environment for `llamafactory-cli`: multi-GPU / multi-node settings and version checks off.

    `DISABLE_VERSION_CHECK=1` because w2s-lf runs LLaMA-Factory on a newer transformers than it
    pins (see scripts/setup.sh). NPROC_PER_NODE is always set, to the count the global batch was
    divided by. `FORCE_TORCHRUN=1` whenever more than one process is asked for, and for DeepSpeed
    even on one GPU (LLaMA-Factory refuses DeepSpeed outside torchrun).
    """
    launch = launch or {}
    nproc, nnodes = launch_world(launch)
    env = {"DISABLE_VERSION_CHECK": "1"}
    for key, var in LAUNCH_ENV.items():
        if launch.get(key) is not None:
            env[var] = str(launch[key])
    env["NPROC_PER_NODE"] = str(nproc)
    if nproc * nnodes > 1 or deepspeed:
        env["FORCE_TORCHRUN"] = "1"
    return env


def lf_launch_command(command: str, config_path: str | Path) -> list[str]:
    """LLaMA-Factory's CLI as this environment's Python runs it with our templates registered
    (`w2s_lf.lf.cli`); `llamafactory-cli` itself does not know `w2s_vanilla`."""
    return [sys.executable, "-m", "w2s_lf.lf.cli", command, str(config_path)]


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


def run_logged(cmd: list[str], log_path: str | Path, env: dict[str, str] | None = None,
               label: str | None = None, progress: bool = True, tail: int = 25) -> None:
    """Run `cmd`, teeing its output to `log_path` and showing one progress bar read from the
    `n/total [` counters that tqdm (ours, vLLM's, the HF Trainer's) prints. On failure, raise
    with the log's last lines."""
    import tqdm

    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    last_lines: deque[str] = deque(maxlen=tail)
    bar = tqdm.tqdm(desc=label or Path(cmd[0]).name, disable=None if progress else True,  # None: off when not a TTY
                    leave=False, dynamic_ncols=True)
    # Append (a stage's several commands, and its resumes), unbuffered: when `w2s-lf` is killed
    # the log must still hold what the command printed up to then.
    with open(log_path, "ab", buffering=0) as log:
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        try:   # under a supervisor: the whole tree ends with us (see w2s_lf.launch.proctree)
            tree = Supervised(cmd, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except OSError as e:
            raise W2SError(f"could not start {cmd[0]}: {e}") from None
        with tree:
            pending = b""
            while chunk := tree.proc.stdout.read1(65536):
                log.write(chunk)
                pending += chunk
                *pieces, pending = re.split(rb"[\r\n]", pending)
                for piece in pieces:
                    text = piece.decode(errors="replace").strip()
                    if not text:
                        continue
                    last_lines.append(text)
                    if m := PROGRESS.search(text):
                        bar.total, bar.n = int(m.group(2)), int(m.group(1))
                        bar.refresh()
            returncode = tree.wait()
    bar.close()
    if returncode != 0:
        quoted = "\n  ".join(last_lines)
        raise W2SError(f"{' '.join(cmd[:3])} ... failed (exit {returncode}); full log: {log_path}; "
                       f"last lines:\n  {quoted}")


def run_llamafactory(command: str, config_path: str | Path, log_path: str | Path,
                     env: dict[str, str] | None = None, progress: bool = True) -> None:
    """`llamafactory-cli COMMAND CONFIG` (through `w2s_lf.lf.cli`) via `run_logged`."""
    run_logged(lf_launch_command(command, config_path), log_path, env,
               f"{command} {Path(config_path).stem}", progress)


def write_train_config(config: dict, config_path: str | Path, launch: dict | None = None,
                       deepspeed: dict | None = None) -> tuple[dict, dict[str, str], str]:
    """Resolve a planned config for the launch and write what LLaMA-Factory reads.

    The global batch becomes gradient_accumulation_steps for `launch_world(launch)`; with
    `deepspeed` (the JSON content), that file is written where `config["deepspeed"]` points.
    Returns (the LLaMA-Factory config, its launch environment, a line about the batch).
    """
    nproc, nnodes = launch_world(launch)
    lf_config, note = resolve_batch(config, nproc, nnodes)
    if deepspeed is not None:
        from w2s_lf.lf.configs import deepspeed_json
        from w2s_lf.io import write_text
        write_text(lf_config["deepspeed"], deepspeed_json(deepspeed))
    write_config(config_path, lf_config)
    return lf_config, launch_env(launch, bool(lf_config.get("deepspeed"))), note


def train(config: dict, config_path: str | Path, log_path: str | Path, launch: dict | None = None,
          validate: bool = True, progress: bool = True, deepspeed: dict | None = None,
          cluster=None) -> Path:
    """Resolve, write and check a training config, then train; returns the output folder.

    `cluster`: None trains on this machine (torchrun per `launch`); a `ray_train.RayJob` runs the
    stage as one job over a Ray cluster, an `srun_train.SrunJob` as one srun + torchrun step in a
    SLURM allocation. Either way the global batch is divided by the job's own number of ranks,
    and every path in the written config is absolute (the nodes share the file system)."""
    if cluster is not None:
        from w2s_lf.launch.ray_job import rank_config
        config, launch = rank_config(config, cluster.gpus_per_rank), cluster.launch()
        deepspeed = deepspeed if "deepspeed" in config else None   # CPU ranks drop ZeRO
    lf_config, env, _ = write_train_config(config, config_path, launch, deepspeed)
    if validate:
        from w2s_lf.lf.validate import check_config
        check_config(lf_config, name=str(config_path))
    prepare_output_dir(lf_config["output_dir"])
    if cluster is None:
        run_llamafactory("train", config_path, log_path, env, progress)
    else:
        run_logged(cluster.command(config_path), log_path, cluster.env(),
                   f"train {Path(config_path).stem} ({cluster.kind})", progress)
    return Path(lf_config["output_dir"])


def export(config: dict, config_path: str | Path, log_path: str | Path, progress: bool = True) -> Path:
    """Merge a LoRA adapter into its base model (`llamafactory-cli export`)."""
    write_config(config_path, config)
    run_llamafactory("export", config_path, log_path, {"DISABLE_VERSION_CHECK": "1"}, progress)
    return Path(config["export_dir"])
