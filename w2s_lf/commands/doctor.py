from __future__ import annotations

import click

from w2s_lf.cli import guarded


@click.command(short_help="Smoke-test this machine for the recipe: its GPU mechanisms on a tiny model.")
@click.option("--gpu", is_flag=True, help="Check the GPUs: NCCL, ZeRO-3, vLLM TP/LoRA/DP, Ray ranks, driver.")
@click.option("--dir", "root", default="runs/doctor", show_default=True, type=click.Path(),
              help="Work folder (on the shared file system for a Ray cluster); cleared by the next run.")
@click.option("--ray-address", help="Run the Ray checks on this cluster (default: a private Ray per check).")
@click.option("--only", multiple=True, help="Run only these checks (name prefix; what they need runs too).")
@guarded
def doctor(gpu, root, ray_address, only):
    """Run every mechanism the 70B recipe uses on a tiny Llama, before a real hour is spent.

    With --gpu, on whatever GPUs are visible (1 to 8): the driver and CUDA against the lock;
    an NCCL all-reduce over all GPUs (torchrun); LoRA SFT under DeepSpeed ZeRO-3 on all ranks
    with the 70b preset (2 steps, save), a rerun that resumes from the checkpoint, the merge,
    DPO from the merged model; a vLLM engine at TP min(2, GPUs) serving the LoRA adapter, and
    two data-parallel engines; a 2-rank Ray training job with a GPU per actor. Without --gpu,
    the CPU versions (gloo, 2 CPU ranks, vLLM-CPU, Ray on CPUs). Same configs and launchers as
    the recipe; only the model is tiny. One line per check (pass/warn/fail/skip and the
    cause), then a verdict; exit status 1 unless ready. Logs: DIR/logs/<check>.log.

    \b
    Examples:
      w2s-lf doctor --gpu                              # on a GPU node, before `w2s-lf run`
      w2s-lf doctor                                    # the CPU install
      w2s-lf doctor --gpu --only vllm                  # one check (and what it needs)
      w2s-lf doctor --gpu --ray-address 10.0.0.1:6379 --dir /shared/w2s-lf/runs/doctor
    """
    import sys

    from w2s_lf.doctor import run_doctor
    ready, _ = run_doctor(gpu, root, ray_address, tuple(only), progress=True, echo=click.echo)
    sys.exit(0 if ready else 1)
