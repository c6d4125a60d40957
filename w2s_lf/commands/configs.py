from __future__ import annotations

import click

from w2s_lf.cli import guarded, parse_overrides
from w2s_lf.lf.configs import KINDS


@click.command(short_help="Emit LLaMA-Factory train / export configs (YAML) for the recipe.")
@click.argument("kind", required=False,
                type=click.Choice([*KINDS, "export"]))
@click.argument("overrides", nargs=-1)
@click.option("--preset", default="70b", show_default=True, type=click.Choice(["70b", "7b", "cpu"]))
@click.option("--model", help="model_name_or_path (dpo, ipo, hinge, orpo, simpo, kto: the merged M_plus, or the base with --adapter).")
@click.option("--dataset", help="Dataset name(s) in dataset_info.json, comma separated.")
@click.option("--dataset-dir", default="data/gsm8k", show_default=True)
@click.option("--output-dir", help="Training output_dir (export: the merged model's folder).")
@click.option("--adapter", help="LoRA adapter to start from (dpo: M_plus's; the reference is then named explicitly).")
@click.option("--ref-model", help="DPO reference model (default: the merged M_plus itself).")
@click.option("--ref-adapter", help="Adapter of the DPO reference model.")
@click.option("--lf-version", default="0.9.5", show_default=True, type=click.Choice(["0.9.5", "0.6.2", "0.5.0"]),
              help="0.5.0 / 0.6.2: the paper's versions (dpo_beta; stage: orpo with orpo_beta).")
@click.option("--nproc-per-node", type=click.IntRange(min=1),
              help="GPUs (processes) per node to resolve the preset's global batch for "
                   "[default: the preset's own: 70b 8, 7b 1, cpu 1].")
@click.option("--nnodes", type=click.IntRange(min=1), default=1, show_default=True, help="Nodes.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.option("--write-shipped", is_flag=True, help="Regenerate llama_factory_configs/ from the library.")
@guarded
def configs(kind, overrides, preset, model, dataset, dataset_dir, output_dir, adapter, ref_model,
            ref_adapter, lf_version, nproc_per_node, nnodes, output, write_shipped):
    """Emit a config for one step; trailing key=value pairs override any key.

    The presets state a global batch (70b: 64, 7b: 16); gradient_accumulation_steps is derived
    for --nproc-per-node x --nnodes processes, and the derivation is printed to stderr. An
    explicit gradient_accumulation_steps=N override replaces the global batch.

    \b
    Examples:
      w2s-lf configs sft --preset 70b --model meta-llama/Llama-2-70b-hf --dataset gsm8k_iter1_hybrid \\
          --output-dir saves/mplus -o mplus.yaml
      w2s-lf configs export --model meta-llama/Llama-2-70b-hf --adapter saves/mplus --output-dir models/mplus
      w2s-lf configs dpo --preset cpu --model models/mplus --dataset gsm8k_pairs --output-dir saves/dpo \\
          pref_beta=0.2 max_steps=10
      w2s-lf configs sft --preset 70b --model meta-llama/Llama-2-70b-hf --dataset gsm8k_iter1_hybrid \\
          --output-dir saves/mplus --nproc-per-node 8 --nnodes 2      # 2 x 8 GPUs, global batch 64
      w2s-lf configs simpo --preset cpu --model models/mplus --dataset gsm8k_pairs --output-dir saves/simpo \
          simpo_gamma=0.5      # also ipo, hinge; kto takes `w2s-lf build kto` data
      w2s-lf configs orpo --lf-version 0.6.2 --model models/mplus --dataset gsm8k_pairs --output-dir saves/orpo
      w2s-lf configs sft --preset 7b --model Qwen/Qwen2.5-7B --dataset math_iter1_hybrid --output-dir saves/q \
          template=qwen      # chat models: their family's template (raw prompts: w2s_vanilla)
      w2s-lf configs --write-shipped

    Train with `python -m w2s_lf.lf.cli train CONFIG` (LLaMA-Factory's CLI with our
    `w2s_vanilla` template registered).
    """
    from w2s_lf.errors import W2SError
    from w2s_lf.lf import configs as lib

    if write_shipped:
        from w2s_lf.lf.shipped import write_shipped as write
        for path in write():
            click.echo(f"wrote {path}", err=True)
        return
    if kind is None:
        raise W2SError("give a KIND (weak_sft, sft, dpo, orpo, export) or --write-shipped")
    values = parse_overrides(overrides)
    if not model or not output_dir:
        raise W2SError("--model and --output-dir are required")
    if kind == "export":
        if not adapter:
            raise W2SError("export needs --adapter (the LoRA to merge)")
        cfg = lib.make_export_config(model, adapter, output_dir,
                                     device="cpu" if preset == "cpu" else "auto", overrides=values)
    else:
        if not dataset:
            raise W2SError("--dataset is required")
        planned = lib.plan_train_config(kind, preset, model, dataset, dataset_dir, output_dir, adapter=adapter,
                                        ref_model=ref_model, ref_adapter=ref_adapter, lf_version=lf_version,
                                        overrides=values)
        cfg, batch = lib.resolve_batch(planned, nproc_per_node or lib.PRESET_NPROC[preset], nnodes)
        click.echo(f"# {batch}", err=True)
    if output:
        click.echo(f"wrote {lib.write_config(output, cfg)}", err=True)
    else:
        click.echo(lib.render_yaml(cfg), nl=False)
