#!/usr/bin/env python
"""Generation throughput, side by side in one run (a script, not a timed test).

1. vLLM vs HF: greedy zero-shot answers to the same questions.
2. Sampling k answers per question: one pass with n=k (w2s-lf) vs the paper's k passes with
   n=1 and seeds 0..k-1 (same questions, same k, same engine).
3. Few-shot (4 demonstrations drawn by the `paper` strategy from the greedy answers of step 1,
   as the recipe draws them from the weak model's answers): vLLM prefix caching on vs off
   (two engines, since caching is an engine setting).

Greedy and few-shot calls are timed on a second identical call (the cache emptied between the
two); sampling comes after them on a warm engine, the one-pass run first. Both sampling runs use
the same engine with prefix caching on, so the k passes already reuse their prompts' KV cache;
the paper's k passes were k separate runs, each also paying engine start-up (not counted here).

4. Tail effect (`--parts tail`): the same greedy questions answered batch-synchronously (each
   batch of `--batch` waits for its slowest answer, as generation did before) vs continuously
   (`serve`: a finished answer's place is refilled at once), at most `--batch` in flight in both.
5. LoRA cost (`--parts lora`): an adapter served unmerged by vLLM multi-LoRA, the base model
   from the same engine (no LoRA request), and the adapter merged into the weights in a plain
   engine. `--adapter DIR` names a real adapter; without it a random rank-8 one is written.

Prints generated tokens/s for each and the ratios, and the CPU capability torch uses
(`ATEN_CPU_CAPABILITY=avx2 ...` emulates an AVX2-only machine); `--json FILE` keeps the
numbers. The same command runs on a GPU machine with a bigger model:

    python scripts/bench_generation.py                                   # SmolLM2-135M on CPU
    python scripts/bench_generation.py --model /models/Llama-2-70b-hf --tp 4 --questions 256 \\
        --k 10 --max-new-tokens 512 --skip-hf
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m", help="model folder or built-in name")
    p.add_argument("--data-dir", help="folder with <split>.jsonl [default: data/embedded, else built]")
    p.add_argument("--split", default="train_2")
    p.add_argument("--questions", type=int, default=8)
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--dtype", default="auto")
    p.add_argument("--tp", type=int, default=1, help="vLLM tensor parallel size")
    p.add_argument("--max-model-len", type=int, default=4096)
    p.add_argument("--skip-hf", action="store_true", help="skip the HF backend (slow for big models)")
    p.add_argument("--parts", default="throughput,tail,lora", help="comma-separated: throughput, tail, lora")
    p.add_argument("--batch", type=int, default=16, help="tail: questions per batch / in flight")
    p.add_argument("--repeats", type=int, default=2, help="tail: alternated timed runs of each")
    p.add_argument("--adapter", help="lora: adapter folder [default: a random rank-8 adapter]")
    p.add_argument("--json", help="also write the numbers here")
    return p.parse_args(argv)


def load_questions(args) -> list[str]:
    from w2s_lf.io import read_jsonl
    folder = Path(args.data_dir) if args.data_dir else Path("data/embedded")
    path = folder / f"{args.split}.jsonl"
    if not path.is_file() and not args.data_dir:
        import tempfile

        from w2s_lf.tasks import get_task
        from w2s_lf.tasks import prepare as lib
        folder = Path(tempfile.mkdtemp(prefix="bench-data-"))
        task = get_task("gsm8k")
        lib.prepare(task, lib.load_embedded(task, (40, max(40, args.questions), 20), seed=42), folder)
        path = folder / f"{args.split}.jsonl"
    return [r["question"] for r in read_jsonl(path)][:args.questions]


def timed(backend, prompts, sampling, warm: bool = False, adapter: str | None = None) -> dict:
    """Generated tokens/s of one call. `warm`: make the same call once untimed first, because
    CPU kernels are built per tensor shape on first use (seconds each, for either backend)."""
    if warm:
        backend.generate(prompts, sampling, adapter=adapter)
        reset = getattr(getattr(backend, "llm", None), "reset_prefix_cache", None)
        if reset:
            reset()   # the timed call must not reuse the warm-up's cached prompts
    start = time.perf_counter()
    outs = backend.generate(prompts, sampling, adapter=adapter)
    seconds = time.perf_counter() - start
    tokens = sum(c.num_tokens or 0 for group in outs for c in group)
    return {"seconds": round(seconds, 3), "tokens": tokens, "tokens_per_s": round(tokens / seconds, 1),
            "outputs": outs}


def k_passes(backend, prompts, args, Sampling) -> dict:
    """The paper's way: k separate passes over all questions, pass i with seed i and n=1."""
    seconds = tokens = 0
    for i in range(args.k):
        r = timed(backend, prompts, Sampling(n=1, temperature=args.temperature,
                                             max_new_tokens=args.max_new_tokens, seeds=(i,) * len(prompts)))
        seconds += r["seconds"]
        tokens += r["tokens"]
    return {"seconds": round(seconds, 3), "tokens": tokens, "tokens_per_s": round(tokens / seconds, 1)}


def tail_effect(model, prompts, args, vllm_opts, log) -> dict:
    """Batch-synchronous vs continuous feeding on one engine, greedy, same questions, alternated
    `--repeats` times after one untimed pass (CPU kernels are built per shape on first use)."""
    from statistics import median

    from w2s_lf.generation.backends import Sampling, stream
    from w2s_lf.generation.backends.vllm_backend import VllmBackend
    from w2s_lf.tasks import get_task

    greedy = Sampling(max_new_tokens=args.max_new_tokens, stop=get_task("gsm8k").stop)
    engine = VllmBackend(model, **vllm_opts)

    def batch_synchronous() -> list[int]:
        lengths = []
        for at in range(0, len(prompts), args.batch):
            lengths += [g[0].num_tokens for g in engine.generate(prompts[at:at + args.batch], greedy)]
        return lengths

    def continuous() -> list[int]:
        return [g[0].num_tokens for _, g in sorted(stream(engine, prompts, greedy, None, args.batch))]

    lengths = continuous()
    out = {"batch_synchronous": [], "continuous": []}
    for _ in range(args.repeats):
        for name, run in (("batch_synchronous", batch_synchronous), ("continuous", continuous)):
            engine.llm.reset_prefix_cache()
            start = time.perf_counter()
            assert run() == lengths, "greedy answers must not depend on feeding"
            seconds = time.perf_counter() - start
            r = {"seconds": round(seconds, 3), "tokens": sum(lengths), "tokens_per_s": round(sum(lengths) / seconds, 1)}
            out[name].append(r)
            log(f"tail: {name.replace('_', ' ')}", r)
    engine.close()
    for name in ("batch_synchronous", "continuous"):
        out[f"{name}_median_s"] = median(r["seconds"] for r in out[name])
    # How uneven the answers are: in each batch every slot waits for the longest answer.
    sizes = [lengths[i:i + args.batch] for i in range(0, len(lengths), args.batch)]
    out["answer_tokens"] = {"min": min(lengths), "median": sorted(lengths)[len(lengths) // 2], "max": max(lengths),
                            "batch_slot_use": round(sum(lengths) / sum(max(b) * len(b) for b in sizes), 3)}
    return out


def lora_cost(model, prompts, args, vllm_opts, log) -> dict:
    """Unmerged LoRA (multi-LoRA engine) vs the base from that engine vs merged weights."""
    import tempfile

    from w2s_lf.generation.backends import Sampling
    from w2s_lf.generation.backends.vllm_backend import VllmBackend
    from w2s_lf.tasks import get_task

    work = Path(tempfile.mkdtemp(prefix="bench-lora-"))
    adapter = args.adapter or str(_random_adapter(model, work / "adapter"))
    merged = _merge(model, adapter, work / "merged")
    greedy = Sampling(max_new_tokens=args.max_new_tokens, stop=get_task("gsm8k").stop)
    out = {}
    engine = VllmBackend(model, adapters=[adapter], **vllm_opts)
    for name, which in (("lora_unmerged", adapter), ("base_in_lora_engine", None)):
        r = timed(engine, prompts, greedy, warm=True, adapter=which)
        r.pop("outputs")
        log(f"lora: {name.replace('_', ' ')}", r)
        out[name] = r
    engine.close()
    engine = VllmBackend(str(merged), **vllm_opts)
    r = timed(engine, prompts, greedy, warm=True)
    r.pop("outputs")
    log("lora: merged, plain engine", r)
    out["merged_plain"] = r
    engine.close()
    if not args.skip_hf:
        # transformers + PEFT keeps the adapter unmerged too, at a small cost per layer.
        from w2s_lf.generation.backends.hf_backend import HfBackend
        hf = HfBackend(model, adapters=[adapter], dtype=args.dtype)
        r = timed(hf, prompts, greedy, warm=True, adapter=adapter)
        r.pop("outputs")
        log("lora: hf + peft, unmerged", r)
        out["hf_peft_unmerged"] = r
    return out


def _random_adapter(model: str, folder: Path) -> Path:
    """A rank-8 LoRA on every linear layer (LLaMA-Factory's `lora_target: all`), random weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model)
    peft = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, init_lora_weights=False, target_modules="all-linear"))
    peft.save_pretrained(folder)
    return folder


def _merge(model: str, adapter: str, folder: Path) -> Path:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model), adapter).merge_and_unload()
    merged.save_pretrained(folder)
    AutoTokenizer.from_pretrained(model).save_pretrained(folder)
    return folder


def main(argv=None) -> dict:
    args = parse_args(argv)
    parts = set(args.parts.split(","))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    capability = torch.backends.cpu.get_cpu_capability()
    print(f"CPU capability: {capability}", flush=True)
    from w2s_lf.generation import prompts as P
    from w2s_lf.generation.backends import Sampling
    from w2s_lf.generation.backends.vllm_backend import VllmBackend
    from w2s_lf.generation.run import question_seed
    from w2s_lf.models.builtin import resolve_model
    from w2s_lf.tasks import get_task, zero_shot_prompt

    model = resolve_model(args.model)
    questions = load_questions(args)
    stop = get_task("gsm8k").stop
    zero = [zero_shot_prompt(q) for q in questions]
    greedy = Sampling(max_new_tokens=args.max_new_tokens, stop=stop)
    one_pass = Sampling(n=args.k, temperature=args.temperature, max_new_tokens=args.max_new_tokens,
                        seeds=tuple(question_seed(0, i) for i in range(len(zero))))
    vllm_opts = dict(dtype=args.dtype, tensor_parallel_size=args.tp, max_model_len=args.max_model_len)
    results: dict = {"model": model, "questions": len(zero), "k": args.k, "max_new_tokens": args.max_new_tokens,
                     "machine": platform.machine(), "cpus": os.cpu_count(), "cpu_capability": capability}

    def log(name, r):
        print(f"{name:<34} {r['tokens']:>7} tokens {r['seconds']:>8.2f} s {r['tokens_per_s']:>9.1f} tok/s",
              flush=True)

    if "tail" in parts:
        results["tail"] = tail_effect(model, zero, args, vllm_opts, log)
        t = results["tail"]
        print("tail: batch-synchronous / continuous time (medians):",
              round(t["batch_synchronous_median_s"] / t["continuous_median_s"], 2),
              "| answer tokens:", json.dumps(t["answer_tokens"]), flush=True)
    if "lora" in parts:
        results["lora"] = lora_cost(model, zero, args, vllm_opts, log)
        lo = results["lora"]
        print("lora: unmerged / merged tokens/s:",
              round(lo["lora_unmerged"]["tokens_per_s"] / lo["merged_plain"]["tokens_per_s"], 2),
              "| base in the LoRA engine / merged:",
              round(lo["base_in_lora_engine"]["tokens_per_s"] / lo["merged_plain"]["tokens_per_s"], 2), flush=True)
    if "throughput" not in parts:
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
        return results

    engine = VllmBackend(model, enable_prefix_caching=True, **vllm_opts)
    r = timed(engine, zero, greedy, warm=True)
    log("vllm greedy zero-shot", r)
    weak = [P.Demo(i, q, P.clean_response(g[0].text)) for i, (q, g) in enumerate(zip(questions, r.pop("outputs")))]
    results["vllm_greedy"] = r
    demos = P.choose_demos(weak, "paper") if len(weak) >= 4 else weak
    few = [P.few_shot_prompt(demos, q) for q in questions]

    r = timed(engine, zero, one_pass)
    r.pop("outputs")
    log(f"vllm sample one pass n={args.k}", r)
    results["sample_one_pass"] = r
    r = k_passes(engine, zero, args, Sampling)
    log(f"vllm sample {args.k} passes n=1", r)
    results["sample_k_passes"] = r

    r = timed(engine, few, greedy, warm=True)
    r.pop("outputs")
    log("vllm few-shot, prefix caching on", r)
    results["few_shot_cache_on"] = r
    engine.close()
    del engine

    engine = VllmBackend(model, enable_prefix_caching=False, **vllm_opts)
    r = timed(engine, few, greedy, warm=True)
    r.pop("outputs")
    log("vllm few-shot, prefix caching off", r)
    results["few_shot_cache_off"] = r
    engine.close()
    del engine

    if not args.skip_hf:
        from w2s_lf.generation.backends.hf_backend import HfBackend
        hf = HfBackend(model, dtype=args.dtype)
        r = timed(hf, zero, greedy, warm=True)
        r.pop("outputs")
        log("hf greedy zero-shot", r)
        results["hf_greedy"] = r

    def ratio(a, b):
        return round(results[a]["tokens_per_s"] / results[b]["tokens_per_s"], 2) if b in results else None
    results["ratios"] = {"one_pass_n_k_over_k_passes": ratio("sample_one_pass", "sample_k_passes"),
                         "prefix_cache_on_over_off": ratio("few_shot_cache_on", "few_shot_cache_off"),
                         "vllm_over_hf": ratio("vllm_greedy", "hf_greedy")}
    print("ratios (tokens/s):", json.dumps(results["ratios"]))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":   # vLLM starts worker processes that re-import this module
    main()
