"""bf16 or fp32 by machine: the decision table, its override, and what LLaMA-Factory really
computes in with the `cpu` preset on an AVX2-only CPU (emulated with ATEN_CPU_CAPABILITY)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from w2s_lf.errors import W2SError
from w2s_lf.hardware import bf16_native, cpu_dtype
from w2s_lf.lf.configs import make_train_config

AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


@pytest.mark.parametrize("capability, avx512_bf16, amx, onednn, native", [
    ("AVX2", False, False, "", False),          # AVX2 EPYC: bf16 is emulated
    ("AVX2", True, False, "", False),           # AVX-512 CPU run with ATEN_CPU_CAPABILITY=avx2
    ("AVX512", False, False, "", False),        # AVX-512 without its bf16 extension
    ("AVX512", True, False, "", True),          # AVX512-BF16 (e.g. Zen 4)
    ("AVX512", False, True, "", True),          # AMX (Sapphire Rapids and later)
    ("AVX512", True, True, "AVX2", False),      # oneDNN limited to AVX2
    ("AVX512", True, False, "AVX512_CORE_AMX", True),
    ("DEFAULT", True, True, "", False),         # no vector kernels at all
])
def test_decision_table(capability, avx512_bf16, amx, onednn, native):
    assert bf16_native(capability, avx512_bf16, amx, onednn) is native


def test_override(monkeypatch):
    monkeypatch.setenv("W2S_LF_CPU_DTYPE", "float32")
    assert cpu_dtype() == "float32"
    assert make_train_config("sft", "cpu", "m", "d", "data", "out")["bf16"] is False
    monkeypatch.setenv("W2S_LF_CPU_DTYPE", "bfloat16")
    assert make_train_config("sft", "cpu", "m", "d", "data", "out")["bf16"] is True
    assert make_train_config("sft", "cpu", "m", "d", "data", "out", portable=True)["bf16"] is False
    assert make_train_config("sft", "7b", "m", "d", "data", "out")["bf16"] is True   # GPUs keep bf16
    monkeypatch.setenv("W2S_LF_CPU_DTYPE", "fp8")
    with pytest.raises(W2SError, match="W2S_LF_CPU_DTYPE"):
        cpu_dtype()


LOAD_LIKE_LLAMAFACTORY = textwrap.dedent("""
    import json, sys
    from w2s_lf.lf.configs import make_train_config
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_model, load_tokenizer
    for model_dir in sys.argv[3:]:
        cfg = make_train_config("sft", "cpu", model_dir, "gsm8k_train_1_gold", sys.argv[1], sys.argv[2])
        model_args, data_args, training_args, finetuning_args, _ = get_train_args(cfg)
        tokenizer = load_tokenizer(model_args)["tokenizer"]
        model = load_model(tokenizer, model_args, finetuning_args, is_trainable=True)
        frozen = {str(p.dtype) for n, p in model.named_parameters() if not p.requires_grad}
        print("DTYPES " + json.dumps({"bf16": cfg["bf16"], "trainer_bf16": training_args.bf16, "frozen": sorted(frozen),
                          "compute": str(model_args.compute_dtype)}))
""")


@pytest.mark.slow
def test_cpu_preset_trains_in_fp32_on_avx2(tiny_model, embedded_data, tmp_path):
    """LLaMA-Factory 0.9.5 loads weights in the dtype the folder is saved in (`torch_dtype="auto"`)
    and `bf16: false` adds no autocast: a float32 built-in trains in float32 on AVX2, while the
    same model saved in bf16 would train in (emulated) bf16 whatever the flags say."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    saved_bf16 = tmp_path / "tiny-bf16"
    AutoModelForCausalLM.from_pretrained(tiny_model).to(torch.bfloat16).save_pretrained(saved_bf16)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(saved_bf16)

    env = {**os.environ, **AVX2_ENV, "DISABLE_VERSION_CHECK": "1"}
    env.pop("W2S_LF_CPU_DTYPE", None)
    result = subprocess.run([sys.executable, "-c", LOAD_LIKE_LLAMAFACTORY, str(embedded_data), str(tmp_path / "out"),
                             str(tiny_model), str(saved_bf16)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    fp32_folder, bf16_folder = (json.loads(line[7:]) for line in result.stdout.splitlines() if line.startswith("DTYPES "))
    assert fp32_folder == {"bf16": False, "trainer_bf16": False, "frozen": ["torch.float32"], "compute": "torch.float32"}
    assert bf16_folder["bf16"] is False and bf16_folder["frozen"] == ["torch.bfloat16"]
