"""Launching training: the venv's torchrun without activation, and no process left behind.

The real case: `w2s-lf train` on a 2-process CPU torchrun (gloo) LLaMA-Factory run of the tiny
model, with a PATH that lacks the venv; SIGKILL of `w2s-lf` mid-training must take torchrun and
both workers (each in a session of its own) down within seconds, and the rerun resumes from the
last complete checkpoint. The other signals are checked on a cheap tree of the same shape.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
NO_VENV_PATH = "/usr/local/bin:/usr/bin:/bin"


def tree(root: int) -> list[int]:
    """Live descendants of `root` (by parent pid, zombies left out)."""
    from w2s_lf.launch.proctree import _live_descendants
    return _live_descendants(root)


def alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z":
            out.append(pid)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def wait_for(condition, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := condition()):
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the parent exited ({proc.returncode}) before {what}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def parent_env() -> dict[str, str]:
    """A shell where the venv is not activated: its bin folder is not on PATH."""
    return {**os.environ, "PATH": NO_VENV_PATH, "PYTHONPATH": str(REPO), "DISABLE_VERSION_CHECK": "1"}


def test_child_env_puts_this_venv_first(monkeypatch, tmp_path):
    from w2s_lf.launch.proctree import child_env, run_logged
    monkeypatch.setenv("PATH", NO_VENV_PATH)
    venv_bin = str(Path(sys.executable).parent)
    assert child_env()["PATH"].split(os.pathsep)[0] == venv_bin
    assert child_env({"PATH": f"/x:{venv_bin}"})["PATH"] == f"{venv_bin}:/x"
    run_logged(["sh", "-c", "command -v torchrun; command -v llamafactory-cli"], tmp_path / "log", progress=False)
    assert (tmp_path / "log").read_text().splitlines()[1:] == [f"{venv_bin}/torchrun", f"{venv_bin}/llamafactory-cli"]


# A tree shaped like torchrun's: a child in our session, and one that made a session of its own
# and whose parent then died (re-parented: invisible to a process-group kill).
SHAPE = "setsid sh -c 'sleep 300 & wait' & sleep 300 & wait"
PARENT = ("import sys; from w2s_lf.launch.proctree import run_logged; "
          "run_logged(['sh', '-c', sys.argv[1]], sys.argv[2], progress=False)")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_killing_the_parent_ends_the_whole_tree(tmp_path, sig):
    proc = subprocess.Popen([sys.executable, "-c", PARENT, SHAPE, str(tmp_path / "log")], env=parent_env())
    def both_sleeps():
        sleeps = [p for p in tree(proc.pid) if cmdline(p).startswith("sleep")]
        return sleeps if len(sleeps) == 2 else None

    try:
        sleeps = wait_for(both_sleeps, 20, "the tree to start", proc)
        everything = tree(proc.pid)
        proc.send_signal(sig)
        wait_for(lambda: not alive(everything), 8, f"the tree to end after {sig.name}")
        assert proc.wait(10) != 0 and not alive(sleeps)
    finally:
        proc.kill()


def test_a_finished_command_leaves_nothing_behind(tmp_path):
    from w2s_lf.errors import W2SError
    from w2s_lf.launch.proctree import run_logged
    marker = f"sleep {300 + os.getpid() % 100}"   # unique among the machine's processes
    with pytest.raises(W2SError, match="exit 3"):
        run_logged(["sh", "-c", f"setsid {marker} & echo started; exit 3"], tmp_path / "log", progress=False)
    time.sleep(0.2)
    assert not [p for p in map(int, filter(str.isdigit, os.listdir("/proc"))) if cmdline(p).strip() == marker]


def test_a_command_past_its_timeout_is_stopped_with_its_tree(tmp_path):
    """A rank hung in a collective must not hang the caller: the tree goes, the error says why."""
    from w2s_lf.errors import W2SError
    from w2s_lf.launch.proctree import run_logged
    marker = f"sleep {400 + os.getpid() % 100}"
    start = time.monotonic()
    with pytest.raises(W2SError, match=r"was stopped after 1 s.*last lines:\n  hanging"):
        run_logged(["sh", "-c", f"echo hanging; setsid {marker} & {marker}"], tmp_path / "log", progress=False, timeout=1)
    assert time.monotonic() - start < 15
    time.sleep(0.2)
    assert not [p for p in map(int, filter(str.isdigit, os.listdir("/proc"))) if cmdline(p).strip() == marker]
    run_logged(["true"], tmp_path / "log", progress=False, timeout=30)   # in time: no error


# ----------------------------------------------------------------------------- real torchrun


@pytest.fixture
def two_process_config(tmp_path, tiny_model):
    from w2s_lf.io import write_json
    from w2s_lf.lf.configs import make_train_config
    data = tmp_path / "data"
    write_json(data / "toy.json", [{"instruction": f"Question: {i} + {i}?\nAnswer:", "input": "",
                                    "output": f" {2 * i}"} for i in range(32)])
    write_json(data / "dataset_info.json", {"toy": {"file_name": "toy.json"}})
    cfg = make_train_config("sft", "cpu", str(tiny_model), "toy", str(data), str(tmp_path / "out"), overrides={
        "max_steps": 200, "save_strategy": "steps", "save_steps": 1, "save_total_limit": 2,
        "overwrite_output_dir": False, "cutoff_len": 64, "logging_steps": 1})   # on CPU accelerate takes gloo
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, tmp_path / "out"


def is_worker(cmd: str) -> bool:
    """torchrun starts each worker as `python -u -m w2s_lf.lf.cli worker CONFIG`."""
    return cmd.split()[1:5] == ["-u", "-m", "w2s_lf.lf.cli", "worker"]


def complete_checkpoints(out: Path) -> list[int]:
    return sorted(int(c.name.split("-")[1]) for c in out.glob("checkpoint-*") if (c / "trainer_state.json").exists())


@pytest.mark.slow
def test_torchrun_training_dies_with_w2s_lf_and_resumes(two_process_config, tmp_path):
    """2 gloo workers from the venv's torchrun (not on PATH); SIGKILL `w2s-lf train` once a step
    is checkpointed: no worker survives; the rerun resumes from the last complete checkpoint."""
    config, out = two_process_config
    env = {**parent_env(), "FORCE_TORCHRUN": "1", "NPROC_PER_NODE": "2", "MASTER_PORT": str(free_port())}
    cmd = [sys.executable, "-m", "w2s_lf", "train", str(config), "--no-validate", "--log", str(tmp_path / "train.log")]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: complete_checkpoints(out), 120, "a first checkpoint", proc)
        workers = [p for p in tree(proc.pid) if is_worker(cmdline(p))]
        assert len(workers) == 2, "\n".join(cmdline(p) for p in tree(proc.pid))
        assert len({os.getsid(p) for p in workers}) == 2   # torchrun gave each its own session
        everything = tree(proc.pid)
        proc.kill()
        wait_for(lambda: not alive(everything), 10, "torchrun and its workers to end after SIGKILL")
    finally:
        proc.kill()
    log = (tmp_path / "train.log").read_text()
    assert "world size: 2" in log   # torchrun ran, found without the venv on PATH

    last = complete_checkpoints(out)[-1]
    assert len(list(out.glob("checkpoint-*"))) <= 2 + 1   # save_total_limit (+ one cut off by the kill)
    # The rerun, one more step; as a single process to keep the test short (LoRA checkpoints
    # resume across world sizes; the rank RNG states are then reseeded).
    single = {k: v for k, v in env.items() if k not in ("FORCE_TORCHRUN", "NPROC_PER_NODE")}
    done = subprocess.run([*cmd, f"max_steps={last + 1}"], env=single, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = (tmp_path / "train.log").read_text()
    assert f"Resuming training from {out}/checkpoint-{last}" in log
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == last + 1 and (out / "adapter_model.safetensors").exists()


def test_launch_environment_matches_the_batch_derivation():
    from support.fake_gpus import fake_gpus

    from w2s_lf.launch.torchrun import Torchrun
    assert Torchrun().world() == (1, 1)   # no GPU here: one process
    with fake_gpus(8):
        assert Torchrun().world() == (8, 1) and Torchrun({"nproc_per_node": 4, "nnodes": 2}).world() == (4, 2)
        assert Torchrun().env({})["NPROC_PER_NODE"] == "8" and Torchrun().env({})["FORCE_TORCHRUN"] == "1"
    one = Torchrun({"nproc_per_node": 1}).env({})
    assert one["NPROC_PER_NODE"] == "1" and "FORCE_TORCHRUN" not in one
    # LLaMA-Factory refuses DeepSpeed outside torchrun, even on one GPU
    assert Torchrun({"nproc_per_node": 1}).env({"deepspeed": "ds.json"})["FORCE_TORCHRUN"] == "1"
