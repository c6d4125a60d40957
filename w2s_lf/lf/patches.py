"""A fix applied in every LLaMA-Factory process w2s-lf starts (`w2s_lf.lf.cli`), for LLaMA-Factory
0.9.5 on the locked TRL 0.24.

`pref_loss: ipo` and `pref_loss: hinge` silently train sigmoid DPO there: LLaMA-Factory's
`CustomDPOTrainer` stores the loss as `self.loss_type` and calls TRL's `dpo_loss(...)` without
`loss_type`, an argument TRL 0.24's `dpo_loss` takes with the default "sigmoid" (older TRL read
`self.loss_type` itself). Found by tests/lf/test_lf_train.py: IPO's step-1 loss came out log 2,
DPO's, instead of (1 / (2 beta))^2. The fix passes the trainer's own `loss_type` on; the losses
themselves stay TRL's. A plain `llamafactory-cli` (no w2s-lf launcher) does not get it.
"""

from __future__ import annotations

import inspect


def pass_pref_loss() -> None:
    """Make LLaMA-Factory's DPO trainer hand its `pref_loss` to TRL's `dpo_loss` (idempotent; a
    TRL whose `dpo_loss` takes no `loss_type` is left alone)."""
    from llamafactory.train.dpo.trainer import CustomDPOTrainer

    original = CustomDPOTrainer.dpo_loss
    if getattr(original, "passes_loss_type", False) or "loss_type" not in inspect.signature(original).parameters:
        return

    def dpo_loss(self, *args, **kwargs):
        kwargs.setdefault("loss_type", self.loss_type)
        return original(self, *args, **kwargs)

    dpo_loss.passes_loss_type = True
    CustomDPOTrainer.dpo_loss = dpo_loss
