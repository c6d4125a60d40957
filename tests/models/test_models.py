"""Built-in models: float32 folders, the weak slice of SmolLM2, and rebuilds of outdated caches."""

from __future__ import annotations

import json

import pytest

from w2s_lf.errors import W2SError
from w2s_lf.models import builtin as models


def test_outdated_marker_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("W2S_LF_CACHE", str(tmp_path))
    built = []
    monkeypatch.setitem(models.BUILDERS, "tiny-llama", lambda out: built.append(out))
    folder = models.model_dir("tiny-llama")
    folder.mkdir(parents=True)
    (folder / models.COMPLETE).write_text("ok\n")       # version 1 wrote "ok": still current
    assert models.fetch("tiny-llama") == folder and built == []
    monkeypatch.setitem(models.VERSIONS, "tiny-llama", 2)
    assert not models.is_current("tiny-llama")
    models.fetch("tiny-llama")
    assert len(built) == 1 and (folder / models.COMPLETE).read_text() == "tiny-llama builder 2\n"
    models.fetch("tiny-llama")
    assert len(built) == 1


@pytest.mark.slow
@pytest.mark.parametrize("name, layers", [("smollm2-weak", models.WEAK_LAYERS),
                                          ("smollm2-weak-early", models.WEAK_EARLY_LAYERS)])
def test_smollm2_is_float32_and_weak_is_its_slice(smollm2, name, layers):
    """SmolLM2 is saved in float32 (bf16 is emulated ~60x slower on AVX2 CPUs); a weak model
    keeps its embeddings and 24 of its layers (smollm2-weak: 0-11 and 18-29; smollm2-weak-early:
    0-5 and 12-29), unchanged."""
    import torch
    from safetensors.torch import load_file
    config = json.loads((smollm2 / "config.json").read_text())
    assert config["dtype"] == "float32" and config["num_hidden_layers"] == 30
    weak = models.fetch(name)
    weak_config = json.loads((weak / "config.json").read_text())
    assert weak_config["dtype"] == "float32" and weak_config["num_hidden_layers"] == 24
    strong_w, weak_w = load_file(smollm2 / "model.safetensors"), load_file(weak / "model.safetensors")
    assert all(t.dtype == torch.float32 for t in weak_w.values())
    assert torch.equal(weak_w["model.embed_tokens.weight"], strong_w["model.embed_tokens.weight"])
    for new, old in enumerate(layers):
        key = "model.layers.{}.mlp.down_proj.weight"
        assert torch.equal(weak_w[key.format(new)], strong_w[key.format(old)])
    assert sum(t.numel() for t in weak_w.values()) < 0.85 * sum(t.numel() for t in strong_w.values())


def test_a_cache_folder_the_builder_did_not_make_is_never_replaced(tmp_path, monkeypatch):
    """W2S_LF_CACHE pointing somewhere with a models/<name> of someone else's: refused, kept."""
    monkeypatch.setenv("W2S_LF_CACHE", str(tmp_path))
    monkeypatch.setitem(models.BUILDERS, "tiny-llama", lambda out: (out / "config.json").write_text("{}"))
    folder = models.model_dir("tiny-llama")
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(W2SError, match="was not built by w2s-lf"):
        models.fetch("tiny-llama")
    assert (folder / "notes.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.joinpath("models").iterdir()] == ["tiny-llama"]   # no staging left
