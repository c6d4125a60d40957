#!/usr/bin/env python
"""float32 vs bfloat16 on this CPU, side by side in one process: why w2s_lf.hardware decides.

1. A SmolLM2-sized matmul (1024x576 @ 576x1536), the shape of one MLP projection per batch.
2. One training step (forward + backward) of a SmolLM2-135M-shaped Llama, batch 2 x 128 tokens:
   weights in float32; weights in bfloat16 (what a model saved in bf16 gets from LLaMA-Factory);
   float32 weights under bf16 autocast (what `bf16: true` does on CPU).

Run it natively and with an AVX2 EPYC emulated:

    python scripts/bench_dtype.py
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python scripts/bench_dtype.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def best_of(fn, repeats: int) -> float:
    fn()   # warm-up (oneDNN picks and caches kernels on first use)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def matmul_ms(dtype, repeats: int) -> float:
    import torch
    a, b = torch.randn(1024, 576, dtype=dtype), torch.randn(576, 1536, dtype=dtype)
    return best_of(lambda: a @ b, repeats)


def train_step_ms(weights, autocast: bool, repeats: int) -> float:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True)
    model = LlamaForCausalLM(config).to(weights)
    ids = torch.randint(0, config.vocab_size, (2, 128))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        model.zero_grad(set_to_none=True)
    return best_of(step, repeats)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-train", action="store_true", help="only the matmul")
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(torch.get_num_threads())
    from w2s_lf.hardware import describe
    print(describe())
    f32, bf16 = matmul_ms(torch.float32, args.repeats * 3), matmul_ms(torch.bfloat16, args.repeats)
    print(f"matmul 1024x576 @ 576x1536: float32 {f32:.1f} ms, bfloat16 {bf16:.1f} ms ({bf16 / f32:.1f}x)")
    if args.skip_train:
        return
    rows = [("float32 weights", torch.float32, False), ("bfloat16 weights", torch.bfloat16, False),
            ("float32 weights + bf16 autocast", torch.float32, True)]
    base = None
    for label, weights, autocast in rows:
        ms = train_step_ms(weights, autocast, args.repeats)
        base = base or ms
        print(f"train step, 135M Llama, batch 2x128: {label}: {ms:.0f} ms ({ms / base:.2f}x)")


if __name__ == "__main__":
    main()
