"""What the planner builds stages from: the command prefix, a model as generation sees it, and
an engine in the making (`w2s_lf.run.plan`, `w2s_lf.run.plan_beyond`)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

W2S = [sys.executable, "-m", "w2s_lf"]


@dataclass(frozen=True)
class ModelRef:
    """A model as generation sees it: base weights plus an optional LoRA adapter (run-relative)."""

    base: str
    adapter: str | None = None
    base_in_run: bool = False    # the base is itself a stage output (a merged model)


@dataclass
class Engine:
    """One generation stage in the making: a base model and the jobs it serves."""

    base: ModelRef
    tp: int
    jobs: list[dict] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    eval_files: list[str] = field(default_factory=list)

    def job(self, out: str, split: str, mode: str = "zero-shot", adapter: str | None = None, **extra) -> None:
        self.jobs.append({"output": out, "split": split, "mode": mode, "adapter": adapter, **extra})
        self.inputs += [x for x in (adapter, extra.get("demos")) if x and x not in self.inputs]
