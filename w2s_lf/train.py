"""Launch LLaMA-Factory: `llamafactory-cli train|export` as a subprocess, checked first.

Training runs in its own process (LLaMA-Factory may itself start torchrun for several GPUs or
nodes), with its full output in a log file, a progress bar read from that output, and on
failure an error that quotes the log's last lines.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import deque
from pathlib import Path


from w2s_lf.configs import write_config
from w2s_lf.errors import W2SError

# recipe `training.launch` key -> environment variable read by `llamafactory-cli`
LAUNCH_ENV = {"nnodes": "NNODES", "node_rank": "NODE_RANK", "master_addr": "MASTER_ADDR",
              "master_port": "MASTER_PORT", "nproc_per_node": "NPROC_PER_NODE"}
PROGRESS = re.compile(r"(\d+)/(\d+) \[")


def launch_env(launch: dict | None = None) -> dict[str, str]:
    """Environment for `llamafactory-cli`: multi-GPU / multi-node settings and version checks off.

    `DISABLE_VERSION_CHECK=1` because w2s-lf runs LLaMA-Factory on a newer transformers than it
    pins (see scripts/setup.sh); `FORCE_TORCHRUN=1` whenever more than one process is asked for.
    """
    env = {"DISABLE_VERSION_CHECK": "1"}
    launch = launch or {}
    unknown = set(launch) - set(LAUNCH_ENV)
    if unknown:
        raise W2SError(f"training.launch: unknown key(s) {sorted(unknown)}; known: {sorted(LAUNCH_ENV)}")
    for key, var in LAUNCH_ENV.items():
        if launch.get(key) is not None:
            env[var] = str(launch[key])
    if int(launch.get("nnodes") or 1) > 1 or int(launch.get("nproc_per_node") or 1) > 1:
        env["FORCE_TORCHRUN"] = "1"
    return env


def lf_launch_command(command: str, config_path: str | Path) -> list[str]:
    """LLaMA-Factory's CLI as this environment's Python runs it with our templates registered
    (`w2s_lf.lf_launch`); `llamafactory-cli` itself does not know `w2s_vanilla`."""
    return [sys.executable, "-m", "w2s_lf.lf_launch", command, str(config_path)]


def prepare_output_dir(output_dir: str | Path) -> None:
    """Keep a folder with checkpoints (LLaMA-Factory resumes from the last one); clear any other
    leftovers, which would otherwise stop LLaMA-Factory with 'Output directory already exists'.

    A checkpoint without trainer_state.json (which transformers writes last) was cut off by a
    kill or a lost node while being written; resuming would pick it as the last one and fail,
    so it goes and the rerun resumes from the one before."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return
    for checkpoint in output_dir.glob("checkpoint-*"):
        if checkpoint.is_dir() and not (checkpoint / "trainer_state.json").is_file():
            shutil.rmtree(checkpoint)
    if not any(output_dir.glob("checkpoint-*")):
        shutil.rmtree(output_dir)


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the parent dies (Linux), so a killed `w2s-lf run` never
    leaves a generation or training process behind writing into the run folder."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


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
    with open(log_path, "ab") as log:   # append: a stage's several commands, and its resumes
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    env={**os.environ, **(env or {})}, preexec_fn=_die_with_parent)
        except OSError as e:
            raise W2SError(f"could not start {cmd[0]}: {e}") from None
        pending = b""
        while chunk := proc.stdout.read1(65536):
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
        returncode = proc.wait()
    bar.close()
    if returncode != 0:
        quoted = "\n  ".join(last_lines)
        raise W2SError(f"{' '.join(cmd[:3])} ... failed (exit {returncode}); full log: {log_path}; "
                       f"last lines:\n  {quoted}")


def run_llamafactory(command: str, config_path: str | Path, log_path: str | Path,
                     env: dict[str, str] | None = None, progress: bool = True) -> None:
    """`llamafactory-cli COMMAND CONFIG` (through `w2s_lf.lf_launch`) via `run_logged`."""
    run_logged(lf_launch_command(command, config_path), log_path, env,
               f"{command} {Path(config_path).stem}", progress)


def train(config: dict, config_path: str | Path, log_path: str | Path, launch: dict | None = None,
          validate: bool = True, progress: bool = True) -> Path:
    """Check a training config, write it, and train; returns the output folder."""
    if validate:
        from w2s_lf.validate import check_config
        check_config(config)
    write_config(config_path, config)
    prepare_output_dir(config["output_dir"])
    run_llamafactory("train", config_path, log_path, launch_env(launch), progress)
    return Path(config["output_dir"])


def export(config: dict, config_path: str | Path, log_path: str | Path, progress: bool = True) -> Path:
    """Merge a LoRA adapter into its base model (`llamafactory-cli export`)."""
    write_config(config_path, config)
    run_llamafactory("export", config_path, log_path, launch_env(), progress)
    return Path(config["export_dir"])
