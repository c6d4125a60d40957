"""Hub models through the local Hugging Face cache (no network): a fake cache laid out as
huggingface_hub lays it out, offline resolution of hub ids, and `models fetch`'s messages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from w2s_lf.errors import W2SError
from w2s_lf.models import hub
from w2s_lf.models.checks import check_model

REPO_ID = "meta-llama/Llama-2-70b-hf"
REVISION = "6aa0f1c3a8e2b0e6d2f4a1b3c5d7e9f0a1b2c3d4"


def cache_repo(cache: Path, repo_id: str, files: dict[str, bytes], revision: str = REVISION) -> Path:
    """`files` as huggingface_hub caches them: blobs/<hash>, snapshots/<rev>/<name> -> blob link,
    refs/main = rev. Returns the snapshot folder."""
    import hashlib
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    for name, content in files.items():
        blob = repo / "blobs" / hashlib.sha256(content).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(content)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("../../blobs") / blob.name)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def sharded_model(shards: int = 2) -> dict[str, bytes]:
    index = {"weight_map": {f"layer.{i}": f"model-{i + 1:05d}-of-{shards:05d}.safetensors" for i in range(shards)}}
    files = {"config.json": json.dumps({"model_type": "llama", "hidden_size": 8192}).encode(),
             "model.safetensors.index.json": json.dumps(index).encode(), "tokenizer.json": b"{}"}
    files.update({name: name.encode() for name in index["weight_map"].values()})
    return files


def test_offline_hub_id_resolves_to_the_cached_snapshot(hf_cache):
    snapshot = cache_repo(hf_cache, REPO_ID, sharded_model())
    assert check_model(REPO_ID) == str(snapshot)
    # the same folder huggingface_hub itself finds offline: the layout is the library's
    from huggingface_hub import snapshot_download
    assert Path(snapshot_download(REPO_ID, local_files_only=True, cache_dir=hf_cache)) == snapshot


def test_a_real_model_loads_from_the_resolved_snapshot(hf_cache, tiny_model):
    """tiny-llama's files as a cached hub repository: transformers loads the resolved folder."""
    from transformers import AutoConfig, AutoTokenizer
    files = {p.name: p.read_bytes() for p in Path(tiny_model).iterdir() if p.is_file() and not p.name.startswith(".")}
    cache_repo(hf_cache, "org/tiny-llama", files)
    folder = check_model("org/tiny-llama")
    assert AutoConfig.from_pretrained(folder).num_hidden_layers == 2
    assert AutoTokenizer.from_pretrained(folder)("2 + 2").input_ids


def test_offline_hub_id_not_cached_or_incomplete(hf_cache):
    with pytest.raises(W2SError, match="model folder not found: meta-llama/Llama-2-70b-hf"):
        check_model(REPO_ID)
    files = sharded_model(3)
    del files["model-00002-of-00003.safetensors"]    # a download cut off
    cache_repo(hf_cache, REPO_ID, files)
    with pytest.raises(W2SError, match=r"incomplete: 1 of 3 weight files missing.*models fetch meta-llama/Llama-2-70b-hf"):
        check_model(REPO_ID)


def test_only_config_cached_is_no_model(hf_cache):
    cache_repo(hf_cache, REPO_ID, {"config.json": b"{}"})   # e.g. someone ran AutoConfig only
    with pytest.raises(W2SError, match="no weight files"):
        check_model(REPO_ID)


def test_local_folders_are_not_hub_ids(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org/name").mkdir(parents=True)
    assert hub.is_hub_id("meta-llama/Llama-2-7b-hf")
    assert not any(map(hub.is_hub_id, ["org/name", "./x/y", "/abs/path", "a/b/c", "~/m", "tiny-llama", "org/"]))


def test_fetch_when_cached_needs_no_network(hf_cache, cli):
    snapshot = cache_repo(hf_cache, REPO_ID, sharded_model())
    assert hub.fetch(REPO_ID) == snapshot
    result = cli("models", "fetch", REPO_ID)
    assert result.exit_code == 0 and result.output.strip() == str(snapshot)


def test_fetch_offline_and_not_cached_says_so(hf_cache, cli):
    result = cli("models", "fetch", REPO_ID)
    assert result.exit_code == 2 and "HF_HUB_OFFLINE=1 forbids downloading" in result.output
    typo = cli("models", "fetch", "tiny-lama")
    assert typo.exit_code == 2 and "did you mean 'tiny-llama'" in typo.output


def test_weight_files_prefer_safetensors():
    both = ["config.json", "model-00001-of-00002.safetensors", "pytorch_model-00001-of-00002.bin",
            "model.safetensors.index.json", "pytorch_model.bin.index.json", "original/consolidated.00.pth",
            "tokenizer.model", "tokenizer_config.json"]
    assert hub.weight_files(both) == ["config.json", "model-00001-of-00002.safetensors", "model.safetensors.index.json",
                                      "pytorch_model.bin.index.json", "tokenizer.model", "tokenizer_config.json"]
    only_bin = ["config.json", "pytorch_model.bin"]
    assert hub.weight_files(only_bin) == only_bin


def hub_online(monkeypatch, model_info):
    """The hub as far as `fetch` talks to it (the one thing here that cannot be real)."""
    from huggingface_hub import HfApi
    monkeypatch.setattr(hub, "offline", lambda: False)
    monkeypatch.setattr(HfApi, "model_info", lambda self, repo_id, **kw: model_info(repo_id, **kw))


def test_gated_repo_message_names_licence_and_token(hf_cache, monkeypatch):
    from huggingface_hub.errors import GatedRepoError

    def refuse(repo_id, **kw):
        request = httpx.Request("GET", f"https://huggingface.co/api/models/{repo_id}")
        raise GatedRepoError("403 Client Error: access to this model is restricted",
                             response=httpx.Response(403, request=request))
    hub_online(monkeypatch, refuse)
    for var in hub.TOKEN_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(W2SError) as err:
        hub.fetch(REPO_ID)
    message = str(err.value)
    assert "is gated" in message and f"https://huggingface.co/{REPO_ID}" in message and "licence" in message
    assert "set HF_TOKEN" in message


def test_token_variables_and_disk_check(hf_cache, monkeypatch):
    seen = {}

    def info(repo_id, token=None, **kw):
        seen["token"] = token
        return SimpleNamespace(sha=REVISION, siblings=[SimpleNamespace(rfilename="model.safetensors", size=10**18),
                                                       SimpleNamespace(rfilename="config.json", size=10)])
    hub_online(monkeypatch, info)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "hf_legacy")
    with pytest.raises(W2SError, match=r"needs 1000000.0 TB in .*free space or set HF_HOME"):
        hub.fetch(REPO_ID)
    assert seen["token"] == "hf_legacy"
    monkeypatch.setenv("HF_TOKEN", "hf_new")
    with pytest.raises(W2SError):
        hub.fetch(REPO_ID)
    assert seen["token"] == "hf_new"
    assert not any(hf_cache.iterdir())   # nothing half-written


def test_cached_model_ignores_non_hub_specs(hf_cache):
    assert hub.cached_model("not a repo/with spaces") is None and hub.cached_model("tiny-llama") is None
    shutil.rmtree(hf_cache)
    assert hub.cached_model(REPO_ID) is None
