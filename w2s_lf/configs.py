"""LLaMA-Factory train and export configs as plain dicts, rendered to YAML.

Every run of the recipe is LoRA on q/k/v/o/gate/up/down. Raw prompts ("Question: ...\\nAnswer:")
already carry their format, so they train with `w2s_vanilla` (`w2s_lf.lf_templates`): nothing
around the prompt and EOS after the response, as the paper's LLaMA-Factory 0.5.0 `vanilla` did
(0.9.5's `empty` adds no EOS, so a model trained with it never learns to stop). LLaMA-Factory
learns of `w2s_vanilla` only through our launcher, `python -m w2s_lf.lf_launch train CONFIG`.
Chat models (`template=`) train with their family's chat template instead. `lf_version`
emits the paper's own versions' configs (template `vanilla`).

The DPO reference must be M_plus. With a LoRA policy and no `ref_model`, LLaMA-Factory's
reference is the policy with its adapter disabled, i.e. whatever `model_name_or_path` is. So:
* default route: merge M_plus (`make_export_config`, `llamafactory-cli export`) and give the
  merged folder as `model`; a fresh LoRA on it has reference == initial policy == M_plus;
* `adapter=` route: policy = base + the M_plus adapter (trained further), and the reference is
  named explicitly (`ref_model: base`, `ref_model_adapters: M_plus adapter`); this loads a
  second copy of the model.

Resume: GPU presets keep `overwrite_output_dir: false`, so rerunning a config whose
`output_dir` holds a `checkpoint-*` resumes from it (what a long 70B run wants; use a new
`output_dir` to start over). The CPU preset sets it true: its runs are seconds long, and a stale
demo checkpoint must never be resumed silently.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from w2s_lf.errors import W2SError
from w2s_lf.lf_templates import RAW_TEMPLATE

LORA_TARGET = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
TEMPLATE = RAW_TEMPLATE
KINDS = ("weak_sft", "sft", "dpo", "orpo")
LF_VERSIONS = ("0.9.5", "0.6.2", "0.5.0")
DEEPSPEED_Z3 = "llama_factory_configs/deepspeed/ds_z3_config.json"

# ZeRO-3 as LLaMA-Factory's own examples/deepspeed/ds_z3_config.json; "auto" defers to the
# trainer arguments (batch size, accumulation, bf16) so the YAML stays the one source.
DEEPSPEED_Z3_CONFIG = {
    "train_batch_size": "auto",
    "train_micro_batch_size_per_gpu": "auto",
    "gradient_accumulation_steps": "auto",
    "gradient_clipping": "auto",
    "zero_allow_untested_optimizer": True,
    "fp16": {"enabled": "auto", "loss_scale": 0, "loss_scale_window": 1000,
             "initial_scale_power": 16, "hysteresis": 2, "min_loss_scale": 1},
    "bf16": {"enabled": "auto"},
    "zero_optimization": {
        "stage": 3,
        "overlap_comm": False,
        "contiguous_gradients": True,
        "sub_group_size": 1e9,
        "reduce_bucket_size": "auto",
        "stage3_prefetch_bucket_size": "auto",
        "stage3_param_persistence_threshold": "auto",
        "stage3_max_live_parameters": 1e9,
        "stage3_max_reuse_distance": 1e9,
        "stage3_gather_16bit_weights_on_model_save": True,
    },
}

# Hardware presets. The paper did not publish learning rates, epochs, betas or LoRA rank; the
# method settings below are LLaMA-Factory's example values (examples/train_lora/*.yaml).
PRESETS: dict[str, dict] = {
    "70b": {   # 8 x 80 GB per node, DeepSpeed ZeRO-3, bf16
        "lora_rank": 64, "lora_alpha": 128, "lora_dropout": 0.05,
        "cutoff_len": 2048, "preprocessing_num_workers": 16, "dataloader_num_workers": 4,
        "logging_steps": 10, "save_steps": 200, "overwrite_output_dir": False,
        "per_device_train_batch_size": 1, "gradient_accumulation_steps": 8,
        "bf16": True, "ddp_timeout": 180000000, "deepspeed": DEEPSPEED_Z3,
    },
    "7b": {    # one 80 GB GPU (or DDP over several with torchrun), bf16
        "lora_rank": 16, "lora_alpha": 32, "lora_dropout": 0.05,
        "cutoff_len": 2048, "preprocessing_num_workers": 8, "dataloader_num_workers": 2,
        "logging_steps": 10, "save_steps": 500, "overwrite_output_dir": False,
        "per_device_train_batch_size": 4, "gradient_accumulation_steps": 4,
        "bf16": True, "ddp_timeout": 180000000,
    },
    "cpu": {   # the demo and tests: a few steps on a tiny model
        "lora_rank": 8, "lora_alpha": 16, "lora_dropout": 0.0,
        "cutoff_len": 512, "dataloader_num_workers": 0,
        "logging_steps": 1, "save_strategy": "no", "overwrite_output_dir": True,
        "per_device_train_batch_size": 1, "gradient_accumulation_steps": 1, "max_steps": 3,
        "use_cpu": True, "bf16": False,
    },
}

METHODS: dict[str, dict] = {
    "weak_sft": {"stage": "sft", "learning_rate": 1.0e-4, "num_train_epochs": 3.0},
    "sft": {"stage": "sft", "learning_rate": 1.0e-4, "num_train_epochs": 3.0},
    "dpo": {"stage": "dpo", "pref_loss": "sigmoid", "pref_beta": 0.1,
            "learning_rate": 5.0e-6, "num_train_epochs": 3.0},
    "orpo": {"stage": "dpo", "pref_loss": "orpo", "pref_beta": 0.1,
             "learning_rate": 5.0e-6, "num_train_epochs": 3.0},
}

# Sections in the order the YAML shows them; keys not listed go to the end.
_ORDER = ["model_name_or_path", "adapter_name_or_path", "trust_remote_code",
          "stage", "do_train", "finetuning_type", "lora_target", "lora_rank", "lora_alpha",
          "lora_dropout", "pref_loss", "pref_beta", "dpo_loss", "dpo_beta", "orpo_beta",
          "ref_model", "ref_model_adapters", "deepspeed",
          "dataset", "dataset_dir", "template", "cutoff_len", "overwrite_cache",
          "preprocessing_num_workers", "dataloader_num_workers",
          "output_dir", "logging_steps", "save_strategy", "save_steps", "plot_loss",
          "overwrite_output_dir", "report_to",
          "per_device_train_batch_size", "gradient_accumulation_steps", "learning_rate",
          "num_train_epochs", "max_steps", "lr_scheduler_type", "warmup_steps", "warmup_ratio",
          "use_cpu", "bf16", "ddp_timeout", "seed"]


def _ordered(cfg: dict) -> dict:
    head = {k: cfg[k] for k in _ORDER if k in cfg}
    return {**head, **{k: v for k, v in cfg.items() if k not in head}}


def make_train_config(kind: str, preset: str, model: str, dataset: str | list[str],
                      dataset_dir: str, output_dir: str, *, adapter: str | None = None,
                      ref_model: str | None = None, ref_adapter: str | None = None,
                      lf_version: str = "0.9.5", template: str = TEMPLATE,
                      overrides: dict | None = None) -> dict:
    """A LLaMA-Factory train config for one step of the recipe.

    kind: `weak_sft` (weak model on train_1 gold), `sft` (M_plus and the two baselines: only
    the dataset differs), `dpo`, `orpo`. For `dpo`/`orpo`, `model` is the merged M_plus, or
    give the base as `model` and M_plus's LoRA as `adapter` (see the module docstring).
    `template`: LLaMA-Factory template (see `w2s_lf.lf_templates.template_for`).
    `overrides` (`key: value`, as `llamafactory-cli` takes them) are applied last; a None
    value removes a key.
    """
    if kind not in KINDS:
        raise W2SError(f"unknown config kind '{kind}'; expected one of {', '.join(KINDS)}")
    if preset not in PRESETS:
        raise W2SError(f"unknown preset '{preset}'; expected one of {', '.join(PRESETS)}")
    datasets = dataset if isinstance(dataset, str) else ",".join(dataset)
    cfg = {"model_name_or_path": model, "do_train": True, "finetuning_type": "lora",
           "lora_target": LORA_TARGET, **METHODS[kind],
           "dataset": datasets, "dataset_dir": dataset_dir, "template": template,
           "overwrite_cache": True, "output_dir": output_dir, "plot_loss": True, "report_to": "none",
           # transformers >= 5 dropped `warmup_ratio`; a float in [0, 1) here is the ratio
           "lr_scheduler_type": "cosine", "warmup_steps": 0.1, "seed": 42,
           **PRESETS[preset]}
    if adapter:
        cfg["adapter_name_or_path"] = adapter
    if kind == "dpo":
        if ref_model or ref_adapter:
            cfg["ref_model"] = ref_model or model
            if ref_adapter:
                cfg["ref_model_adapters"] = ref_adapter
        elif adapter:
            # The implicit reference would be `model` with every adapter disabled: the base
            # model, not M_plus. Name M_plus (base + its adapter) as the reference.
            cfg["ref_model"] = model
            cfg["ref_model_adapters"] = adapter
    for key, value in (overrides or {}).items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    return _ordered(for_lf_version(cfg, lf_version))


def for_lf_version(cfg: dict, version: str) -> dict:
    """Translate a 0.9.5 config to the paper's versions (0.5.0 for SFT/DPO, 0.6.2 for ORPO).

    Since 0.8.0 DPO-style methods share `stage: dpo` with `pref_loss` / `pref_beta`; before it,
    DPO used `dpo_beta` (and from 0.6 `dpo_loss`), and ORPO was its own `stage: orpo` with
    `orpo_beta`. Those versions had no `w2s_vanilla`; the paper used their `vanilla` (EOS appended).
    """
    if version not in LF_VERSIONS:
        raise W2SError(f"unsupported --lf-version {version}; expected one of {', '.join(LF_VERSIONS)}")
    if version == "0.9.5":
        return cfg
    out = dict(cfg)
    if out.get("template") == RAW_TEMPLATE:
        out["template"] = "vanilla"
    if isinstance(out.get("warmup_steps"), float):   # their transformers 4.x took an int here
        out["warmup_ratio"] = out.pop("warmup_steps")
    if out.get("stage") == "dpo":
        loss = out.pop("pref_loss", "sigmoid")
        beta = out.pop("pref_beta", 0.1)
        if loss == "orpo":
            if version == "0.5.0":
                raise W2SError("ORPO needs LLaMA-Factory >= 0.6.2 (the paper's ORPO runs used 0.6.2)")
            out["stage"] = "orpo"
            out["orpo_beta"] = beta
        else:
            out["dpo_beta"] = beta
            if version != "0.5.0":
                out["dpo_loss"] = loss
    return out


def make_export_config(model: str, adapter: str, export_dir: str, *, device: str = "auto",
                       template: str = TEMPLATE, overrides: dict | None = None) -> dict:
    """`llamafactory-cli export` config merging a LoRA adapter (M_plus) into a full model folder.

    `template` must be the one the adapter was trained with: LLaMA-Factory fixes the tokenizer
    with it (a chat template may replace EOS by its end-of-turn token) before saving it."""
    cfg = {"model_name_or_path": model, "adapter_name_or_path": adapter, "template": template,
           "finetuning_type": "lora", "export_dir": export_dir, "export_size": 5,
           "export_device": device, "export_legacy_format": False}
    cfg.update(overrides or {})
    return cfg


def render_yaml(cfg: dict, header: str | None = None) -> str:
    body = yaml.safe_dump(cfg, sort_keys=False, default_flow_style=False, width=120)
    if not header:
        return body
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.strip().splitlines())
    return comments + "\n" + body


def deepspeed_json() -> str:
    return json.dumps(DEEPSPEED_Z3_CONFIG, indent=2) + "\n"


def write_config(path: str | Path, cfg: dict, header: str | None = None) -> Path:
    from w2s_lf.io import write_text
    write_text(path, render_yaml(cfg, header))
    return Path(path)
