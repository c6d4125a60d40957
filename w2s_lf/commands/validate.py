from __future__ import annotations

import sys

import click

from w2s_lf.cli import guarded


@click.command(short_help="Check LLaMA-Factory configs and their datasets before training.")
@click.argument("config", nargs=-1, required=True, type=click.Path())
@click.option("--dry-run", is_flag=True, help="Also tokenize the datasets (LLaMA-Factory's loader) and "
                                              "count examples dropped or cut by cutoff_len.")
@click.option("--tokenizer", help="Stand-in tokenizer folder for the dry run when the config's model "
                                  "is not available here (e.g. a 70B hub id offline).")
@guarded
def validate(config, dry_run, tokenizer):
    """Validate each CONFIG: LLaMA-Factory's parser, the choices it does not check, deprecated keys,
    the DPO reference, silent resume, datasets (entry, file, ranking vs stage, columns and types).

    Run from where llamafactory-cli will run (relative paths). Every config is parsed as one CPU
    process (bf16, DeepSpeed and ddp_backend relaxed, the torchrun environment hidden), so the
    answer is the same on a laptop, on a node with 1 or 8 GPUs, and inside torchrun; what that
    leaves out is listed under "not checked". Exit status 1 on any error.

    \b
    Examples:
      w2s-lf validate llama_factory_configs/*.yaml
      w2s-lf validate llama_factory_configs/cpu_dpo.yaml --dry-run
      w2s-lf validate llama_factory_configs/dpo_70b.yaml --dry-run --tokenizer models/smollm2-135m
    """
    import time

    from w2s_lf.errors import W2SError
    from w2s_lf.lf.in_process import quiet_llamafactory
    from w2s_lf.lf.validate import ConfigCheck, format_check, validate_config

    failed = 0
    for path in config:
        start = time.perf_counter()
        try:   # a config that cannot be read fails alone; the others are still checked
            with quiet_llamafactory():
                report = validate_config(path, dry_run=dry_run, tokenizer=tokenizer)
        except W2SError as e:
            report = ConfigCheck(str(path), errors=[str(e)])
        click.echo(format_check(report) + f"\n  ({time.perf_counter() - start:.1f} s)")
        failed += not report.ok
    click.echo(f"{len(config) - failed} of {len(config)} config(s) passed")
    if failed:
        sys.exit(1)
