"""`w2s-lf validate`: check a LLaMA-Factory config before spending GPU hours on it.

Order: our own checks of what LLaMA-Factory parses but never enforces (Literal choices,
deprecated keys, the DPO reference, silent resume), then LLaMA-Factory's own parser in-process
(`get_train_args`), then the datasets (entry, file, ranking vs stage, mapped columns and types),
then optionally a tokenizer-only dry run through LLaMA-Factory's own `get_dataset`.

Every config is parsed as one CPU process, with bf16 and DeepSpeed relaxed and the distributed
environment hidden, so the result is the same on 0, 1 or 8 GPUs and inside torchrun or not; the
report lists what that leaves unchecked under "not checked". A model that is not available
offline skips the dry run the same way. Only errors make the exit status non-zero.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path

from w2s_lf.errors import InputError, W2SError
from w2s_lf.io import parse_yaml, read_json, read_text
from w2s_lf.lf.datasets import check_dataset, read_records
from w2s_lf.lf.in_process import one_cpu_process, quiet_llamafactory, version_check_off

# Keys LLaMA-Factory dropped in 0.8.0, with the fix.
DEPRECATED = {
    "dpo_beta": "use `pref_beta` (renamed in LLaMA-Factory 0.8)",
    "orpo_beta": "use `pref_beta` with `stage: dpo` and `pref_loss: orpo` (LLaMA-Factory >= 0.8)",
    "dpo_loss": "use `pref_loss` (renamed in LLaMA-Factory 0.8)",
    "dpo_ftx": "use `pref_ftx` (renamed in LLaMA-Factory 0.8)",
    "dpo_label_smoothing_old": "use `dpo_label_smoothing`",
}
STAGE_FIXES = {"orpo": "use `stage: dpo` with `pref_loss: orpo` (ORPO has no stage of its own since 0.8)",
               "simpo": "use `stage: dpo` with `pref_loss: simpo`"}


@dataclass
class ConfigCheck:
    """What `w2s-lf validate` found in one config: errors (exit status 1), warnings, what this
    machine could not check (a GPU setting on a CPU machine, a model not available offline)."""

    path: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _literal_choices(cls, name: str) -> tuple | None:
    hints = typing.get_type_hints(cls)
    args = typing.get_args(hints.get(name))
    return args if args and all(isinstance(a, str) for a in args) else None


def _suggest(value: str, choices) -> str:
    near = difflib.get_close_matches(str(value), [str(c) for c in choices], n=2)
    return f"; did you mean {' or '.join(near)}?" if near else ""


def load_config(path: str | Path) -> dict:
    path = Path(path)
    cfg = parse_yaml(read_text(path, "config"), str(path))
    if not isinstance(cfg, dict):
        raise W2SError(f"{path}: expected a mapping of LLaMA-Factory arguments")
    return cfg


def _model_available(name: str | None) -> bool:
    return bool(name) and Path(name).is_dir()


def validate_config(path: str | Path, *, dry_run: bool = False, tokenizer: str | None = None) -> ConfigCheck:
    """Validate one config file; relative paths are taken from the working directory, as LLaMA-Factory does."""
    return validate_dict(load_config(path), str(path), dry_run=dry_run, tokenizer=tokenizer)


def check_config(cfg: dict, *, dry_run: bool = False, tokenizer: str | None = None,
                 name: str = "<config>") -> ConfigCheck:
    """In-process check for the pipeline: the ConfigCheck, or a W2SError with the formatted report."""
    with quiet_llamafactory():
        report = validate_dict(cfg, name, dry_run=dry_run, tokenizer=tokenizer)
    if not report.ok:
        raise W2SError("LLaMA-Factory config check failed:\n" + format_check(report))
    return report


def validate_dict(cfg: dict, name: str = "<config>", *, dry_run: bool = False,
                  tokenizer: str | None = None) -> ConfigCheck:
    """Validate a config given as a dict (see the module docstring for what is checked)."""
    with version_check_off():
        return _validate(cfg, name, dry_run, tokenizer)


def _validate(cfg: dict, name: str, dry_run: bool, tokenizer: str | None) -> ConfigCheck:
    report = ConfigCheck(name)
    if "export_dir" in cfg:
        _validate_export(cfg, report)
        return report
    _check_choices(cfg, report)
    _check_reference(cfg, report)
    _check_resume(cfg, report)
    relaxed = _hardware_neutral(cfg, report)
    parsed = _parse(relaxed, report)
    stage = str(cfg.get("stage", "sft"))
    datasets = [d.strip() for d in str(cfg.get("dataset") or "").split(",") if d.strip()]
    dataset_dir = str(cfg.get("dataset_dir", "data"))
    for dataset in datasets + [d.strip() for d in str(cfg.get("eval_dataset") or "").split(",") if d.strip()]:
        for level, msg in check_dataset(dataset_dir, dataset, stage):
            (report.errors if level == "error" else report.warnings).append(msg)
    _check_packing(cfg, datasets, dataset_dir, report)
    if not dry_run:
        return report
    model = cfg.get("model_name_or_path")
    if report.errors or parsed is None:
        report.not_checked.append("tokenizer dry run (fix the errors above first)")
    elif not _model_available(model) and not tokenizer:
        report.not_checked.append(f"tokenizer dry run: model '{model}' is not available locally (offline); "
                                  f"pass --tokenizer PATH to dry-run with a stand-in tokenizer")
    else:
        _dry_run(relaxed, tokenizer if not _model_available(model) else None, report)
    return report


def _check_choices(cfg: dict, report: ConfigCheck) -> None:
    from llamafactory.data.template import TEMPLATES
    from llamafactory.hparams import FinetuningArguments

    from w2s_lf.lf.templates import RAW_TEMPLATE, register
    register()   # `w2s_vanilla` exists wherever our launcher runs LLaMA-Factory

    for key, fix in DEPRECATED.items():
        if key in cfg:
            report.errors.append(f"`{key}` is not a LLaMA-Factory 0.9 argument: {fix}")
    stage = cfg.get("stage", "sft")
    if stage in STAGE_FIXES:
        report.errors.append(f"`stage: {stage}` is not a stage (LLaMA-Factory fails late with "
                             f"'Unknown task: {stage}'): {STAGE_FIXES[stage]}")
    else:
        for key in ("stage", "pref_loss", "finetuning_type"):
            choices = _literal_choices(FinetuningArguments, key)
            if key in cfg and choices and cfg[key] not in choices:
                report.errors.append(f"`{key}: {cfg[key]}` is not one of {', '.join(choices)}"
                                     f"{_suggest(cfg[key], choices)} (LLaMA-Factory's parser does not check it)")
    template = cfg.get("template")
    if template is None:
        report.warnings.append("no `template`: LLaMA-Factory falls back to the tokenizer's chat template; "
                               f"the paper's raw prompts need `template: {RAW_TEMPLATE}`")
    elif template not in TEMPLATES:
        hint = (f" (the paper's LLaMA-Factory 0.5/0.6 template; use `{RAW_TEMPLATE}` in 0.9, which also "
                f"appends EOS)") if template == "vanilla" else ""
        report.errors.append(f"`template: {template}` does not exist{hint}{_suggest(template, TEMPLATES)}")
    elif template == "empty":
        report.warnings.append(f"`template: empty` adds no EOS after the response in LLaMA-Factory 0.9.5: the "
                               f"model never learns to stop; use `{RAW_TEMPLATE}` (launch with "
                               f"`python -m w2s_lf.lf.cli train`)")


def _check_reference(cfg: dict, report: ConfigCheck) -> None:
    """DPO's reference must be M_plus; with LoRA the implicit one is the model without adapters."""
    with_reference = cfg.get("stage") == "kto" or (cfg.get("stage") == "dpo" and cfg.get("pref_loss", "sigmoid")
                                                    not in ("orpo", "simpo"))
    if (with_reference and cfg.get("finetuning_type", "lora") == "lora" and cfg.get("adapter_name_or_path")
            and not cfg.get("ref_model")):
        report.errors.append(
            f"{cfg.get('stage').upper()} with `adapter_name_or_path` and no `ref_model`: the implicit reference is "
            f"'{cfg.get('model_name_or_path')}' with all adapters disabled, not M_plus. Merge M_plus "
            "(`llamafactory-cli export`, see export_mplus_70b.yaml) and train a fresh LoRA on the merged "
            "model, or set `ref_model` (the base) and `ref_model_adapters` (the M_plus adapter)")


def _check_resume(cfg: dict, report: ConfigCheck) -> None:
    out = Path(str(cfg.get("output_dir", "")))
    if not cfg.get("output_dir") or not out.is_dir():
        return
    checkpoints = sorted(out.glob("checkpoint-*"), key=lambda p: p.name)
    if checkpoints and not cfg.get("overwrite_output_dir") and not cfg.get("resume_from_checkpoint"):
        report.warnings.append(
            f"output_dir {out} holds {checkpoints[-1].name}: LLaMA-Factory will silently resume from it. "
            "Set `overwrite_output_dir: true` or a new `output_dir` to start fresh")


def _hardware_neutral(cfg: dict, report: ConfigCheck) -> dict:
    """The config as LLaMA-Factory parses it in one CPU process, whatever the machine.

    LLaMA-Factory 0.9.5 checks the launch, not only the config: with several visible GPUs and
    no torchrun it refuses ("Please launch distributed training with `llamafactory-cli` or
    `torchrun`"), and with DeepSpeed outside torchrun it asks for FORCE_TORCHRUN=1. So on a GPU
    node every real config would fail here. Mixed precision and DeepSpeed are therefore always
    taken out (the DeepSpeed JSON file itself is checked), and the parse runs as one CPU
    process: what `validate` says is the same on 0, 1 or 8 GPUs, inside torchrun or not.
    """
    relaxed = dict(cfg)
    if (cfg.get("bf16") or cfg.get("fp16") or cfg.get("pure_bf16")) and not cfg.get("use_cpu"):
        for key in ("bf16", "fp16", "pure_bf16"):
            relaxed.pop(key, None)
        relaxed["use_cpu"] = True
        report.not_checked.append("bf16/fp16 mixed precision: the GPUs' support for it (configs are parsed "
                                  "as one CPU process, so the result does not depend on the GPUs here)")
    if cfg.get("deepspeed"):
        ds = Path(str(cfg["deepspeed"]))
        if not ds.is_file():
            report.errors.append(f"deepspeed: config {ds} not found (a relative path is taken from where "
                                 "llamafactory-cli runs; `w2s-lf run` writes absolute ones)")
        else:
            try:
                ds_cfg = read_json(ds)
                if not isinstance(ds_cfg, dict) or "zero_optimization" not in ds_cfg:
                    report.warnings.append(f"deepspeed: config {ds} has no zero_optimization section")
            except InputError as e:
                report.errors.append(f"deepspeed: {e}")
        relaxed.pop("deepspeed")
        report.not_checked.append("DeepSpeed launch (needs GPUs, the deepspeed package and "
                                  "torchrun); the JSON file itself was checked")
    if relaxed.pop("ddp_backend", None) is not None:   # accelerate fails on a backend outside torchrun
        report.not_checked.append(f"ddp_backend {cfg['ddp_backend']} (used only under torchrun)")
    return relaxed


def _parse(relaxed: dict, report: ConfigCheck):
    """LLaMA-Factory's own argument parser, in-process (about 0.1 s after the import)."""
    from llamafactory.hparams import get_train_args
    try:
        with one_cpu_process():
            return get_train_args(dict(relaxed))
    except (ValueError, TypeError, ImportError) as e:
        msg = str(e)
        if "not used by the HfArgumentParser" in msg:
            msg += _unknown_key_hint(relaxed)
        report.errors.append(f"LLaMA-Factory rejects the arguments: {msg}")
    except Exception as e:  # noqa: BLE001 - its checks raise assorted types; report, never crash
        report.errors.append(f"LLaMA-Factory rejects the arguments: {type(e).__name__}: {e}")
    return None


# Keys the installed transformers may no longer take, with the fix.
RENAMED = {"warmup_ratio": "use `warmup_steps: <ratio>` (transformers >= 5 reads a float in [0, 1) as a ratio)",
           "no_cuda": "use `use_cpu: true`",
           "evaluation_strategy": "use `eval_strategy`"}


def _unknown_key_hint(cfg: dict) -> str:
    from llamafactory.hparams.parser import _TRAIN_ARGS
    known = {f for cls in _TRAIN_ARGS for f in cls.__dataclass_fields__}
    hints = [f"{k}: {RENAMED[k]}" if k in RENAMED else f"{k}{_suggest(k, known)}"
             for k in cfg if k not in known and k not in DEPRECATED]
    return f" [{'; '.join(hints)}]" if hints else ""


def _check_packing(cfg: dict, datasets: list[str], dataset_dir: str, report: ConfigCheck) -> None:
    if not cfg.get("packing") or not datasets:
        return
    if cfg.get("stage") not in (None, "pt", "sft"):
        report.errors.append("`packing` is for pt/sft; preference stages cannot pack pairs")
        return
    # Packing concatenates examples into cutoff_len blocks; a small set packs into fewer blocks
    # than one batch, which fails as "Cannot find valid samples" or an empty dataloader.
    # Token count estimated as characters / 4 (no tokenizer needed).
    batch = int(cfg.get("per_device_train_batch_size", 8)) * int(cfg.get("gradient_accumulation_steps", 1))
    cutoff = int(cfg.get("cutoff_len", 2048))
    try:
        info = read_json(Path(dataset_dir) / "dataset_info.json")
        chars = sum(len(json.dumps(r)) for d in datasets
                    for r in read_records(Path(dataset_dir) / info[d]["file_name"]))
    except Exception:  # noqa: BLE001 - the dataset checks already reported bad files
        return
    blocks = chars // 4 // cutoff
    if blocks < batch:
        report.warnings.append(f"`packing: true` with about {blocks} block(s) of cutoff_len {cutoff} tokens, "
                               f"fewer than one batch ({batch}): set `packing: false` or add data")


def _dry_run(relaxed: dict, stand_in: str | None, report: ConfigCheck) -> None:
    """Tokenize the datasets with LLaMA-Factory's own loader; count dropped and cut examples."""
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    cfg = dict(relaxed)
    cfg["preprocessing_num_workers"] = None      # no worker pool for a check
    if stand_in:
        cfg["model_name_or_path"] = stand_in
        report.info.append(f"dry run with stand-in tokenizer {stand_in}")
    import io

    import datasets
    datasets.disable_progress_bars()
    try:   # LLaMA-Factory prints a decoded training example to stdout; keep the report clean
        with contextlib.redirect_stdout(io.StringIO()), one_cpu_process():
            model_args, data_args, training_args, finetuning_args, _ = get_train_args(cfg)
            module = load_tokenizer(model_args)
            template = get_template_and_fix_tokenizer(module["tokenizer"], data_args)
            stage = "rm" if finetuning_args.stage in ("rm", "dpo") else finetuning_args.stage
            data = get_dataset(template, model_args, data_args, training_args, stage=stage, **module)
    except Exception as e:  # noqa: BLE001 - LLaMA-Factory's data errors come in many types
        report.errors.append(f"dataset dry run failed: {type(e).__name__}: {e}")
        return
    kept = len(data["train_dataset"]) if data.get("train_dataset") is not None else 0
    total, cut = _count_cut(relaxed, module["tokenizer"], template, data_args.cutoff_len)
    dropped = total - kept
    report.info.append(f"dry run: {kept} of {total} examples kept, {dropped} dropped, {cut} cut by "
                       f"cutoff_len {data_args.cutoff_len}")
    if dropped:
        report.warnings.append(f"{dropped} example(s) dropped by LLaMA-Factory's preprocessing")
    if cut:
        report.warnings.append(f"{cut} of {total} example(s) longer than cutoff_len "
                               f"{data_args.cutoff_len} are truncated; raise cutoff_len")


def _count_cut(cfg: dict, tokenizer, template, cutoff_len: int) -> tuple[int, int]:
    """Examples whose prompt plus (longest) response exceed cutoff_len (alpaca data)."""
    dataset_dir = Path(str(cfg.get("dataset_dir", "data")))
    info = read_json(dataset_dir / "dataset_info.json")
    total = cut = 0
    for name in [d.strip() for d in str(cfg["dataset"]).split(",") if d.strip()]:
        entry = info[name]
        records = read_records(dataset_dir / entry["file_name"])
        total += len(records)
        cols = entry.get("columns", {})
        if entry.get("formatting", "alpaca") != "alpaca":
            continue
        for r in records:
            prompt = "\n".join(x for x in (r.get(cols.get("prompt", "")), r.get(cols.get("query", ""))) if x)
            responses = ([r[cols["chosen"]], r[cols["rejected"]]] if entry.get("ranking")
                         else [r[cols.get("response", "output")]])
            longest = 0
            for resp in responses:
                p, a = template.encode_oneturn(tokenizer, [{"role": "user", "content": prompt},
                                                           {"role": "assistant", "content": resp}],
                                               system=r.get(cols["system"]) if cols.get("system") else None)
                longest = max(longest, len(p) + len(a))
            cut += longest > cutoff_len
    return total, cut


def _validate_export(cfg: dict, report: ConfigCheck) -> None:
    from llamafactory.hparams import get_infer_args
    try:
        get_infer_args(dict(cfg))
    except Exception as e:  # noqa: BLE001 - report whatever the parser raises
        report.errors.append(f"LLaMA-Factory rejects the export arguments: {type(e).__name__}: {e}")
    adapter = cfg.get("adapter_name_or_path")
    if adapter and not Path(str(adapter)).is_dir():
        report.not_checked.append(f"adapter '{adapter}' does not exist yet (the stage-I run writes it)")
    if not _model_available(cfg.get("model_name_or_path")):
        report.not_checked.append(f"model '{cfg.get('model_name_or_path')}' is not available locally (offline)")


def format_check(report: ConfigCheck) -> str:
    lines = [f"{report.path}: {'OK' if report.ok else 'FAILED'}"]
    lines += [f"  error: {m}" for m in report.errors]
    lines += [f"  warning: {m}" for m in report.warnings]
    lines += [f"  not checked: {m}" for m in report.not_checked]
    lines += [f"  {m}" for m in report.info]
    return "\n".join(lines)
