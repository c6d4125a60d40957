"""Real LLaMA-Factory runs on CPU with the shipped CPU configs and built data (tiny model).

Each run is a `python -m w2s_lf.lf.cli` subprocess (LLaMA-Factory's CLI with our `w2s_vanilla`
template registered) from a scratch repository root, as a user runs it: stage-I SFT (M_plus), the
export merge, DPO from the merged M_plus, ORPO (through torchrun, as a multi-GPU run launches), and
the shipped 70B DPO config with only its GPU settings switched off.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.w2s_root import make_root

pytestmark = pytest.mark.slow
LAUNCH = [sys.executable, "-m", "w2s_lf.lf.cli"]


def lf(root: Path, command: str, config: str, *overrides: str, env: dict | None = None) -> None:
    result = subprocess.run([*LAUNCH, command, config, *overrides], check=False, cwd=root, capture_output=True,
                            text=True, timeout=300, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def log_history(out: Path) -> list[dict]:
    return json.loads((out / "trainer_state.json").read_text())["log_history"]


def losses(out: Path) -> list[float]:
    lines = (out / "trainer_log.jsonl").read_text().splitlines()
    return [json.loads(x)["loss"] for x in lines if "loss" in json.loads(x)]


@pytest.fixture(scope="module")
def root(tmp_path_factory, tiny_model):
    return make_root(tmp_path_factory.mktemp("lfroot"), tiny_model)


@pytest.fixture(scope="module")
def mplus(root):
    """Stage-I SFT (a high learning rate, so M_plus really differs from the base), then the merge."""
    lf(root, "train", "llama_factory_configs/cpu_sft.yaml", "learning_rate=0.05", "warmup_steps=0")
    lf(root, "export", "llama_factory_configs/cpu_export_mplus.yaml")
    return root / "models/embedded/mplus_merged"


def test_sft_trains_and_export_merges(root, mplus, tiny_model):
    out = root / "saves/embedded/mplus"
    assert len(losses(out)) == 3 and all(math.isfinite(x) for x in losses(out))
    assert (out / "adapter_model.safetensors").exists() and (out / "adapter_config.json").exists()
    assert (mplus / "config.json").exists() and list(mplus.glob("*.safetensors"))
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    pair = json.loads((root / "data/embedded/gsm8k_pairs.json").read_text())[0]
    ids = AutoTokenizer.from_pretrained(tiny_model)(pair["instruction"] + pair["chosen"], return_tensors="pt").input_ids

    def logp(model_dir):
        model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        with torch.no_grad():
            logits = model(ids).logits[0, :-1].log_softmax(-1)
        return logits.gather(1, ids[0, 1:, None]).sum().item()
    # M_plus differs from the base enough that a base-model DPO reference would show up in the
    # step-1 rewards (beta 0.1 x this gap) far above the 1e-4 tolerance used below
    assert 0.1 * abs(logp(mplus) - logp(tiny_model)) > 1e-2


def test_dpo_reference_is_m_plus(root, mplus):
    """From the merged M_plus with a fresh LoRA, the implicit reference equals the initial policy:
    at step 1 every reward is 0 and the loss is log 2. A reference other than M_plus (e.g. the
    base model, which test_sft_trains_and_export_merges shows differs) would give non-zero rewards."""
    lf(root, "train", "llama_factory_configs/cpu_dpo.yaml", "max_steps=1")
    first = log_history(root / "saves/embedded/mpro_dpo")[0]
    assert first["rewards/chosen"] == 0.0 and first["rewards/rejected"] == 0.0
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert (root / "saves/embedded/mpro_dpo/adapter_model.safetensors").exists()


def test_orpo_trains_under_torchrun(root, mplus):
    """FORCE_TORCHRUN makes LLaMA-Factory re-launch itself under torchrun; each rank is then our
    worker entry, which registers `w2s_vanilla` (the shipped config's template) before training."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"   # torchrun
    lf(root, "train", "llama_factory_configs/cpu_orpo.yaml", "max_steps=2",
       env={"FORCE_TORCHRUN": "1", "NPROC_PER_NODE": "1", "PATH": path})
    out = root / "saves/embedded/mpro_orpo"
    assert len(losses(out)) == 2 and all(math.isfinite(x) for x in losses(out))
    assert (out / "adapter_model.safetensors").exists()


def test_shipped_dpo_70b_passes_llamafactory_checks(root, mplus):
    """`python -m w2s_lf.lf.cli train llama_factory_configs/dpo_70b.yaml` from the root after prepare and
    the builders: with only bf16 / DeepSpeed switched off for this CPU box and the merged tiny
    M_plus standing in for the 70B one, it gets through LLaMA-Factory's argument and dataset
    checks and trains a step."""
    link = root / "models/gsm8k/mplus_70b_merged"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(mplus)
    lf(root, "train", "llama_factory_configs/dpo_70b.yaml", "bf16=false", "use_cpu=true", "deepspeed=null",
       "max_steps=1", "logging_steps=1", "preprocessing_num_workers=null",
       "dataloader_num_workers=0")
    out = root / "saves/gsm8k/mpro_dpo_70b"
    first = log_history(out)[0]   # from the merged M_plus, as in test_dpo_reference_is_m_plus
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-5) and first["rewards/chosen"] == 0.0
    assert (out / "adapter_model.safetensors").exists()


def test_dpo_explicit_reference_route(root, mplus, tiny_model):
    """The other route: policy = base + the M_plus adapter (trained further), reference named
    explicitly as base + M_plus adapter. Rewards at step 1 are again 0: reference == M_plus."""
    from w2s_lf.lf.configs import make_train_config, write_config
    # portable (fp32): under bf16 autocast the policy's and the reference's logits already
    # differ by ~5e-4 at step 1, which would hide the route being wrong
    cfg = make_train_config("dpo", "cpu", str(tiny_model), "gsm8k_pairs", "data/embedded", "saves/dpo_adapter",
                            adapter="saves/embedded/mplus", overrides={"max_steps": 1}, portable=True)
    assert cfg["ref_model"] == str(tiny_model) and cfg["ref_model_adapters"] == "saves/embedded/mplus"
    write_config(root / "dpo_adapter.yaml", cfg)
    lf(root, "train", "dpo_adapter.yaml")
    first = log_history(root / "saves/dpo_adapter")[0]
    # merged vs. unmerged LoRA arithmetic differs in the last float bits
    assert first["rewards/chosen"] == pytest.approx(0, abs=1e-4)
    assert first["rewards/rejected"] == pytest.approx(0, abs=1e-4)


@pytest.mark.parametrize("method, step1_loss", [("ipo", (1 / (2 * 0.1)) ** 2), ("hinge", 1.0),
                                                ("simpo", None), ("kto", None)])
def test_shipped_loss_menu_configs_train_from_m_plus(root, mplus, method, step1_loss):
    """The preference-loss menu's shipped 70B configs, as test_shipped_dpo_70b_passes_llamafactory_checks
    does for DPO: LLaMA-Factory's own IPO / hinge / SimPO / KTO train a step from the merged
    M_plus. IPO and hinge compare with the reference, which is M_plus: at step 1 the policy's
    log-ratio is 0, so IPO's loss is (1 / (2 beta))^2 and hinge's is 1."""
    link = root / "models/gsm8k/mplus_70b_merged"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(mplus)
    lf(root, "train", f"llama_factory_configs/{method}_70b.yaml", "bf16=false", "use_cpu=true", "deepspeed=null",
       "max_steps=1", "logging_steps=1", "preprocessing_num_workers=null", "dataloader_num_workers=0")
    out = root / f"saves/gsm8k/mpro_{method}_70b"
    first = log_history(out)[0]
    assert math.isfinite(first["loss"]) and (out / "adapter_model.safetensors").exists()
    if step1_loss is not None:
        assert first["loss"] == pytest.approx(step1_loss, rel=1e-4) and first["rewards/chosen"] == 0.0
