"""`llamafactory-cli` with w2s-lf's templates registered: `python -m w2s_lf.lf.cli train CONFIG`.

LLaMA-Factory knows only the templates registered in its own process, and `llamafactory-cli`
knows nothing of `w2s_vanilla` (see `w2s_lf.lf.templates`). This wrapper registers our templates
(and fixes LLaMA-Factory's IPO / hinge losses on TRL 0.24: `w2s_lf.lf.patches`) and then hands
over to LLaMA-Factory's own launcher, so every command, option and environment variable
(`FORCE_TORCHRUN`, `NNODES`, ...) behaves as with `llamafactory-cli`.

For distributed training LLaMA-Factory 0.9.5's launcher re-runs itself under torchrun as
`torchrun ... <llamafactory/launcher.py> CONFIG`, a fresh process per rank that would not know
our template. We point that script at our worker entry instead (`-m w2s_lf.lf.cli worker`),
which registers the templates and then runs LLaMA-Factory's training (`run_exp`), exactly as
the launcher's own `__main__` block does.

Examples:
  python -m w2s_lf.lf.cli train llama_factory_configs/cpu_sft.yaml
  FORCE_TORCHRUN=1 NPROC_PER_NODE=8 python -m w2s_lf.lf.cli train llama_factory_configs/sft_70b.yaml
  python -m w2s_lf.lf.cli export llama_factory_configs/export_mplus_70b.yaml
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

WORKER = "worker"
# What torchrun runs on each rank; LLaMA-Factory splits its torchrun command line on whitespace,
# so these words become torchrun's `-m MODULE ARG` (run a module, as `python -m` does).
WORKER_SCRIPT = f"-m w2s_lf.lf.cli {WORKER}"


def command_line(command: str, config_path: str | Path) -> list[str]:
    """`llamafactory-cli COMMAND CONFIG` as this environment's Python runs it through this module."""
    return [sys.executable, "-m", "w2s_lf.lf.cli", command, str(config_path)]


def _launch(argv: list[str]) -> None:
    """LLaMA-Factory's CLI with our templates known and our worker as the torchrun script."""
    from llamafactory import launcher

    from w2s_lf.lf.patches import pass_pref_loss
    from w2s_lf.lf.templates import register

    register()
    if argv[:1] == ["train"]:   # trains in this process unless it re-launches under torchrun
        pass_pref_loss()
    # `launch()` reads the module global `__file__` as the script torchrun runs on each rank.
    launcher.__file__ = WORKER_SCRIPT
    sys.argv = ["llamafactory-cli", *argv]
    launcher.launch()


def _worker(argv: list[str]) -> None:
    """One torchrun rank: register, then train as `llamafactory/launcher.py` run as a script does."""
    from w2s_lf.lf.patches import pass_pref_loss
    from w2s_lf.lf.templates import register

    register()
    pass_pref_loss()
    from llamafactory.train.tuner import run_exp

    sys.argv = [sys.argv[0], *argv]   # LLaMA-Factory reads the config path from sys.argv[1]
    run_exp()


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return
    os.environ.setdefault("DISABLE_VERSION_CHECK", "1")   # see w2s_lf.launch.torchrun.Torchrun.env
    if argv[:1] == [WORKER]:
        _worker(argv[1:])
    else:
        _launch(argv)


if __name__ == "__main__":
    from multiprocessing import freeze_support

    freeze_support()
    main()
