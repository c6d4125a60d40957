from __future__ import annotations

import click

from w2s_lf.cli import guarded, parse_overrides


@click.command(short_help="Validate a LLaMA-Factory config, then train with llamafactory-cli.")
@click.argument("config", type=click.Path())
@click.argument("overrides", nargs=-1)
@click.option("--log", "log_path", type=click.Path(), help="Log file (default <output_dir>/train.log).")
@click.option("--no-validate", is_flag=True, help="Skip `w2s-lf validate` before launching.")
@click.option("--ray-workers", type=int, help="Train as one job of this many ranks on a Ray cluster.")
@click.option("--ray-address", help="The Ray cluster (host:port of the head); default $RAY_ADDRESS, else "
                                    "a cluster started on this machine.")
@click.option("--ray-gpus-per-worker", type=int, default=1, show_default=True,
              help="GPUs per rank; 0 trains on CPUs with gloo.")
@click.option("--ray-cpus-per-worker", type=float, default=1, show_default=True,
              help="Logical Ray CPUs each rank reserves.")
@click.option("--ray-placement", type=click.Choice(["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"]),
              default="PACK", show_default=True, help="How ranks spread over nodes.")
@click.option("--slurm-nodes", type=int, help="Inside a SLURM allocation: train over this many nodes "
                                                "(srun + torchrun, c10d rendezvous on the first node).")
@click.option("--slurm-gpus-per-node", type=int, envvar="SLURM_GPUS_ON_NODE", default=8, show_default=True,
              help="Ranks per node with --slurm-nodes (default $SLURM_GPUS_ON_NODE).")
@guarded
def train(config, overrides, log_path, no_validate, ray_workers, ray_address, ray_gpus_per_worker,
          ray_cpus_per_worker, ray_placement, slurm_nodes, slurm_gpus_per_node):
    """Check CONFIG (with `key=value` overrides, as llamafactory-cli takes them) and train it.

    Multi-GPU on this machine: set FORCE_TORCHRUN and NPROC_PER_NODE as for llamafactory-cli;
    they are passed through. Several nodes: `--ray-workers N` runs the stage as one job of N
    ranks on a Ray cluster, from this one command; inside a SLURM allocation `--slurm-nodes N`
    runs it as one srun + torchrun step instead (see docs/scale.md). Every path in the config
    must be on a file system all nodes share. torchrun is taken from this Python's environment,
    activated or not, and stopping this command (Ctrl-C, kill, even kill -9) stops torchrun and
    every worker.

    \b
    Examples:
      w2s-lf train llama_factory_configs/cpu_sft.yaml
      w2s-lf train llama_factory_configs/dpo_70b.yaml pref_beta=0.05 output_dir=saves/dpo_b005
      w2s-lf train llama_factory_configs/sft_70b.yaml --ray-address 10.0.0.1:6379 --ray-workers 16
      w2s-lf train llama_factory_configs/cpu_sft.yaml --ray-workers 2 --ray-gpus-per-worker 0
      w2s-lf train llama_factory_configs/sft_70b.yaml --slurm-nodes 2 --slurm-gpus-per-node 8
    """
    from pathlib import Path

    from w2s_lf.errors import W2SError
    from w2s_lf.lf.train import train as launch
    from w2s_lf.lf.validate import load_config

    path = Path(config)
    cfg = {**load_config(path), **parse_overrides(overrides)}
    if "output_dir" not in cfg:
        raise W2SError(f"{path}: field 'output_dir': missing")
    if ray_address and not ray_workers:
        raise W2SError("--ray-address: also give --ray-workers N (the number of ranks)")
    if ray_workers and slurm_nodes:
        raise W2SError("--ray-workers and --slurm-nodes: choose one launcher")
    # the config as trained goes beside output_dir when it differs from CONFIG (never over it)
    beside = Path(cfg["output_dir"]).parent / f"{Path(cfg['output_dir']).name}.train.yaml"
    written = beside if overrides or ray_workers or slurm_nodes else path
    log = log_path or Path(cfg["output_dir"]).parent / f"{Path(cfg['output_dir']).name}.train.log"
    if ray_workers:
        from w2s_lf.launch.ray_job import RayJob
        launcher = RayJob(ray_workers, ray_gpus_per_worker, ray_cpus_per_worker, ray_address, ray_placement)
    elif slurm_nodes:
        from w2s_lf.launch.slurm import SrunJob
        launcher = SrunJob(slurm_nodes, slurm_gpus_per_node)
    else:
        from w2s_lf.launch.torchrun import Torchrun, launch_from_env
        launcher = Torchrun(launch_from_env())
    out = launch(cfg, written, log, launcher, validate=not no_validate)
    click.echo(f"trained: {out} (log: {log})")
