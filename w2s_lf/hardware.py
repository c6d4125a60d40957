"""Which float type to compute in, decided once from what the machine does natively.

On a CPU without native bf16 (an AVX2-only EPYC, say) torch emulates bfloat16 matmuls at
~60x the cost of float32 (1784 ms vs 29 ms for 1024x576 @ 576x1536, see
scripts/bench_dtype.py), so a model saved in bf16 makes LLaMA-Factory and vLLM crawl. CPUs with
AVX512-BF16 or AMX run bf16 natively; GPUs keep bf16 as everywhere else in the recipe.

`W2S_LF_CPU_DTYPE=float32|bfloat16` overrides the CPU choice (e.g. to compare both).
"""

from __future__ import annotations

import os

from w2s_lf.errors import W2SError

CPU_DTYPES = ("float32", "bfloat16")
OVERRIDE_ENV = "W2S_LF_CPU_DTYPE"


def bf16_native(capability: str, avx512_bf16: bool, amx: bool, onednn_isa: str = "") -> bool:
    """The decision table: bf16 only when torch dispatches AVX-512 kernels (not limited by
    `ATEN_CPU_CAPABILITY` or `ONEDNN_MAX_CPU_ISA`) and the CPU has AVX512-BF16 or AMX."""
    if not capability.upper().startswith("AVX512"):
        return False
    if onednn_isa and not onednn_isa.upper().startswith(("AVX512", "AMX", "ALL", "DEFAULT")):
        return False
    return avx512_bf16 or amx


def cpu_dtype() -> str:
    """`bfloat16` on CPUs that compute it natively, else `float32` (see the module docstring)."""
    forced = os.environ.get(OVERRIDE_ENV)
    if forced:
        if forced not in CPU_DTYPES:
            raise W2SError(f"{OVERRIDE_ENV}={forced!r}: expected one of {', '.join(CPU_DTYPES)}")
        return forced
    import torch
    native = bf16_native(torch.backends.cpu.get_cpu_capability(), torch.cpu._is_avx512_bf16_supported(),
                         torch.cpu._is_amx_tile_supported(), os.environ.get("ONEDNN_MAX_CPU_ISA", ""))
    return "bfloat16" if native else "float32"


def describe() -> str:
    """One line for benchmark and profile output: capability, native bf16, chosen dtype."""
    import torch
    return (f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
            f"avx512_bf16 {torch.cpu._is_avx512_bf16_supported()}, amx {torch.cpu._is_amx_tile_supported()}, "
            f"{os.cpu_count()} cores, CPU dtype {cpu_dtype()}")
