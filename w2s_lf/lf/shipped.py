"""The configs shipped in `llama_factory_configs/`, generated from `w2s_lf.lf.configs`.

`w2s-lf configs --write-shipped` rewrites them; tests/test_configs.py checks that the files equal
what this module emits (so they never drift from the library) and that each passes validate.
Paths are relative to the repository root: run `w2s-lf prepare --task gsm8k ...` and the
builders first, then `python -m w2s_lf.lf.cli train llama_factory_configs/<file>` from the root
(LLaMA-Factory's CLI with our `w2s_vanilla` template registered; plain `llamafactory-cli` does
not know it).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from w2s_lf.lf.configs import (
    DEEPSPEED_Z3,
    PRESET_NPROC,
    deepspeed_json,
    make_export_config,
    plan_train_config,
    render_yaml,
    resolve_batch,
)

WEAK_7B = "meta-llama/Llama-2-7b-hf"
STRONG_70B = "meta-llama/Llama-2-70b-hf"
CPU_MODEL = "models/smollm2-135m"
GSM8K_DIR, EMBEDDED_DIR = "data/gsm8k", "data/embedded"
REPO_CONFIGS = Path(__file__).resolve().parents[2] / "llama_factory_configs"

LAUNCH_70B = """\
Launch from the repository root (DeepSpeed ZeRO-3 needs a distributed launch):
  one node, 8 GPUs:  FORCE_TORCHRUN=1 python -m w2s_lf.lf.cli train {path}
  two nodes:         FORCE_TORCHRUN=1 NNODES=2 NODE_RANK=<0|1> MASTER_ADDR=<node 0 address> \\
                       MASTER_PORT=29500 python -m w2s_lf.lf.cli train {path} \\
                       gradient_accumulation_steps=4   (on each node; 4 keeps the global batch at 64)
Rerunning resumes from the last checkpoint-* in output_dir (overwrite_output_dir: false)."""

CPU_NOTE = """\
CPU preset (demo, a few steps). Needs the model linked into the repository:
  mkdir -p models && ln -s "$(w2s-lf models fetch smollm2-135m)" models/smollm2-135m
and data from `w2s-lf prepare` plus the builders in data/embedded.
bf16: false suits every CPU (the built-in models are saved in float32); where the CPU has
AVX512-BF16 or AMX, bf16: true trains about 2x faster (scripts/bench_dtype.py)."""


# The preference-loss menu beyond the paper's DPO and ORPO (docs/method.md, "Beyond the paper").
MENU = {"ipo": "IPO (stage: dpo, pref_loss: ipo; reference: M_plus)",
        "hinge": "the hinge loss (stage: dpo, pref_loss: hinge; reference: M_plus)",
        "simpo": "SimPO (stage: dpo, pref_loss: simpo; no reference)",
        "kto": "KTO (stage: kto) on the pairs as unpaired examples (w2s-lf build kto; reference: M_plus)"}


def _train(kind, preset, model, dataset, data_dir, out, title, note, **kw):
    planned = plan_train_config(kind, preset, model, dataset, data_dir, out, portable=True, **kw)   # not this machine's dtype
    cfg, batch = resolve_batch(planned, PRESET_NPROC[preset])
    if "global_batch_size" in planned:   # say how to keep the global batch on other hardware
        note += "\n" + textwrap.fill(
            f"Batch: {batch}. On other hardware keep the global batch: gradient_accumulation_steps = "
            f"{planned['global_batch_size']} / ({cfg['per_device_train_batch_size']} x GPUs in all), as "
            f"`w2s-lf configs {kind} --preset {preset} --nproc-per-node N --nnodes M ...` and `w2s-lf run` do.", 100)
    return ("train", cfg, title, note)


def shipped() -> dict[str, tuple[str, dict, str, str]]:
    """File name -> (command, config, title, notes)."""
    l70 = LAUNCH_70B
    return {
        "weak_sft_7b.yaml": _train(
            "weak_sft", "7b", WEAK_7B, "gsm8k_train_1_gold", GSM8K_DIR, "saves/gsm8k/weak_llama2_7b",
            "Weak model M_w: Llama-2-7B LoRA SFT on train_1 gold.",
            "Launch: python -m w2s_lf.lf.cli train {path}  (several GPUs: FORCE_TORCHRUN=1 ...)"),
        "sft_70b.yaml": _train(
            "sft", "70b", STRONG_70B, "gsm8k_iter1_hybrid", GSM8K_DIR, "saves/gsm8k/mplus_70b",
            "Stage I: M_plus = Llama-2-70B LoRA SFT on the weak-ICL hybrid set "
            "(w2s-lf build stage1 --name gsm8k_iter1).", l70),
        "baseline_full_weak_70b.yaml": _train(
            "sft", "70b", STRONG_70B, "gsm8k_full_weak", GSM8K_DIR, "saves/gsm8k/full_weak_70b",
            "Naive baseline: Llama-2-70B LoRA SFT on all weak responses (w2s-lf build full-weak).", l70),
        "baseline_gold_70b.yaml": _train(
            "sft", "70b", STRONG_70B, "gsm8k_train_2_gold", GSM8K_DIR, "saves/gsm8k/gold_70b",
            "Ceiling: Llama-2-70B LoRA SFT on train_2 gold solutions.", l70),
        "export_mplus_70b.yaml": ("export", make_export_config(
            STRONG_70B, "saves/gsm8k/mplus_70b", "models/gsm8k/mplus_70b_merged"),
            "Merge M_plus (base + stage-I LoRA) into a full model: the DPO reference.",
            "Run: python -m w2s_lf.lf.cli export {path}"),
        "dpo_70b.yaml": _train(
            "dpo", "70b", "models/gsm8k/mplus_70b_merged", "gsm8k_pairs", GSM8K_DIR,
            "saves/gsm8k/mpro_dpo_70b",
            "Stage II: M_pro by DPO from the merged M_plus (export_mplus_70b.yaml first); the "
            "implicit reference (policy with its fresh LoRA disabled) is then M_plus.", l70),
        "orpo_70b.yaml": _train(
            "orpo", "70b", "models/gsm8k/mplus_70b_merged", "gsm8k_pairs", GSM8K_DIR,
            "saves/gsm8k/mpro_orpo_70b",
            "Stage II: M_pro by ORPO (stage: dpo, pref_loss: orpo) from the merged M_plus; "
            "ORPO uses no reference model.", l70),
        **{f"{kind}_70b.yaml": _train(
            kind, "70b", "models/gsm8k/mplus_70b_merged", "gsm8k_kto" if kind == "kto" else "gsm8k_pairs", GSM8K_DIR,
            f"saves/gsm8k/mpro_{kind}_70b", f"Beyond the paper: M_pro by {what} from the merged M_plus "
            "(export_mplus_70b.yaml first).", l70) for kind, what in MENU.items()},
        "cpu_weak_sft.yaml": _train(
            "weak_sft", "cpu", CPU_MODEL, "gsm8k_train_1_gold", EMBEDDED_DIR, "saves/embedded/weak",
            "Weak model SFT on train_1 gold (CPU demo).", CPU_NOTE),
        "cpu_sft.yaml": _train(
            "sft", "cpu", CPU_MODEL, "gsm8k_iter1_hybrid", EMBEDDED_DIR, "saves/embedded/mplus",
            "Stage I M_plus SFT on the hybrid set (CPU demo).", CPU_NOTE),
        "cpu_export_mplus.yaml": ("export", make_export_config(
            CPU_MODEL, "saves/embedded/mplus", "models/embedded/mplus_merged", device="cpu"),
            "Merge the CPU demo's M_plus adapter (the DPO reference).", CPU_NOTE),
        "cpu_dpo.yaml": _train(
            "dpo", "cpu", "models/embedded/mplus_merged", "gsm8k_pairs", EMBEDDED_DIR,
            "saves/embedded/mpro_dpo", "Stage II DPO from the merged M_plus (CPU demo).", CPU_NOTE),
        "cpu_orpo.yaml": _train(
            "orpo", "cpu", "models/embedded/mplus_merged", "gsm8k_pairs", EMBEDDED_DIR,
            "saves/embedded/mpro_orpo", "Stage II ORPO from the merged M_plus (CPU demo).", CPU_NOTE),
    }


def render_shipped() -> dict[str, str]:
    """Relative file path under llama_factory_configs/ -> exact text."""
    out = {}
    for name, (_command, cfg, title, note) in shipped().items():
        path = f"llama_factory_configs/{name}"
        header = "\n".join([textwrap.fill(title, 100), "Generated by `w2s-lf configs --write-shipped`; do not edit by hand.",
                            note.format(path=path)])
        out[name] = render_yaml(cfg, header)
    out[str(Path(DEEPSPEED_Z3).relative_to("llama_factory_configs"))] = deepspeed_json()
    return out


def write_shipped(root: str | Path = REPO_CONFIGS) -> list[Path]:
    from w2s_lf.io import write_text
    written = []
    for rel, text in render_shipped().items():
        path = Path(root) / rel
        write_text(path, text)
        written.append(path)
    return written
