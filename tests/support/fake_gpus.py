"""Simulate a GPU node on a CPU machine: `torch.cuda` reports N bf16-capable devices.

Enough of `torch.cuda` is patched for transformers' TrainingArguments and LLaMA-Factory's
parser to take the GPU branches they take on a real node (device count, bf16 support,
`set_device`), so a check that breaks on 8 GPUs breaks here too. transformers caches its
device probes (`lru_cache`); they are cleared on entry and on exit.
"""

from __future__ import annotations

import contextlib
from unittest import mock

from support.ports import free_port


def torchrun_env() -> dict[str, str]:
    """What torchrun sets for a worker, as a world of one on a free port: a process that takes
    it at its word initialises torch.distributed at once (visible, and no rendezvous to hang on)."""
    return {"LOCAL_RANK": "0", "RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1", "GROUP_RANK": "0",
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "TORCHELASTIC_RUN_ID": "simulated"}


def _clear_probe_caches() -> None:
    from transformers.utils import import_utils
    for name in ("is_torch_cuda_available", "is_torch_bf16_gpu_available", "is_torch_bf16_available_on_device",
                 "is_torch_tf32_available", "is_torch_fp16_available_on_device"):
        probe = getattr(import_utils, name, None)
        if hasattr(probe, "cache_clear"):
            probe.cache_clear()


@contextlib.contextmanager
def fake_gpus(count: int):
    """`with fake_gpus(8): ...` -- torch.cuda looks like `count` H100s (0: no GPU at all)."""
    import torch

    patches = [
        mock.patch.object(torch.cuda, "is_available", lambda: count > 0),
        mock.patch.object(torch.cuda, "device_count", lambda: count),
        mock.patch.object(torch.cuda, "is_bf16_supported", lambda *a, **k: count > 0),
        mock.patch.object(torch.cuda, "set_device", lambda *a, **k: None),
        mock.patch.object(torch.cuda, "current_device", lambda: 0),
        mock.patch.object(torch.cuda, "get_device_name", lambda *a, **k: "NVIDIA H100 (simulated)"),
        mock.patch.object(torch.cuda, "get_device_capability", lambda *a, **k: (9, 0)),
    ]
    with contextlib.ExitStack() as stack:
        for p in patches:
            stack.enter_context(p)
        _clear_probe_caches()
        try:
            yield
        finally:
            _clear_probe_caches()
