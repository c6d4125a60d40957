"""`w2s-lf doctor`: one line per check and a verdict; the smoke run's GPU configs are the 70B
recipe's, only the model is tiny; versions against the lock; the CPU checks run for real
(slow). The GPU checks themselves need GPUs: here only their refusal without one is run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from w2s_lf.doctor import with_needs
from w2s_lf.doctor import versions as v
from w2s_lf.doctor.runner import Check, run_checks, verdict
from w2s_lf.doctor.smoke import MARKER, Smoke, prepare_root
from w2s_lf.errors import W2SError
from w2s_lf.lf.configs import DEEPSPEED_Z3_CONFIG, resolve_batch

REPO = Path(__file__).resolve().parents[2]


def test_one_line_per_check_a_failure_blocks_what_needs_it_and_the_verdict_says_so():
    def boom():
        raise W2SError("NCCL timed out")
    checks = [Check("a", lambda: ("pass", "fine")), Check("b", boom), Check("c", lambda: ("pass", "x"), ("b",)),
              Check("d", lambda: ("warn", "old driver"), ("a",)), Check("e", lambda: ("skip", "needs 2 GPUs"))]
    lines = []
    outcomes = run_checks(checks, lines.append)
    assert [line.split()[0] for line in lines] == ["PASS", "FAIL", "SKIP", "WARN", "SKIP"]
    assert re.fullmatch(r"FAIL  b +NCCL timed out \(\d+\.\d s\)", lines[1])
    assert lines[2].endswith("needs b, which did not pass") and outcomes[2].blocked
    ready, line = verdict(outcomes, "the GPU recipe")
    assert not ready and "NOT ready for the GPU recipe: 2 of 5 checks failed or could not run (b, c)" in line
    ready, line = verdict(run_checks([checks[0], checks[3], checks[4]], lambda _: None), "x")
    assert ready and "2 of 3 checks passed (warnings: d; skipped: e)" in line


def test_only_runs_what_it_names_and_what_that_needs():
    smoke = Smoke(Path("/nowhere"), gpu=True, gpus=8)
    names = [c.name for c in with_needs(smoke.checks(), ("resume", "vllm t"))]
    assert names == ["versions", "tiny model + data", "SFT ZeRO-3", "resume", "vLLM TP + LoRA"]
    with pytest.raises(W2SError, match="--only nccl: no such check; checks: versions, tiny model"):
        with_needs(smoke.checks(), ("nccl",))


def test_smoke_configs_are_the_70b_recipes_with_the_model_swapped_and_steps_cut(tmp_path, cli):
    """On 8 GPUs the smoke SFT and DPO configs equal the 70B recipe's stage configs but for the
    model, the data, where they write and the steps; the launcher is the recipe's torchrun."""
    plan = cli("run", REPO / "recipes/gsm8k_llama2_7b_to_llama2_70b.yaml", f"run_dir={tmp_path / 'run'}", "--dry-run")
    assert plan.exit_code == 0, plan.output
    smoke = Smoke(tmp_path / "doctor", gpu=True, gpus=8, model="/models/tiny-llama")
    for stage, (kind, dataset) in {"mplus_sft_iter1": ("sft", "gsm8k_train_1_gold"), "dpo": ("dpo", "gsm8k_pairs")}.items():
        config, deepspeed = smoke.train_config(kind, dataset, f"models/{kind}")
        recipe = yaml.safe_load((tmp_path / "run/configs" / f"{stage}.yaml").read_text())
        ours, _ = resolve_batch(config, 8)
        differ = {k for k in set(ours) | set(recipe) if ours.get(k) != recipe.get(k)}
        assert differ - {"dataset"} == {"model_name_or_path", "dataset_dir", "output_dir", "deepspeed", "max_steps",
                                        "save_steps", "logging_steps"}, differ
        assert ours["gradient_accumulation_steps"] == recipe["gradient_accumulation_steps"] == 8
        assert deepspeed == DEEPSPEED_Z3_CONFIG and ours["bf16"] is True and ours["lora_rank"] == 64
        assert (ours["max_steps"], ours["save_steps"]) == (2, 1)
        launcher = smoke_launcher(smoke, config)
        assert launcher.env(ours)["NPROC_PER_NODE"] == "8" and launcher.env(ours)["FORCE_TORCHRUN"] == "1"


def smoke_launcher(smoke: Smoke, config: dict):
    from w2s_lf.launch.placement import ClusterShape
    return ClusterShape("local", 1, smoke.gpus).launcher({"nproc_per_node": smoke.ranks}, config)


def test_cpu_ranks_get_the_gpu_preset_as_ray_and_srun_give_it_to_cpu_ranks(tmp_path):
    config, deepspeed = Smoke(tmp_path, gpu=False, model="/m").train_config("sft", "d", "models/sft")
    assert deepspeed is None and "deepspeed" not in config
    assert config["use_cpu"] and config["ddp_backend"] == "gloo" and config["bf16"] is False
    assert config["lora_rank"] == 64 and config["global_batch_size"] == 16 and config["max_steps"] == 2


def test_the_gpu_checks_read_the_placement_lines_the_launchers_print():
    """The GPU checks cannot run here; what they read from the logs is the launchers' real format."""
    from w2s_lf.doctor.smoke import engine_places, rank_places
    from w2s_lf.launch.ray_job import rank_env
    net = {"ifaces": ["lo"], "hcas": [], "set": {}}
    places = [{"node": "a" * 56, "ip": "10.0.0.1", "pid": 11, "gpus": [g], "network": net} for g in ("0", "1")]
    lines = []
    for rank, (place, e) in enumerate(zip(places, rank_env(places, 1234, {}))):   # as run_job prints them
        gpus = f" GPU {e['CUDA_VISIBLE_DEVICES']} (local rank {e['LOCAL_RANK']})"
        lines.append(f"[w2s-lf] rank {rank}: node {place['node'][:12]} ({place['ip']}) pid {place['pid']}{gpus}")
    assert rank_places("\n".join(lines)) == [("0", "a" * 12, "0,1", "0"), ("1", "a" * 12, "0,1", "1")]
    assert rank_places("[w2s-lf] rank 0: node abc (10.0.0.1) pid 5") == [("0", "abc", "", "")]
    log = "INFO vllm ...\nengine 0: gpu01 node 3f2a9c1b0d4e pid 77 GPUs 0\nengine 1: gpu01 node 3f2a9c1b0d4e pid 78 GPUs 1\n"
    assert engine_places(log) == [("3f2a9c1b0d4e", "0"), ("3f2a9c1b0d4e", "1")]


def test_versions_against_the_lock(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("# comment\npyyaml==0.0.1\nClick==%s\nnot-installed-pkg==1.0 ; python_version >= '3'\n"
                    % v.installed("click"))
    assert v.lock_pins(lock) == {"pyyaml": "0.0.1", "click": v.installed("click"), "not-installed-pkg": "1.0"}
    assert v.package_mismatches(lock, ("PyYAML", "click", "not_installed_pkg")) == \
        [f"pyyaml {v.installed('pyyaml')} (lock: 0.0.1)", "not-installed-pkg missing (lock: 1.0)"]
    assert v.package_mismatches(REPO / "requirements/cpu-lock.txt") == []   # this environment is the CPU lock's
    for driver, cuda, torch_cuda, status in [("570.86.15", "12.9", "12.8", "pass"), ("550.54.14", "12.4", "12.8", "warn"),
                                             ("535.104.05", "12.2", "12.8", "warn"), ("520.61.05", "11.8", "12.8", "fail"),
                                             (None, None, "12.8", "fail"), ("570.86.15", "12.9", None, "fail")]:
        assert v.gpu_verdict(driver, cuda, torch_cuda)[0] == status, (driver, cuda, torch_cuda)


def test_the_smoke_folder_is_its_own(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/results.jsonl").write_text("{}")
    with pytest.raises(W2SError, match="not empty and was not written by `w2s-lf doctor`"):
        prepare_root(tmp_path / "mine")
    assert (tmp_path / "mine/results.jsonl").exists()
    prepare_root(tmp_path / "doctor")
    (tmp_path / "doctor/logs").mkdir()
    prepare_root(tmp_path / "doctor")    # its own: cleared
    assert sorted(p.name for p in (tmp_path / "doctor").iterdir()) == [MARKER]


def test_gpu_doctor_without_a_gpu_fails_at_once_naming_why(tmp_path, cli):
    """A login node: the versions check names the CPU torch and the missing driver, and every GPU
    check is skipped for it (no NCCL run that would hang or pass on gloo by mistake)."""
    result = cli("doctor", "--gpu", "--dir", tmp_path / "doctor")
    lines = result.output.splitlines()
    assert result.exit_code == 1
    assert lines[0].startswith("w2s-lf doctor (GPU, 0 visible)")
    assert re.match(r"FAIL  versions +not the versions gpu-lock.txt pins: torch 2.13.0\+cpu \(lock: 2.10.0\), vllm "
                    r"missing .*; torch is not a CUDA 12 build", lines[1])
    assert lines[2].startswith("PASS  tiny model + data")
    assert all(re.match(r"SKIP  .* needs (versions|SFT ZeRO-3|merge)", line) for line in lines[3:-1]), lines
    assert lines[-1].startswith("verdict: NOT ready for the GPU recipe on this node")


@pytest.mark.slow
def test_the_cpu_all_reduce_runs_two_gloo_ranks_under_torchrun(tmp_path, cli):
    result = cli("doctor", "--dir", tmp_path / "doctor", "--only", "all-reduce")
    assert result.exit_code == 0, result.output
    assert re.search(r"PASS  all-reduce +2 ranks via torchrun, gloo, 4\.2 MB per rank, sums right", result.output)
    assert "verdict: ready for the CPU recipe: 1 of 1 checks passed" in result.output
