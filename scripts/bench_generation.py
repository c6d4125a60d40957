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

Prints generated tokens/s for each and the ratios; `--json FILE` keeps the numbers. The same
command runs on a GPU machine with a bigger model:

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
    p.add_argument("--json", help="also write the numbers here")
    return p.parse_args(argv)


def load_questions(args) -> list[str]:
    from w2s_lf.io import read_jsonl
    folder = Path(args.data_dir) if args.data_dir else Path("data/embedded")
    path = folder / f"{args.split}.jsonl"
    if not path.is_file() and not args.data_dir:
        import tempfile

        from w2s_lf import prepare as lib
        from w2s_lf.tasks import get_task
        folder = Path(tempfile.mkdtemp(prefix="bench-data-"))
        task = get_task("gsm8k")
        lib.prepare(task, lib.load_embedded(task, (40, max(40, args.questions), 20), seed=42), folder)
        path = folder / f"{args.split}.jsonl"
    return [r["question"] for r in read_jsonl(path)][:args.questions]


def timed(backend, prompts, sampling, warm: bool = False) -> dict:
    """Generated tokens/s of one call. `warm`: make the same call once untimed first, because
    CPU kernels are built per tensor shape on first use (seconds each, for either backend)."""
    if warm:
        backend.generate(prompts, sampling)
        reset = getattr(getattr(backend, "llm", None), "reset_prefix_cache", None)
        if reset:
            reset()   # the timed call must not reuse the warm-up's cached prompts
    start = time.perf_counter()
    outs = backend.generate(prompts, sampling)
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


def main(argv=None) -> dict:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from w2s_lf.generation import prompts as P
    from w2s_lf.generation.backends import Sampling
    from w2s_lf.generation.backends.vllm_backend import VllmBackend
    from w2s_lf.generation.runner import question_seed
    from w2s_lf.models import resolve_model
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
                     "machine": platform.machine(), "cpus": os.cpu_count()}

    def log(name, r):
        print(f"{name:<34} {r['tokens']:>7} tokens {r['seconds']:>8.2f} s {r['tokens_per_s']:>9.1f} tok/s",
              flush=True)

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
