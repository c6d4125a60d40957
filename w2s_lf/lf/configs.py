"""LLaMA-Factory train and export configs as plain dicts, rendered to YAML.

Every run of the recipe is LoRA on q/k/v/o/gate/up/down. Raw prompts ("Question: ...\\nAnswer:")
already carry their format, so they train with `w2s_vanilla` (`w2s_lf.lf.templates`): nothing
around the prompt and EOS after the response, as the paper's LLaMA-Factory 0.5.0 `vanilla` did
(0.9.5's `empty` adds no EOS, so a model trained with it never learns to stop). LLaMA-Factory
learns of `w2s_vanilla` only through our launcher, `python -m w2s_lf.lf.cli train CONFIG`.
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
import os
from pathlib import Path

import yaml

from w2s_lf.errors import W2SError
from w2s_lf.lf.templates import RAW_TEMPLATE

LORA_TARGET = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
TEMPLATE = RAW_TEMPLATE
# Preference methods of stage II (`stage2.methods`), each a loss LLaMA-Factory 0.9.5 implements:
# `stage: dpo` with `pref_loss` sigmoid (DPO), ipo, hinge, orpo, simpo; `stage: kto` on unpaired data.
PREF_KINDS = ("dpo", "ipo", "hinge", "orpo", "simpo", "kto")
# Those whose loss compares the policy with a reference model (ORPO and SimPO use none).
REFERENCE_KINDS = ("dpo", "ipo", "hinge", "kto")
KINDS = ("weak_sft", "sft", *PREF_KINDS)
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
#
# `global_batch_size` is not a LLaMA-Factory key: the launcher turns it into
# gradient_accumulation_steps = global / (per_device_train_batch_size x processes per node x
# nodes) for the hardware it launches on (`resolve_batch`), so the optimisation, and the number
# of steps, is the same on 1, 8 or 16 GPUs. 70b: 64 sequences per step, what the 8-GPU setup
# these presets were written for gave (1 per device x 8 GPUs x 8 accumulation; the paper does
# not state its batch size). 7b: 16, as its one-GPU setup gave; 2 per device.
#
# `ddp_timeout` is how long a rank waits in a collective (NCCL/gloo) before the job fails.
# LLaMA-Factory's examples use 180000000 s (5.7 years): a rank that dies on another node then
# leaves the others waiting forever. The longest legitimate wait here is rank 0 tokenizing the
# dataset (`main_process_first`) or writing a checkpoint, seconds to minutes for these datasets;
# 1800 s (transformers' own default) bounds a hung job to half an hour.
DDP_TIMEOUT = 1800

# `save_total_limit: 2` keeps the last two checkpoints: the last one to resume from, and the one
# before it in case the last was cut off while being written. A 70B LoRA-64 checkpoint carries
# ~10 GB of optimizer state. `save_steps: 50` at 70B: a GSM8K stage is ~175 steps (3 epochs of
# ~3,700 examples at 64 a step) and about an hour on one node, so a crash costs at most ~50 steps
# (~15 min) instead of the stage; saving the adapter and its optimizer state takes seconds to a
# minute, a few times per stage.
PRESETS: dict[str, dict] = {
    "70b": {   # 8 x 80 GB per node, DeepSpeed ZeRO-3, bf16
        "lora_rank": 64, "lora_alpha": 128, "lora_dropout": 0.05,
        "cutoff_len": 2048, "preprocessing_num_workers": 16, "dataloader_num_workers": 4,
        "logging_steps": 10, "save_steps": 50, "save_total_limit": 2, "overwrite_output_dir": False,
        "per_device_train_batch_size": 1, "global_batch_size": 64,
        "bf16": True, "ddp_timeout": DDP_TIMEOUT, "deepspeed": DEEPSPEED_Z3,
    },
    "7b": {    # one 80 GB GPU, or DDP over several with the same global batch
        "lora_rank": 16, "lora_alpha": 32, "lora_dropout": 0.05,
        "cutoff_len": 2048, "preprocessing_num_workers": 8, "dataloader_num_workers": 2,
        "logging_steps": 10, "save_steps": 500, "save_total_limit": 2, "overwrite_output_dir": False,
        "per_device_train_batch_size": 2, "global_batch_size": 16,
        "bf16": True, "ddp_timeout": DDP_TIMEOUT,
    },
    "cpu": {   # the demo and tests: a few steps on a tiny model, one process
        "lora_rank": 8, "lora_alpha": 16, "lora_dropout": 0.0,
        "cutoff_len": 512, "dataloader_num_workers": 0,
        "logging_steps": 1, "save_strategy": "no", "overwrite_output_dir": True,
        "per_device_train_batch_size": 1, "gradient_accumulation_steps": 1, "max_steps": 3,
        # Small models fit in memory; recomputing activations would cost ~30% more per step.
        "disable_gradient_checkpointing": True,
        # Portable value; runs on this machine get `machine_bf16()` (see make_train_config).
        "use_cpu": True, "bf16": False,
    },
}
# Processes per node each preset was written for: the shipped configs and `w2s-lf configs`
# resolve the global batch for it unless told otherwise.
PRESET_NPROC = {"70b": 8, "7b": 1, "cpu": 1}

METHODS: dict[str, dict] = {
    "weak_sft": {"stage": "sft", "learning_rate": 1.0e-4, "num_train_epochs": 3.0},
    "sft": {"stage": "sft", "learning_rate": 1.0e-4, "num_train_epochs": 3.0},
    "dpo": {"stage": "dpo", "pref_loss": "sigmoid", "pref_beta": 0.1,
            "learning_rate": 5.0e-6, "num_train_epochs": 3.0},
    "orpo": {"stage": "dpo", "pref_loss": "orpo", "pref_beta": 0.1,
             "learning_rate": 5.0e-6, "num_train_epochs": 3.0},
    # Beyond the paper (docs/method.md, "Beyond the paper"). IPO and hinge: DPO's beta and rate.
    "ipo": {"stage": "dpo", "pref_loss": "ipo", "pref_beta": 0.1,
            "learning_rate": 5.0e-6, "num_train_epochs": 3.0},
    "hinge": {"stage": "dpo", "pref_loss": "hinge", "pref_beta": 0.1,
              "learning_rate": 5.0e-6, "num_train_epochs": 3.0},
    # SimPO (Meng et al. 2024) on base models: beta 2.0, gamma 1.0 (gamma / beta = 0.5); its
    # loss is on length-normalised log-probabilities, so beta is on another scale than DPO's.
    "simpo": {"stage": "dpo", "pref_loss": "simpo", "pref_beta": 2.0, "simpo_gamma": 1.0,
              "learning_rate": 5.0e-6, "num_train_epochs": 3.0},
    # KTO (Ethayarajh et al. 2024) on the pairs split into unpaired examples (`build kto`):
    # chosen responses desirable, rejected ones undesirable; LLaMA-Factory's default weights (1.0
    # each) suit GSM8K, where there are as many of each (one pair per question).
    "kto": {"stage": "kto", "pref_beta": 0.1, "learning_rate": 5.0e-6, "num_train_epochs": 3.0},
}

# Sections in the order the YAML shows them; keys not listed go to the end.
_ORDER = ["model_name_or_path", "adapter_name_or_path", "trust_remote_code",
          "stage", "do_train", "finetuning_type", "lora_target", "lora_rank", "lora_alpha",
          "lora_dropout", "pref_loss", "pref_beta", "simpo_gamma", "dpo_loss", "dpo_beta", "orpo_beta",
          "ref_model", "ref_model_adapters", "deepspeed",
          "dataset", "dataset_dir", "template", "cutoff_len", "overwrite_cache",
          "preprocessing_num_workers", "dataloader_num_workers",
          "output_dir", "logging_steps", "save_strategy", "save_steps", "save_total_limit", "plot_loss",
          "overwrite_output_dir", "report_to",
          "per_device_train_batch_size", "global_batch_size", "gradient_accumulation_steps", "learning_rate",
          "num_train_epochs", "max_steps", "lr_scheduler_type", "warmup_steps", "warmup_ratio",
          "use_cpu", "bf16", "disable_gradient_checkpointing", "ddp_timeout", "seed"]


def _ordered(cfg: dict) -> dict:
    head = {k: cfg[k] for k in _ORDER if k in cfg}
    return {**head, **{k: v for k, v in cfg.items() if k not in head}}


def machine_bf16() -> bool:
    """`bf16` for the `cpu` preset on this machine: only where the CPU computes bf16 natively.

    In LLaMA-Factory 0.9.5 the weights are loaded in the dtype the model folder is saved in
    (`torch_dtype="auto"`); `bf16: true` adds bf16 autocast on top. So a float32 folder (every
    built-in model) trains in float32 with `bf16: false`, and in bf16 autocast with `bf16: true`.
    """
    from w2s_lf.hardware import cpu_dtype
    return cpu_dtype() == "bfloat16"


def make_train_config(kind: str, preset: str, model: str, dataset: str | list[str],
                      dataset_dir: str, output_dir: str, *, nproc_per_node: int | None = None,
                      nnodes: int = 1, **kwargs) -> dict:
    """A LLaMA-Factory train config for one step of the recipe, its batch resolved for
    `nproc_per_node` (default: what the preset was written for) x `nnodes` processes.

    See `plan_train_config` for the arguments.
    """
    cfg = plan_train_config(kind, preset, model, dataset, dataset_dir, output_dir, **kwargs)
    return resolve_batch(cfg, nproc_per_node or PRESET_NPROC[preset], nnodes)[0]


def plan_train_config(kind: str, preset: str, model: str, dataset: str | list[str],
                      dataset_dir: str, output_dir: str, *, adapter: str | None = None,
                      ref_model: str | None = None, ref_adapter: str | None = None,
                      lf_version: str = "0.9.5", template: str = TEMPLATE,
                      overrides: dict | None = None, portable: bool = False) -> dict:
    """A train config that does not depend on the hardware: with a `global_batch_size` in
    place of gradient_accumulation_steps when the preset states one (`resolve_batch` makes
    the LLaMA-Factory config for a given number of processes).

    kind: `weak_sft` (weak model on train_1 gold), `sft` (M_plus and the baselines: only the
    dataset differs), or a preference method (`PREF_KINDS`: dpo, ipo, hinge, orpo, simpo, kto).
    For those, `model` is the merged M_plus, or give the base as `model` and M_plus's LoRA as
    `adapter` (see the module docstring).
    `template`: LLaMA-Factory template (see `w2s_lf.lf.templates.template_for`).
    `overrides` (`key: value`, as `llamafactory-cli` takes them, plus `global_batch_size`)
    are applied last; a None value removes a key. An explicit gradient_accumulation_steps
    replaces the preset's global batch (which then grows with the number of processes).
    The `cpu` preset computes in bf16 where this CPU does so natively (`machine_bf16`), unless
    `portable` asks for the value that is right on every CPU (fp32).
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
    if preset == "cpu" and not portable:
        cfg["bf16"] = machine_bf16()
    if adapter:
        cfg["adapter_name_or_path"] = adapter
    if kind in REFERENCE_KINDS:
        if ref_model or ref_adapter:
            cfg["ref_model"] = ref_model or model
            if ref_adapter:
                cfg["ref_model_adapters"] = ref_adapter
        elif adapter:
            # The implicit reference would be `model` with every adapter disabled: the base
            # model, not M_plus. Name M_plus (base + its adapter) as the reference.
            cfg["ref_model"] = model
            cfg["ref_model_adapters"] = adapter
    overrides = overrides or {}
    if overrides.get("gradient_accumulation_steps") is not None:
        if overrides.get("global_batch_size") is not None:
            raise W2SError("set global_batch_size or gradient_accumulation_steps, not both")
        cfg.pop("global_batch_size", None)
    elif overrides.get("global_batch_size") is not None:
        cfg.pop("gradient_accumulation_steps", None)
    for key, value in overrides.items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    return _ordered(for_lf_version(cfg, lf_version))


def resolve_batch(cfg: dict, nproc_per_node: int = 1, nnodes: int = 1) -> tuple[dict, str]:
    """The LLaMA-Factory config for `nproc_per_node` x `nnodes` processes, and a line that says
    how the global batch comes about. A `global_batch_size` becomes gradient_accumulation_steps;
    a config without one is returned as it is."""
    per_device = int(cfg.get("per_device_train_batch_size", 8))   # LLaMA-Factory's default
    world = int(nproc_per_node) * int(nnodes)
    if world < 1:
        raise W2SError(f"nproc_per_node ({nproc_per_node}) and nnodes ({nnodes}) must be at least 1")
    out = {k: v for k, v in cfg.items() if k != "global_batch_size"}
    if "global_batch_size" in cfg:
        total = int(cfg["global_batch_size"])
        if total % (per_device * world):
            raise W2SError(
                f"global_batch_size {total} is not a multiple of per_device_train_batch_size {per_device} "
                f"x {nproc_per_node} process(es) per node x {nnodes} node(s) = {per_device * world}: change "
                "the number of processes (training.launch) or per_device_train_batch_size / global_batch_size")
        out["gradient_accumulation_steps"] = total // (per_device * world)
        out = _ordered(out)
    steps = int(out.get("gradient_accumulation_steps", 1))
    note = (f"global batch {per_device * world * steps} = {per_device} per device x {nproc_per_node} "
            f"process(es) per node x {nnodes} node(s) x {steps} accumulation step(s)"
            + ("" if "global_batch_size" in cfg else " (gradient_accumulation_steps fixed by the config)"))
    return out, note


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
    newer = out.get("stage") == "kto" or out.get("pref_loss") == "simpo" or "simpo_gamma" in out
    if newer:
        raise W2SError("KTO and SimPO need LLaMA-Factory >= 0.9 (the paper's versions, 0.5.0 and 0.6.2, have neither)")
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
            elif loss != "sigmoid":
                raise W2SError(f"pref_loss {loss} needs LLaMA-Factory >= 0.6.2 (0.5.0 has sigmoid DPO only)")
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


# Keys whose values LLaMA-Factory resolves against its working directory.
PATH_KEYS = ("output_dir", "export_dir", "dataset_dir", "deepspeed", "tokenized_path")
MODEL_KEYS = ("model_name_or_path", "adapter_name_or_path", "ref_model", "ref_model_adapters")


def absolute_paths(cfg: dict, base: str | Path | None = None) -> dict:
    """`cfg` with every path made absolute against `base` (default: the working directory), so
    that the config means the same from any directory. PATH_KEYS are always paths; a model or
    adapter (comma-separated lists too) only when it names an existing local path, since
    otherwise it is a hub id such as meta-llama/Llama-2-70b-hf."""
    base = Path(base or Path.cwd()).absolute()

    def local(value: str) -> str:
        path = base / value
        return os.path.normpath(path) if path.exists() else value

    out = dict(cfg)
    for key in PATH_KEYS:
        if isinstance(out.get(key), str):
            out[key] = os.path.normpath(base / out[key])
    for key in MODEL_KEYS:
        if isinstance(out.get(key), str):
            out[key] = ",".join(local(v.strip()) for v in out[key].split(","))
    return out


def render_yaml(cfg: dict, header: str | None = None) -> str:
    body = yaml.safe_dump(cfg, sort_keys=False, default_flow_style=False, width=120)
    if not header:
        return body
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.strip().splitlines())
    return comments + "\n" + body


def deepspeed_json(ds_config: dict | None = None) -> str:
    return json.dumps(DEEPSPEED_Z3_CONFIG if ds_config is None else ds_config, indent=2) + "\n"


def write_config(path: str | Path, cfg: dict, header: str | None = None) -> Path:
    from w2s_lf.io import write_text
    write_text(path, render_yaml(cfg, header))
    return Path(path)
