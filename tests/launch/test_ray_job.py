"""Training across nodes on Ray, on a simulated two-node cluster (two raylets on this machine).

Real LLaMA-Factory LoRA SFT on the tiny Llama through `w2s-lf train --ray-workers 2`, two ranks
on two different nodes joined by gloo. Rank 1 is SIGKILLed after the first checkpoint: the stage
must fail within seconds; the rerun must resume from that checkpoint and train to the end. (Two
runs, not three: on this 2-core machine each costs ~30 s, the cluster ~20 s.)
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from support.ray_cluster import local_ray_cluster

from w2s_lf.launch.base import shared_fs_config
from w2s_lf.launch.ray_job import RayJob, order_ranks, rank_env
from w2s_lf.launch.slurm import SrunJob

TWO_NODES = RayJob(workers=2, gpus_per_worker=0, placement="STRICT_SPREAD")   # one rank per node


@pytest.fixture(scope="module")
def cluster():
    with local_ray_cluster(nodes=2, cpus_per_node=2) as address:
        yield address


def toy_config(root: Path, model: Path, **overrides) -> dict:
    """A 16-question alpaca dataset and a LoRA SFT config on it (relative paths, as users write)."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    rows = [{"instruction": f"Question: what is {i} plus {i}?\nAnswer:", "input": "", "output": f" {2 * i}"}
            for i in range(16)]
    (data / "toy.json").write_text(json.dumps(rows))
    (data / "dataset_info.json").write_text(json.dumps({"toy": {"file_name": "toy.json"}}))
    return {"model_name_or_path": str(model), "stage": "sft", "do_train": True, "finetuning_type": "lora",
            "lora_target": "q_proj,v_proj", "lora_rank": 4, "dataset": "toy", "dataset_dir": "data",
            "template": "w2s_vanilla", "cutoff_len": 64, "overwrite_cache": True, "dataloader_num_workers": 0,
            "output_dir": "saves/toy", "logging_steps": 1, "report_to": "none", "per_device_train_batch_size": 1,
            "learning_rate": 0.05, "use_cpu": True, "bf16": False, "seed": 42, **overrides}


def train_cli(root: Path, config: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "w2s_lf", "train", str(config), "--no-validate", "--log", str(log),
                             "--ray-workers", "2", "--ray-gpus-per-worker", "0", "--ray-placement", "STRICT_SPREAD"],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def lora_b_norm(adapter: Path) -> float:
    from safetensors.torch import load_file
    return sum(t.abs().sum().item() for k, t in load_file(adapter).items() if "lora_B" in k)


def logged_steps(out: Path) -> list[int]:
    return [r["current_steps"] for r in map(json.loads, (out / "trainer_log.jsonl").read_text().splitlines())
            if "loss" in r]


def placed_ranks(log: str) -> dict[int, tuple[str, int]]:
    """rank -> (node, pid) from the driver's placement lines."""
    return {int(m[1]): (m[2], int(m[3])) for m in re.finditer(r"\[w2s-lf\] rank (\d+): node (\w+) \S+ pid (\d+)", log)}


@pytest.fixture(scope="module")
def killed_run(cluster, tmp_path_factory, tiny_model):
    """`w2s-lf train --ray-workers 2` (30 steps, a checkpoint every 2) whose rank 1 is SIGKILLed
    as soon as checkpoint-2 is complete. Returns the root, the config, and how it ended."""
    import psutil

    root = tmp_path_factory.mktemp("ray_train")
    config = root / "toy.yaml"
    config.write_text(yaml.safe_dump(toy_config(root, tiny_model, max_steps=30, save_steps=2, global_batch_size=2,
                                                overwrite_output_dir=False)))
    out, log = root / "saves/toy", root / "toy.log"
    proc = train_cli(root, config, log)
    deadline = time.monotonic() + 150
    while not (log.exists() and 1 in placed_ranks(log.read_text()) and (out / "checkpoint-2/trainer_state.json").exists()):
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "no checkpoint-2 in time"
        time.sleep(0.05)
    victim = psutil.Process(placed_ranks(log.read_text())[1][1])
    assert "Rank" in " ".join(victim.cmdline())   # the Ray actor of rank 1, not a reused pid
    victim.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    output = proc.communicate(timeout=120)[0]
    return {"root": root, "config": config, "out": out, "log": log, "returncode": proc.returncode,
            "output": output, "took": time.monotonic() - killed, "logged": len(logged_steps(out))}


@pytest.mark.slow
def test_killed_rank_fails_the_stage_within_seconds(killed_run):
    assert killed_run["returncode"] != 0 and "rank 1 died" in killed_run["output"], killed_run["output"][-2000:]
    assert killed_run["took"] < 30, f"a killed rank took {killed_run['took']:.0f} s to fail the stage"
    out = killed_run["out"]
    assert not (out / "adapter_model.safetensors").exists() and (out / "checkpoint-2").is_dir()
    print(f"killed rank failed the stage in {killed_run['took']:.1f} s")


@pytest.mark.slow
def test_rerun_resumes_and_trains_one_job_over_two_nodes(killed_run):
    """The rerun is a real SFT over two ranks on two nodes, from the checkpoint the kill left."""
    root, out, log = killed_run["root"], killed_run["out"], killed_run["log"]
    rerun = train_cli(root, killed_run["config"], log)
    output = rerun.communicate(timeout=300)[0]
    assert rerun.returncode == 0, output[-3000:]
    text = re.split(r"(?m)^\$ ", log.read_text())[-1]   # the rerun's part of the appended log
    ranks = placed_ranks(text)
    assert sorted(ranks) == [0, 1] and ranks[0][0] != ranks[1][0], "the two ranks must run on two nodes"
    for rank in (0, 1):
        assert f"Process rank: {rank}, world size: 2" in text
    assert re.search(r"Resuming training from \S+/checkpoint-\d+", text)
    rerun_steps = logged_steps(out)[killed_run["logged"]:]   # LLaMA-Factory appends to trainer_log.jsonl
    assert rerun_steps[0] > 2 and rerun_steps[-1] == 30, rerun_steps   # not started again from step 1
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 30
    assert (out / "adapter_config.json").is_file()
    assert lora_b_norm(out / "adapter_model.safetensors") > 0   # LoRA B starts at zero: it trained
    written = yaml.safe_load((root / "saves/toy.train.yaml").read_text())
    assert written["output_dir"] == str(out) and written["dataset_dir"] == str(root / "data")   # absolute for every node
    assert written["ddp_backend"] == "gloo" and written["ddp_timeout"] <= 1800
    assert written["gradient_accumulation_steps"] == 1 and "global_batch_size" not in written   # 2 = 1 x 2 ranks


NODE_A = {"ifaces": ["eth0", "ib0", "lo"], "hcas": ["mlx5_0"], "set": {}}      # the controller's node
NODE_B = {"ifaces": ["ens3", "lo"], "hcas": [], "set": {}}                       # another interface name


def test_rank_order_and_env():
    """Driver's node first; ranks grouped by node; GPUs of a node shared, LOCAL_RANK its index;
    every rank a client of the store rank 0 hosts."""
    places = [{"node": "b", "ip": "10.0.0.2", "pid": 1, "gpus": ["1"], "network": NODE_B},
              {"node": "a", "ip": "10.0.0.1", "pid": 2, "gpus": ["3"], "network": NODE_A},
              {"node": "b", "ip": "10.0.0.2", "pid": 3, "gpus": ["0"], "network": NODE_B},
              {"node": "a", "ip": "10.0.0.1", "pid": 4, "gpus": ["2"], "network": NODE_A}]
    order = order_ranks(places, home_node="a")
    assert order == [3, 1, 2, 0]
    envs = rank_env([places[i] for i in order], 29500, controller={"NCCL_SOCKET_IFNAME": "ib"})
    assert [e["RANK"] for e in envs] == ["0", "1", "2", "3"]
    assert {e["MASTER_ADDR"] for e in envs} == {"10.0.0.1"} and envs[0]["MASTER_PORT"] == "29500"
    assert [(e["CUDA_VISIBLE_DEVICES"], e["LOCAL_RANK"], e["NODE_RANK"]) for e in envs] == \
        [("2,3", "0", "0"), ("2,3", "1", "0"), ("0,1", "0", "1"), ("0,1", "1", "1")]
    assert all(e["USE_RAY"] == "0" and e["WORLD_SIZE"] == "4" for e in envs)
    assert all(e["TORCHELASTIC_USE_AGENT_STORE"] == "True" for e in envs)
    # the controller's interface prefix fits node a (ib0), not node b (ens3 only)
    assert [e.get("NCCL_SOCKET_IFNAME") for e in envs] == ["ib", "ib", None, None]


def test_interface_settings_follow_each_node():
    from w2s_lf.launch.ray_cluster import names_fit, node_network_env
    controller = {"NCCL_SOCKET_IFNAME": "ib0", "GLOO_SOCKET_IFNAME": "ib0", "NCCL_IB_HCA": "mlx5_0:1", "HF_HOME": "/x"}
    env, notes = node_network_env(NODE_A, controller)
    assert env == {"NCCL_SOCKET_IFNAME": "ib0", "GLOO_SOCKET_IFNAME": "ib0", "NCCL_IB_HCA": "mlx5_0:1"}
    assert notes[0] == "NCCL_SOCKET_IFNAME=ib0 (the controller's)"
    env, notes = node_network_env(NODE_B, controller)
    assert env == {} and "NCCL_SOCKET_IFNAME left unset: the controller's 'ib0' names nothing there (it has ens3, lo)" in notes
    own = {**NODE_B, "set": {"NCCL_SOCKET_IFNAME": "ens3"}}     # exported before `ray start` on that node
    env, notes = node_network_env(own, controller)
    assert "NCCL_SOCKET_IFNAME" not in env and "NCCL_SOCKET_IFNAME=ens3 (its own)" in notes
    assert node_network_env(NODE_B, {}) == ({}, [])
    ifaces = ["eth0", "ib0", "ib1", "lo"]
    for value, every, fits in [("ib", False, True), ("=ib", False, False), ("=ib0", False, True), ("en,ib", False, True),
                               ("^docker,lo", False, True), ("en", False, False), ("ib0,ib1", True, True),
                               ("ib0,ens3", True, False), ("ib", True, False), ("", False, False)]:
        assert names_fit(value, ifaces, every) is fits, (value, every)


def test_rendezvous_store_holds_its_port_and_serves_the_ranks(monkeypatch):
    """Rank 0's actor hosts the store on a port the kernel picked and that stays bound; a rank
    joins it as torchrun's workers join the agent's store (no race for the port)."""
    import socket
    from datetime import timedelta

    import torch.distributed as dist

    from w2s_lf.launch.ray_job import Rank, ray_node_ip
    host = Rank()
    port = host.host_rendezvous()
    with socket.socket() as probe, pytest.raises(OSError):
        probe.bind(("", port))                     # still held: nobody can take it
    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "True")
    dist.init_process_group("gloo", init_method=f"tcp://{ray_node_ip()}:{port}?rank=0&world_size=1",
                            timeout=timedelta(seconds=30))
    try:
        import torch
        t = torch.ones(3)
        dist.all_reduce(t)
        assert t.tolist() == [1.0, 1.0, 1.0]
    finally:
        dist.destroy_process_group()


def test_config_for_every_node(tmp_path):
    (tmp_path / "models/m").mkdir(parents=True)
    cfg = shared_fs_config({"model_name_or_path": "models/m", "ref_model": "meta-llama/Llama-2-70b-hf",
                            "dataset_dir": "data", "output_dir": "saves/x", "deepspeed": "ds.json",
                            "ddp_timeout": 180000000, "bf16": True}, gpus_per_rank=0, base=tmp_path)
    assert cfg["model_name_or_path"] == str(tmp_path / "models/m")
    assert cfg["ref_model"] == "meta-llama/Llama-2-70b-hf"          # a hub id stays one
    assert cfg["dataset_dir"] == str(tmp_path / "data") and cfg["output_dir"] == str(tmp_path / "saves/x")
    assert cfg["ddp_timeout"] == 1800 and cfg["ddp_backend"] == "gloo" and not cfg["bf16"] and "deepspeed" not in cfg
    assert cfg["data_shared_file_system"] is True     # only the global rank 0 preprocesses into the shared cache
    gpu = shared_fs_config({"output_dir": "/abs/x", "deepspeed": "ds.json", "ddp_timeout": 600}, 1, base=tmp_path)
    assert gpu["deepspeed"] == str(tmp_path / "ds.json") and gpu["ddp_timeout"] == 600 and "ddp_backend" not in gpu


def test_ranks_get_the_controllers_settings_but_not_its_devices():
    """Not its interface names either: those are per node (test_interface_settings_follow_each_node)."""
    from w2s_lf.launch.ray_cluster import CODE, actor_env
    env = actor_env({"NCCL_SOCKET_IFNAME": "ib0", "NCCL_DEBUG": "INFO", "HF_HOME": "/shared/hf", "PYTHONPATH": "/repo",
                     "CUDA_VISIBLE_DEVICES": "0", "RAY_ADDRESS": "h:6379", "USE_RAY": "1", "HOME": "/root"})
    assert env == {"NCCL_DEBUG": "INFO", "HF_HOME": "/shared/hf", "PYTHONPATH": f"{CODE}:/repo"}


def test_ray_and_srun_ranks_get_what_llamafactorys_torchrun_gives():
    from w2s_lf.launch.base import optim_torch_env
    want = {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True", "TORCH_NCCL_AVOID_RECORD_STREAMS": "1"}
    assert optim_torch_env({}) == want
    assert optim_torch_env({"PYTORCH_CUDA_ALLOC_CONF": "backend:cudaMallocAsync"}) == \
        {"TORCH_NCCL_AVOID_RECORD_STREAMS": "1"}                         # the user's own value stays
    assert optim_torch_env({"OPTIM_TORCH": "0"}) == {}                   # LLaMA-Factory's switch
    from w2s_lf.launch.ray_job import rank_actor_env
    actor = rank_actor_env({"HF_HOME": "/shared/hf", "NCCL_SOCKET_IFNAME": "ib0"})
    assert {k: actor[k] for k in want} == want and actor["HF_HOME"] == "/shared/hf"
    assert actor["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"] == "1" and "NCCL_SOCKET_IFNAME" not in actor
    srun = SrunJob(nodes=2, gpus_per_node=8, rdzv_host="gpu01").env({})
    assert all(srun.get(k) == v for k, v in want.items() if k not in os.environ)


@pytest.mark.parametrize("job, accumulation", [(RayJob(workers=4, gpus_per_worker=0), 4),
                                               (SrunJob(nodes=2, gpus_per_node=8, rdzv_host="gpu01"), 1)])
def test_cluster_job_divides_the_global_batch_by_its_ranks(tmp_path, monkeypatch, job, accumulation):
    """What `train(..., launcher=job)` writes and starts (the start itself is the slow tests')."""
    from w2s_lf.lf import train as train_module
    started = {}
    monkeypatch.setattr(train_module, "run_logged", lambda cmd, log, env, label, progress, **kw: started.update(cmd=cmd))
    monkeypatch.chdir(tmp_path)
    cfg = {"output_dir": "saves/x", "dataset_dir": "data", "per_device_train_batch_size": 1, "global_batch_size": 16}
    out = train_module.train(cfg, tmp_path / "x.yaml", tmp_path / "x.log", launcher=job, validate=False)
    written = yaml.safe_load((tmp_path / "x.yaml").read_text())
    assert written["gradient_accumulation_steps"] == accumulation and "global_batch_size" not in written
    assert out == tmp_path / "saves/x" and written["dataset_dir"] == str(tmp_path / "data")
    assert started["cmd"][0] == ("srun" if isinstance(job, SrunJob) else sys.executable)
    assert str(tmp_path / "x.yaml") in started["cmd"]
