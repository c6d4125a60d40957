"""Checks made before an engine starts, so a wrong path fails in a second, not after a minute
of model loading: the model folder exists, and a LoRA adapter fits the model's shapes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from w2s_lf.errors import W2SError
from w2s_lf.io import is_dir
from w2s_lf.schema import shown

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


def resolve_model_name(spec, where: str, check_hub: bool = True) -> str:
    """What a recipe's model name is, checked before any stage: `builtin`, `folder` or `hub`.

    A built-in name (a near miss gets a did-you-mean), an existing folder with `config.json`, or
    a hub id (`org/name`) that is in the local Hugging Face cache or, with `check_hub`, that the
    hub says exists (asked within `HUB_TIMEOUT_S`; never with HF_HUB_OFFLINE=1). Anything else is
    a W2SError `where: ...`."""
    import difflib

    from w2s_lf.models.builtin import BUILDERS

    if not isinstance(spec, str) or not spec.strip():
        raise W2SError(f"{where}: expected a model name, folder or hub id, got {shown(spec)}")
    if spec in BUILDERS:
        return "builtin"
    folder = is_dir(spec)
    if folder or spec.startswith(("/", ".", "~")) or spec.count("/") != 1:
        if folder and (Path(spec).expanduser() / "config.json").is_file():
            return "folder"
        if folder:
            raise W2SError(f"{where}: {shown(spec)} is not a Hugging Face model folder (no config.json)")
        if "/" in spec or spec.startswith("~"):
            raise W2SError(f"{where}: model folder {shown(spec)} not found (a hub id is org/name)")
        near = difflib.get_close_matches(spec, list(BUILDERS), n=1)
        hint = (f"did you mean '{near[0]}'?" if near else
                f"built-in models: {', '.join(BUILDERS)}; a hub id is org/name")
        raise W2SError(f"{where}: {shown(spec)} is not a built-in model, a model folder or a hub id ({hint})")
    from huggingface_hub.utils import HFValidationError, validate_repo_id
    try:
        validate_repo_id(spec)
    except HFValidationError:
        raise W2SError(f"{where}: {shown(spec)} is not a hub id (org/name: letters, digits, '-', '_', '.'; "
                       "no '--' or '..')") from None
    if not check_hub or _hub_cached(spec):
        return "hub"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise W2SError(f"{where}: hub id '{spec}' is not in the local Hugging Face cache and HF_HUB_OFFLINE is "
                       "set: download it first, or name a local folder")
    problem = _ask_hub(spec)
    if problem:
        raise W2SError(f"{where}: hub id '{spec}': {problem}")
    return "hub"


HUB_TIMEOUT_S = 15.0


def _hub_cached(repo_id: str) -> bool:
    """The model's config.json is in the local Hugging Face cache (`HF_HUB_CACHE` as set now)."""
    from huggingface_hub import try_to_load_from_cache
    found = try_to_load_from_cache(repo_id, "config.json", cache_dir=os.environ.get("HF_HUB_CACHE"))
    return isinstance(found, str)


def _ask_hub(repo_id: str) -> str | None:
    """Why the hub cannot serve `repo_id` (not found, not reachable), or None. Bounded in time:
    the request has a timeout, and a stalled name lookup is given up after `HUB_TIMEOUT_S`."""
    import threading

    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    answer: list[str | None] = []

    def ask():
        try:
            HfApi(endpoint=os.environ.get("HF_ENDPOINT")).model_info(repo_id, timeout=HUB_TIMEOUT_S)
            answer.append(None)
        except GatedRepoError:
            answer.append(None)   # it exists; the download needs a token with access (HF_TOKEN)
        except RepositoryNotFoundError:
            answer.append("not found on the hub (a private repository needs HF_TOKEN)")
        except Exception as e:  # noqa: BLE001 - network errors come in many types
            why = (str(e).splitlines() or [""])[0][:200]
            answer.append(f"the hub could not be reached ({type(e).__name__}: {why}); download the model "
                          "where it is reachable and set HF_HUB_OFFLINE=1, or name a local folder")

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    thread.join(HUB_TIMEOUT_S + 5)
    if not answer:
        return f"the hub did not answer within {HUB_TIMEOUT_S + 5:.0f} s; name a local folder, or retry"
    return answer[0]


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
