"""`w2s-lf doctor`: a smoke run of minutes on a tiny model through every mechanism the 70B
recipe uses (NCCL/gloo, LLaMA-Factory under DeepSpeed ZeRO-3 with save and resume, the merge,
vLLM with tensor parallelism, LoRA and data-parallel engines, a Ray training job), plus the
versions the lock needs; one line per check and a verdict, before any real GPU hour is spent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from w2s_lf.doctor.runner import Check, Outcome, run_checks, verdict


def with_needs(checks: list[Check], only: tuple[str, ...]) -> list[Check]:
    """The checks named in `only` (by name, case-insensitive prefix) and those they need, in order."""
    from w2s_lf.errors import W2SError
    names = {c.name.lower(): c for c in checks}
    wanted: set[str] = set()
    todo = []
    for name in only:
        found = [c for key, c in names.items() if key.startswith(name.lower())]
        if not found:
            raise W2SError(f"--only {name}: no such check; checks: {', '.join(c.name for c in checks)}")
        todo += found
    while todo:
        check = todo.pop()
        if check.name not in wanted:
            wanted.add(check.name)
            todo += [c for c in checks if c.name in check.needs]
    return [c for c in checks if c.name in wanted]


def run_doctor(gpu: bool, root: str | Path = "runs/doctor", ray_address: str | None = None,
               only: tuple[str, ...] = (), progress: bool = False,
               echo: Callable[[str], None] = print) -> tuple[bool, list[Outcome]]:
    """Run the smoke checks (their CPU versions unless `gpu`) in `root`; print one line per
    check and the verdict; return (ready, outcomes)."""
    from w2s_lf.doctor.smoke import Smoke, prepare_root
    from w2s_lf.launch.torchrun import torch_visible_gpus
    root = Path(root).absolute()
    prepare_root(root)
    # the tiny model and data are local: no process of the smoke run may wait on a hub
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(var, "1")
    smoke = Smoke(root, gpu, torch_visible_gpus() if gpu else 0, ray_address, progress)
    mode = f"GPU, {smoke.gpus} visible" if gpu else "CPU versions of the GPU checks"
    echo(f"w2s-lf doctor ({mode}); work and logs in {root}")
    checks = smoke.checks()
    outcomes = run_checks(with_needs(checks, only) if only else checks, echo)
    ready, line = verdict(outcomes, "the GPU recipe on this node" if gpu else "the CPU recipe")
    echo(line + ("" if ready else f"; logs: {root / 'logs'}"))
    return ready, outcomes
