"""Checks made before an engine starts, so a wrong path fails in a second, not after a minute
of model loading: the model folder exists, and a LoRA adapter fits the model's shapes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from w2s_lf.errors import W2SError

_LAYER = re.compile(r"\.layers\.(\d+)\.")
_MODULE = re.compile(r"\.(\w+)\.lora_([AB])(?:\.\w+)?\.weight$")


def check_model(spec: str) -> str:
    """Resolve a built-in model name; a local path must be a folder with `config.json`. Other
    strings are hub ids: offline (HF_HUB_OFFLINE=1), one in the local Hugging Face cache
    resolves to its snapshot folder (`w2s_lf.models.hub`)."""
    from w2s_lf.models.builtin import BUILDERS, resolve_model

    if spec in BUILDERS:
        return resolve_model(spec)
    if os.environ.get("HF_HUB_OFFLINE") == "1":   # a cached hub id loads from its snapshot folder
        from w2s_lf.models.hub import cached_model
        if (snapshot := cached_model(spec)) is not None:
            return snapshot
    path = Path(spec).expanduser()
    looks_local = path.is_absolute() or spec.startswith((".", "~")) or spec.count("/") != 1
    if path.exists() or looks_local or os.environ.get("HF_HUB_OFFLINE") == "1":
        if not path.is_dir():
            raise W2SError(f"model folder not found: {spec}")
        if not (path / "config.json").is_file():
            raise W2SError(f"{spec} is not a Hugging Face model folder (no config.json)")
        return str(path)
    return spec


def _expected_shapes(config: dict) -> dict[str, tuple[int, int]]:
    """(in_features, out_features) of the linear layers LoRA usually targets (Llama-like)."""
    hidden = config.get("hidden_size")
    heads = config.get("num_attention_heads")
    if not hidden or not heads:
        return {}
    head_dim = config.get("head_dim") or hidden // heads
    kv = config.get("num_key_value_heads") or heads
    inter = config.get("intermediate_size")
    shapes = {"q_proj": (hidden, heads * head_dim), "k_proj": (hidden, kv * head_dim),
              "v_proj": (hidden, kv * head_dim), "o_proj": (heads * head_dim, hidden)}
    if inter:
        shapes.update(gate_proj=(hidden, inter), up_proj=(hidden, inter), down_proj=(inter, hidden))
    return shapes


def check_adapter(adapter: str, model: str) -> dict:
    """Return the adapter's `adapter_config.json`; raise W2SError when the adapter cannot belong
    to `model` (layer count or any LoRA matrix shape disagrees with the model's config)."""
    folder = Path(adapter).expanduser()
    if not folder.is_dir():
        raise W2SError(f"adapter folder not found: {adapter}")
    cfg_path = folder / "adapter_config.json"
    if not cfg_path.is_file():
        raise W2SError(f"{adapter} is not a PEFT/LoRA adapter folder (no adapter_config.json)")
    cfg = json.loads(cfg_path.read_text())
    model_cfg_path = Path(model) / "config.json"
    weights = folder / "adapter_model.safetensors"
    if not model_cfg_path.is_file() or not weights.is_file():
        return cfg   # hub model or .bin adapter: the engine will check when it loads
    config = json.loads(model_cfg_path.read_text())
    config = config.get("text_config", config) if "hidden_size" not in config else config
    shapes, layers = _expected_shapes(config), config.get("num_hidden_layers")
    from safetensors import safe_open

    base = cfg.get("base_model_name_or_path") or "?"
    with safe_open(str(weights), framework="pt") as f:
        for key in f.keys():
            layer, module = _LAYER.search(key), _MODULE.search(key)
            if layer and layers is not None and int(layer.group(1)) >= layers:
                raise W2SError(f"adapter {adapter} does not match model {model}: it has weights for "
                               f"layer {layer.group(1)} but the model has {layers} layers "
                               f"(adapter trained on {base})")
            if not module or module.group(1) not in shapes:
                continue
            shape = tuple(f.get_slice(key).get_shape())
            in_f, out_f = shapes[module.group(1)]
            got = shape[1] if module.group(2) == "A" else shape[0]
            want = in_f if module.group(2) == "A" else out_f
            if got != want:
                raise W2SError(f"adapter {adapter} does not match model {model}: {key} has shape "
                               f"{list(shape)}, the model's {module.group(1)} needs {want} "
                               f"{'inputs' if module.group(2) == 'A' else 'outputs'} "
                               f"(adapter trained on {base})")
    return cfg
