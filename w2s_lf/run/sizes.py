"""Disk a stage will write, estimated before it runs (for `--dry-run` and the pre-run check).

Estimates, not promises: they come from the model's size (its config.json when the folder is
here, else the size in its name, e.g. `Llama-2-70b` -> 70e9 parameters) and the stage's config.
A 70B merge writes ~138 GB in bf16; an adapter of rank 8 on a 70B model ~0.3 GB per copy.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

GB = 1e9
MB = 1e6
SIZE_IN_NAME = re.compile(r"(\d+(?:\.\d+)?)\s*([bBmM])(?![a-zA-Z])")


def parameter_count(model: str) -> float | None:
    """Parameters of a model folder (from config.json), a built-in model or a hub id (from its name)."""
    from w2s_lf.models.builtin import PARAMETERS
    config = Path(model) / "config.json"
    if config.is_file():
        c = json.loads(config.read_text())
        h, layers = c.get("hidden_size"), c.get("num_hidden_layers")
        if h and layers:
            ffn = c.get("intermediate_size", 4 * h)
            return layers * (4 * h * h + 3 * h * ffn) + 2 * c.get("vocab_size", 32000) * h
    if Path(model).name in PARAMETERS:   # a built-in model's name, or its cache folder not built yet
        return PARAMETERS[Path(model).name]
    found = SIZE_IN_NAME.findall(Path(model).name)
    if not found:
        return None
    number, unit = found[-1]
    return float(number) * (1e9 if unit in "bB" else 1e6)


def hidden_and_layers(params: float) -> tuple[float, float]:
    """Llama-like shape of a model of `params` parameters (about 12 h^2 per layer, 80 layers at 70B)."""
    layers = max(16.0, min(80.0, 32 * (params / 7e9) ** 0.25))
    return (params / (12 * layers)) ** 0.5, layers


def training_bytes(config: dict, model: str) -> float:
    """The adapter (or full model) plus the checkpoints kept while training."""
    params = parameter_count(model)
    if params is None:
        return 0.0
    bytes_per = 2 if config.get("bf16") else 4
    if config.get("finetuning_type", "lora") == "lora":
        h, layers = hidden_and_layers(params)
        weights = layers * config.get("lora_rank", 8) * h * 22 * 4   # q,k,v,o + gate,up,down, fp32 saved
    else:
        weights = params * bytes_per
    kept = config.get("save_total_limit") or 1
    return weights + kept * 3 * weights    # each checkpoint: weights + Adam's two moments


def training_memory_bytes(config: dict, model: str) -> float | None:
    """Accelerator memory a ZeRO-3 training stage holds for the model, over all its GPUs: the
    weights in their training dtype, and for a full fine-tune their gradients and Adam's fp32
    state too (16 bytes a parameter in all). A LoRA's own parameters are a rounding error;
    activations and gathered layers are what the rest of the memory is for."""
    params = parameter_count(model)
    if params is None:
        return None
    if config.get("finetuning_type", "lora") == "full":
        return params * 16
    return params * (2 if config.get("bf16") or config.get("fp16") else 4)


def download_bytes(model: str) -> float:
    """What a hub model's safetensors weights take in the cache (Llama-2 is stored in 16 bits)."""
    return (parameter_count(model) or 0) * 2


def merge_bytes(model: str, bf16: bool = True) -> float:
    params = parameter_count(model)
    return (params or 0) * (2 if bf16 else 4)


def generation_bytes(questions: int, samples: int, max_new_tokens: int) -> float:
    """JSONL with prompt, response, prediction: ~4 bytes a token plus ~1 kB of prompt a line."""
    return questions * (samples * (max_new_tokens * 4 + 100) + 1000)


def human(nbytes: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", GB), ("MB", MB), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes:.0f} B"
