"""Train / export configs: kinds, presets, the DPO reference, LLaMA-Factory versions, shipped files."""

from __future__ import annotations

import json

import pytest
import yaml

from w2s_lf.errors import W2SError
from w2s_lf.hardware import cpu_dtype
from w2s_lf.lf.configs import (
    LORA_TARGET,
    absolute_paths,
    for_lf_version,
    make_export_config,
    make_train_config,
    plan_train_config,
    render_yaml,
    resolve_batch,
)
from w2s_lf.lf.shipped import REPO_CONFIGS, render_shipped


def cfg(kind="sft", preset="70b", **kw):
    return make_train_config(kind, preset, "base", "ds", "data/gsm8k", "saves/x", **kw)


def test_kinds_and_common_settings():
    for kind, stage in [("weak_sft", "sft"), ("sft", "sft"), ("dpo", "dpo"), ("orpo", "dpo")]:
        c = cfg(kind)
        assert c["stage"] == stage and c["finetuning_type"] == "lora" and c["template"] == "w2s_vanilla"
        assert c["lora_target"] == LORA_TARGET == "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
    assert cfg("dpo")["pref_loss"] == "sigmoid" and cfg("orpo")["pref_loss"] == "orpo"
    assert "pref_loss" not in cfg("sft")


def test_presets():
    big, cpu = cfg(preset="70b"), cfg(preset="cpu")
    assert big["bf16"] is True and big["deepspeed"] == "llama_factory_configs/deepspeed/ds_z3_config.json"
    assert big["overwrite_output_dir"] is False              # reruns resume long runs on purpose
    assert cpu["use_cpu"] is True and cpu["max_steps"] == 3
    assert cpu["bf16"] is (cpu_dtype() == "bfloat16")             # per machine: tests/test_hardware.py
    assert cpu["disable_gradient_checkpointing"] is True
    assert cpu["overwrite_output_dir"] is True and cpu["report_to"] == "none"
    assert "deepspeed" not in cfg(preset="7b")
    with pytest.raises(W2SError, match="unknown preset"):
        cfg(preset="13b")
    with pytest.raises(W2SError, match="unknown config kind"):
        cfg("ppo")


def test_gpu_presets_bound_waits_and_keep_two_checkpoints():
    for preset in ("70b", "7b"):
        c = cfg(preset=preset)
        assert c["ddp_timeout"] == 1800 and c["save_total_limit"] == 2 and c["overwrite_output_dir"] is False
        assert "global_batch_size" not in c        # not a LLaMA-Factory key
    assert "ddp_timeout" not in cfg(preset="cpu")


def test_a_70b_gsm8k_stage_checkpoints_mid_stage():
    """~175 optimizer steps per GSM8K stage (3,700 examples x 3 epochs / 64): a crash must cost
    a part of the stage, not all of it (it used to save every 200 steps: never mid-stage)."""
    import math

    from w2s_lf.lf.configs import PRESETS
    from w2s_lf.run.plan import DEFAULT_QUESTIONS
    c = PRESETS["70b"]
    steps = math.ceil(DEFAULT_QUESTIONS["train_2"] * cfg(preset="70b")["num_train_epochs"] / c["global_batch_size"])
    assert 170 <= steps <= 180 and steps // c["save_steps"] >= 3


@pytest.mark.parametrize("preset,nproc,nnodes,steps", [
    ("70b", 8, 1, 8), ("70b", 8, 2, 4), ("70b", 1, 1, 64), ("70b", 16, 4, 1),
    ("7b", 1, 1, 8), ("7b", 8, 1, 1), ("7b", 4, 1, 2)])
def test_global_batch_is_the_same_on_any_hardware(preset, nproc, nnodes, steps):
    planned = plan_train_config("sft", preset, "base", "ds", "d", "o")
    assert planned["global_batch_size"] == {"70b": 64, "7b": 16}[preset]
    assert "gradient_accumulation_steps" not in planned
    lf, note = resolve_batch(planned, nproc, nnodes)
    assert lf["gradient_accumulation_steps"] == steps and "global_batch_size" not in lf
    assert lf["per_device_train_batch_size"] * nproc * nnodes * steps == planned["global_batch_size"]
    assert note.startswith(f"global batch {planned['global_batch_size']} = ")
    assert make_train_config("sft", preset, "base", "ds", "d", "o", nproc_per_node=nproc, nnodes=nnodes) == lf


def test_global_batch_errors_and_overrides():
    with pytest.raises(W2SError, match=r"global_batch_size 64 is not a multiple of .* 3 process\(es\) per node"):
        resolve_batch(plan_train_config("sft", "70b", "b", "d", "d", "o"), 3)
    with pytest.raises(W2SError, match="global_batch_size 16 is not a multiple"):
        resolve_batch(plan_train_config("sft", "7b", "b", "d", "d", "o"), 16)
    bigger = plan_train_config("sft", "70b", "b", "d", "d", "o", overrides={"global_batch_size": 128})
    assert resolve_batch(bigger, 8)[0]["gradient_accumulation_steps"] == 16
    fixed = plan_train_config("sft", "70b", "b", "d", "d", "o", overrides={"gradient_accumulation_steps": 2})
    assert "global_batch_size" not in fixed
    lf, note = resolve_batch(fixed, 8, 2)
    assert lf["gradient_accumulation_steps"] == 2 and "global batch 32" in note and "fixed by the config" in note
    with pytest.raises(W2SError, match="not both"):
        plan_train_config("sft", "70b", "b", "d", "d", "o",
                          overrides={"gradient_accumulation_steps": 2, "global_batch_size": 64})
    cpu = plan_train_config("sft", "cpu", "b", "d", "d", "o")
    assert resolve_batch(cpu, 1)[0] == cpu


def test_absolute_paths(tmp_path):
    (tmp_path / "models/m").mkdir(parents=True)
    c = absolute_paths({"model_name_or_path": "models/m", "ref_model": "meta-llama/Llama-2-70b-hf",
                        "adapter_name_or_path": "models/m,hub/adapter", "output_dir": "saves/x",
                        "dataset_dir": "data", "deepspeed": "ds.json", "export_dir": "/abs/out", "stage": "sft"},
                       tmp_path)
    assert c["model_name_or_path"] == str(tmp_path / "models/m") and c["ref_model"] == "meta-llama/Llama-2-70b-hf"
    assert c["adapter_name_or_path"] == f"{tmp_path / 'models/m'},hub/adapter"
    assert c["output_dir"] == str(tmp_path / "saves/x") and c["dataset_dir"] == str(tmp_path / "data")
    assert c["deepspeed"] == str(tmp_path / "ds.json") and c["export_dir"] == "/abs/out" and c["stage"] == "sft"


def test_overrides_and_key_order():
    c = cfg(overrides={"learning_rate": 2e-5, "deepspeed": None, "new_key": 1})
    assert c["learning_rate"] == 2e-5 and "deepspeed" not in c and c["new_key"] == 1
    assert next(iter(c)) == "model_name_or_path" and list(c)[-1] == "new_key"
    assert yaml.safe_load(render_yaml(c)) == c


def test_dpo_reference_is_m_plus():
    merged = make_train_config("dpo", "70b", "models/mplus_merged", "p", "d", "o")
    assert merged["model_name_or_path"] == "models/mplus_merged"   # implicit ref = merged M_plus
    assert "ref_model" not in merged and "adapter_name_or_path" not in merged
    explicit = make_train_config("dpo", "70b", "base", "p", "d", "o", adapter="saves/mplus")
    assert explicit["adapter_name_or_path"] == "saves/mplus"
    assert explicit["ref_model"] == "base" and explicit["ref_model_adapters"] == "saves/mplus"
    orpo = make_train_config("orpo", "70b", "base", "p", "d", "o", adapter="saves/mplus")
    assert "ref_model" not in orpo                                  # ORPO has no reference
    named = cfg("dpo", ref_model="other", ref_adapter="a")
    assert named["ref_model"] == "other" and named["ref_model_adapters"] == "a"


def test_paper_lf_versions():
    dpo5 = cfg("dpo", lf_version="0.5.0")
    assert dpo5["dpo_beta"] == 0.1 and "pref_beta" not in dpo5 and "pref_loss" not in dpo5
    assert dpo5["template"] == "vanilla" and dpo5["warmup_ratio"] == 0.1 and "warmup_steps" not in dpo5
    orpo6 = cfg("orpo", lf_version="0.6.2")
    assert orpo6["stage"] == "orpo" and orpo6["orpo_beta"] == 0.1 and "pref_loss" not in orpo6
    assert cfg("dpo", lf_version="0.6.2")["dpo_loss"] == "sigmoid"
    with pytest.raises(W2SError, match="ORPO needs LLaMA-Factory >= 0.6.2"):
        cfg("orpo", lf_version="0.5.0")
    with pytest.raises(W2SError, match="unsupported"):
        for_lf_version({}, "0.7.1")


def test_export_config():
    e = make_export_config("base", "saves/mplus", "models/mplus", device="cpu")
    assert e["adapter_name_or_path"] == "saves/mplus" and e["export_dir"] == "models/mplus"
    assert e["template"] == "w2s_vanilla" and e["export_device"] == "cpu"


def test_shipped_files_equal_library_output():
    expected = render_shipped()
    for name in ("weak_sft_7b.yaml", "sft_70b.yaml", "dpo_70b.yaml", "orpo_70b.yaml", "baseline_full_weak_70b.yaml",
                 "baseline_gold_70b.yaml", "export_mplus_70b.yaml", "deepspeed/ds_z3_config.json",
                 "cpu_sft.yaml", "cpu_dpo.yaml", "cpu_orpo.yaml", "cpu_weak_sft.yaml", "cpu_export_mplus.yaml"):
        assert name in expected
    on_disk = {str(p.relative_to(REPO_CONFIGS)) for p in REPO_CONFIGS.rglob("*") if p.is_file()
               and p.suffix in (".yaml", ".json")}
    assert on_disk == set(expected), "run `w2s-lf configs --write-shipped`"
    for name, text in expected.items():
        assert (REPO_CONFIGS / name).read_text() == text, f"{name} is stale: run `w2s-lf configs --write-shipped`"
    assert json.loads(expected["deepspeed/ds_z3_config.json"])["zero_optimization"]["stage"] == 3


def test_cli(cli, tmp_path):
    r = cli("configs", "dpo", "--preset", "cpu", "--model", "m", "--dataset", "p", "--output-dir", "o",
            "pref_beta=0.2", "max_steps=5")
    assert r.exit_code == 0, r.output
    c = yaml.safe_load(r.output)
    assert c["pref_beta"] == 0.2 and c["max_steps"] == 5 and c["stage"] == "dpo"
    r = cli("configs", "orpo", "--lf-version", "0.6.2", "--model", "m", "--dataset", "p", "--output-dir", "o",
            "-o", tmp_path / "o.yaml")
    assert r.exit_code == 0 and yaml.safe_load((tmp_path / "o.yaml").read_text())["stage"] == "orpo"
    r = cli("configs", "export", "--model", "m", "--adapter", "a", "--output-dir", "x")
    assert yaml.safe_load(r.output)["export_dir"] == "x"
    r = cli("configs", "sft", "--model", "m", "--output-dir", "o")
    assert r.exit_code == 2 and "--dataset is required" in r.output


def test_cli_resolves_the_global_batch(cli):
    from click.testing import CliRunner

    from w2s_lf.cli import main
    args = ["configs", "sft", "--model", "m", "--dataset", "p", "--output-dir", "o"]
    r = CliRunner().invoke(main, [*args, "--nproc-per-node", "8", "--nnodes", "2"])
    assert r.exit_code == 0, r.output
    assert "# global batch 64 = 1 per device x 8 process(es) per node x 2 node(s) x 4 accumulation" in r.stderr
    assert yaml.safe_load(r.stdout)["gradient_accumulation_steps"] == 4
    assert yaml.safe_load(cli(*args).output.split("\n", 1)[1])["gradient_accumulation_steps"] == 8   # preset's 8 GPUs
    r = cli(*args, "--preset", "7b", "--nproc-per-node", "3")
    assert r.exit_code == 2 and "global_batch_size 16 is not a multiple" in r.output
