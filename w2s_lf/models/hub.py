"""Hugging Face Hub models: find them in the local cache, and download them into it.

A GPU run reads its base models from the Hugging Face cache (`HF_HOME`, `HF_HUB_CACHE`), often
with `HF_HUB_OFFLINE=1` (compute nodes without internet; docs/scale.md). huggingface_hub lays a
cached repository out as

    <cache>/models--<org>--<name>/refs/main              the commit main pointed at
    <cache>/models--<org>--<name>/snapshots/<commit>/    the files, links into blobs/

`cached_model` resolves a hub id to that snapshot folder without the network; `fetch`
(`w2s-lf models fetch ORG/NAME`) downloads a repository's weights before the first stage, with
a token from `HF_TOKEN` or `HUGGING_FACE_HUB_TOKEN` (or `hf auth login`'s stored one), a
progress bar, and a clear message for gated repositories such as Llama-2.
"""

from __future__ import annotations

import json
import os
from fnmatch import fnmatch
from pathlib import Path

from w2s_lf.errors import W2SError

# Weights in other formats than safetensors, fetched only when a repository has no safetensors
# (Llama-2 repositories hold both: ~276 GB for 70B where ~138 GB are used).
OTHER_WEIGHTS = ("*.bin", "*.pth", "*.pt", "*.h5", "*.msgpack", "*.ckpt", "*.gguf", "*.onnx", "original/*")
TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def is_hub_id(spec: str) -> bool:
    """`org/name` that is not a local path (the rule `check_model` uses)."""
    path = Path(spec).expanduser()
    return (spec.count("/") == 1 and not spec.startswith((".", "~", "/")) and not path.exists()
            and all(spec.split("/")))


def cache_dir() -> Path:
    """The hub cache this process (and the engines it starts) reads: $HF_HUB_CACHE, else $HF_HOME/hub."""
    from huggingface_hub import constants
    return Path(constants.HF_HUB_CACHE)


def offline() -> bool:
    from huggingface_hub import constants
    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")


def snapshot_problem(folder: Path) -> str | None:
    """Why a snapshot folder cannot serve as a model (None: it can): no config.json, no weights,
    or shards its index names that are missing (a download cut off)."""
    if not (folder / "config.json").is_file():
        return "no config.json"
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (folder / index).is_file():
            shards = set(json.loads((folder / index).read_text()).get("weight_map", {}).values())
            missing = sorted(s for s in shards if not (folder / s).is_file())
            return f"{len(missing)} of {len(shards)} weight files missing ({missing[0]}, ...)" if missing else None
    if any(folder.glob("*.safetensors")) or any(folder.glob("*.bin")):
        return None
    return "no weight files"


def cached_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The cached snapshot folder of `repo_id` (its `main`, or `revision`), or None."""
    if not is_hub_id(repo_id):
        return None
    from huggingface_hub import try_to_load_from_cache
    try:
        found = try_to_load_from_cache(repo_id, "config.json", cache_dir=cache_dir(), revision=revision)
    except ValueError:   # not a valid repository name (HFValidationError)
        return None
    return Path(found).parent if isinstance(found, str) else None


def cached_model(repo_id: str) -> str | None:
    """The cached snapshot of a hub model as a folder to load, None when it is not cached; a
    W2SError when it is cached but incomplete."""
    folder = cached_snapshot(repo_id)
    if folder is None:
        return None
    problem = snapshot_problem(folder)
    if problem:
        raise W2SError(f"{repo_id} is in the Hugging Face cache ({folder}) but incomplete: {problem}; "
                       f"run `w2s-lf models fetch {repo_id}` where the hub is reachable")
    return str(folder)


def token() -> str | None:
    """The token from HF_TOKEN or HUGGING_FACE_HUB_TOKEN; None lets huggingface_hub use the one
    `hf auth login` stored."""
    return next((os.environ[v] for v in TOKEN_VARIABLES if os.environ.get(v)), None)


def weight_files(files: list[str]) -> list[str]:
    """The files of a repository that a model load reads: everything but other weight formats
    when it has safetensors (else everything)."""
    if not any(f.endswith(".safetensors") for f in files):
        return list(files)
    return [f for f in files if not any(fnmatch(f, pattern) for pattern in OTHER_WEIGHTS)]


def _hub_error(repo_id: str, error: Exception) -> W2SError:
    """A W2SError saying what to do about a failed hub call."""
    from huggingface_hub.errors import (
        GatedRepoError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )
    login = ("set HF_TOKEN (a read token from https://huggingface.co/settings/tokens) or run `hf auth login`"
             if token() is None else "the token in HF_TOKEN / HUGGING_FACE_HUB_TOKEN")
    if isinstance(error, GatedRepoError):
        return W2SError(f"{repo_id} is gated: accept its licence at https://huggingface.co/{repo_id} with your "
                        f"account (Llama-2: Meta's licence form; approval can take hours), then use a token of "
                        f"that account: {login}")
    if isinstance(error, RevisionNotFoundError):
        return W2SError(f"{repo_id}: no such revision: {error}")
    if isinstance(error, RepositoryNotFoundError):
        return W2SError(f"{repo_id}: no such model on the hub, or it is private and {login} is missing "
                        f"or lacks access")
    return W2SError(f"{repo_id}: the hub could not be reached or refused the download: "
                    f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")


def fetch(repo_id: str, revision: str | None = None, force: bool = False, echo=print) -> Path:
    """Download `repo_id`'s config, tokenizer and weights (safetensors when it has them) into
    the Hugging Face cache and return the snapshot folder. Already cached and complete: no
    download (offline too). Checks the cache's free disk first."""
    import shutil

    if not is_hub_id(repo_id):
        raise W2SError(f"'{repo_id}' is not a hub id (org/name) nor a built-in model")
    have = cached_snapshot(repo_id, revision)
    if have is not None and not force and snapshot_problem(have) is None:
        return have
    if offline():
        raise W2SError(f"{repo_id} is not (completely) in the Hugging Face cache {cache_dir()} and "
                       "HF_HUB_OFFLINE=1 forbids downloading it: fetch it where the hub is reachable "
                       "(unset HF_HUB_OFFLINE), into the same HF_HOME")
    import httpx
    from huggingface_hub import HfApi, snapshot_download

    from w2s_lf.run.sizes import human
    try:
        info = HfApi().model_info(repo_id, revision=revision, files_metadata=True, token=token())
        sizes = {s.rfilename: s.size or 0 for s in info.siblings or []}
        wanted = weight_files(sorted(sizes))
        total = sum(sizes[f] for f in wanted)
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(folder).free
        if total > free:
            raise W2SError(f"{repo_id} needs {human(total)} in {folder}, which has {human(free)} free; "
                           "free space or set HF_HOME to a larger disk")
        echo(f"downloading {len(wanted)} files of {repo_id} ({human(total)}) into {folder}")
        # `revision` as asked (None: main), so refs/main is recorded for offline lookups
        path = snapshot_download(repo_id, revision=revision, allow_patterns=wanted, token=token(),
                                 force_download=force, cache_dir=folder)
    except (httpx.HTTPError, OSError) as e:   # the hub's answers (HfHubHTTPError), no network, a full disk
        raise _hub_error(repo_id, e) from None
    problem = snapshot_problem(Path(path))
    if problem:
        raise W2SError(f"{repo_id}: the download finished but the snapshot {path} is unusable: {problem}")
    return Path(path)
