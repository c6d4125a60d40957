"""The `w2s-lf` command line: a thin, lazily loaded registry over the library's functions.

Each command lives in `w2s_lf/commands/<name>.py` and imports heavy libraries (torch, vllm,
llamafactory) inside its body, so `w2s-lf --help` stays instant.
"""

from __future__ import annotations

import importlib
import sys

import click

from w2s_lf import __version__
from w2s_lf.errors import W2SError
from w2s_lf.io import parse_yaml

# name -> module under w2s_lf.commands exposing a click command of the same name
COMMANDS = {
    "prepare": "prepare",
    "generate": "generate",
    "grade": "grade",
    "models": "models",
    "build": "build",
    "configs": "configs",
    "validate": "validate",
    "train": "train",
    "evaluate": "evaluate",
    "report": "report",
    "compare": "compare",
    "run": "run",
    "doctor": "doctor",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return [name for name in COMMANDS if self._find(name) is not None]

    def get_command(self, ctx, name):
        return self._find(name)

    @staticmethod
    def _find(name):
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"w2s_lf.commands.{COMMANDS[name]}")
        return getattr(module, name.replace("-", "_"))


def parse_overrides(items: tuple[str, ...] | list[str]) -> dict:
    """`key=value` pairs as `llamafactory-cli` takes them; values are read as YAML scalars."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got '{item}'")
        out[key.strip()] = parse_yaml(value, f"override {key.strip()}") if value else ""
    return out


def guarded(fn):
    """Run a command body; a `W2SError`, or an `OSError` of the machine (a full disk, a path that
    cannot be made), becomes one line on stderr and exit status 2."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (W2SError, OSError) as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
    return wrapper


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="w2s-lf")
def main():
    """Weak-to-strong reasoning on LLaMA-Factory and vLLM.

    \b
    Typical flow:
      w2s-lf prepare                        # embedded GSM8K-style task into data/embedded
      w2s-lf run recipes/cpu_demo.yaml      # the whole recipe, resumable
    """
