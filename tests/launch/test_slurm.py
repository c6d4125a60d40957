"""The SLURM launcher: the srun + torchrun command for one training stage inside an allocation.

Command construction only: a real run needs SLURM. (Checked by hand with a stand-in `srun` that
starts the command once per node: two torchrun agents met at the c10d rendezvous and trained
the tiny Llama as world size 2, ~30 s on this machine, too slow for CI.)
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from w2s_lf.errors import W2SError
from w2s_lf.launch.slurm import SrunJob, first_node, srun_torchrun_command


def option(cmd: list[str], name: str) -> str:
    return next(a.split("=", 1)[1] for a in cmd if a.startswith(name + "="))


def test_one_torchrun_agent_per_node_meeting_at_one_rendezvous(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    cmd = srun_torchrun_command("saves/sft.yaml", SrunJob(nodes=2, gpus_per_node=8, rdzv_host="gpu01"))
    at = next(i for i, a in enumerate(cmd) if a.endswith("/torchrun"))
    srun = cmd[:at]
    assert srun[0] == "srun" and "--kill-on-bad-exit=1" in srun and "--ntasks-per-node=1" in srun
    assert option(srun, "--nodes") == "2" and option(srun, "--ntasks") == "2"
    assert Path(cmd[at]).is_file()   # this environment's torchrun, the same path on every node
    assert option(cmd, "--nnodes") == "2" and option(cmd, "--nproc-per-node") == "8"
    assert option(cmd, "--rdzv-backend") == "c10d" and option(cmd, "--rdzv-endpoint") == "gpu01:29500"
    assert option(cmd, "--max-restarts") == "0"
    assert option(cmd, "--rdzv-id").startswith("w2s-4242-")
    # our worker entry registers w2s_vanilla on every rank; the config path holds on every node
    assert cmd[-4:] == ["-m", "w2s_lf.lf.cli", "worker", str(tmp_path / "saves/sft.yaml")]


def test_every_launch_gets_its_own_rendezvous(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    job = SrunJob(nodes=2, gpus_per_node=1, rdzv_host="gpu01")
    ids = {option(srun_torchrun_command("a.yaml", job), "--rdzv-id") for _ in range(20)}
    assert len(ids) == 20 and all(re.fullmatch(r"w2s-job-[0-9a-f]{8}", i) for i in ids)


def test_rendezvous_host_is_the_allocations_first_node(tmp_path, monkeypatch):
    scontrol = tmp_path / "scontrol"
    scontrol.write_text('#!/bin/sh\n[ "$1 $2 $3" = "show hostnames gpu[07-08]" ] && printf "gpu07\\ngpu08\\n"\n')
    scontrol.chmod(scontrol.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_NODELIST", "gpu[07-08]")
    assert option(srun_torchrun_command("a.yaml", SrunJob(2, 8)), "--rdzv-endpoint") == "gpu07:29500"
    monkeypatch.delenv("SLURM_JOB_NODELIST")
    with pytest.raises(W2SError, match="not inside an allocation"):
        first_node()


def test_bad_job_is_refused():
    with pytest.raises(W2SError, match="at least 1"):
        SrunJob(nodes=0, gpus_per_node=8)
