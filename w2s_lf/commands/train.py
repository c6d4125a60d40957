from __future__ import annotations

import click

from w2s_lf.cli import guarded, parse_overrides


@click.command(short_help="Validate a LLaMA-Factory config, then train with llamafactory-cli.")
@click.argument("config", type=click.Path())
@click.argument("overrides", nargs=-1)
@click.option("--log", "log_path", type=click.Path(), help="Log file (default <output_dir>/train.log).")
@click.option("--no-validate", is_flag=True, help="Skip `w2s-lf validate` before launching.")
@guarded
def train(config, overrides, log_path, no_validate):
    """Check CONFIG (with `key=value` overrides, as llamafactory-cli takes them) and train it.

    Multi-GPU / multi-node: set FORCE_TORCHRUN, NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT and
    NPROC_PER_NODE as for llamafactory-cli; they are passed through.

    \b
    Examples:
      w2s-lf train llama_factory_configs/cpu_sft.yaml
      w2s-lf train llama_factory_configs/dpo_70b.yaml pref_beta=0.05 output_dir=saves/dpo_b005
      NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 MASTER_PORT=29500 w2s-lf train llama_factory_configs/sft_70b.yaml
    """
    from pathlib import Path

    import yaml

    from w2s_lf.errors import W2SError
    from w2s_lf.train import train as launch

    path = Path(config)
    if not path.is_file():
        raise W2SError(f"{path}: config not found")
    cfg = {**(yaml.safe_load(path.read_text()) or {}), **parse_overrides(overrides)}
    if "output_dir" not in cfg:
        raise W2SError(f"{path}: field 'output_dir': missing")
    written = Path(cfg["output_dir"]).parent / f"{Path(cfg['output_dir']).name}.train.yaml" if overrides else path
    log = log_path or Path(cfg["output_dir"]).parent / f"{Path(cfg['output_dir']).name}.train.log"
    out = launch(cfg, written, log, validate=not no_validate)
    click.echo(f"trained: {out} (log: {log})")
