"""Benchmark: grading speed and agreement for GSM8K and MATH, every grader side by side in one process.

Workloads, from the paper's released data (../shared/data/gair-w2s):
- GSM8K: the 14,000 released zero-shot outputs (Llama-2-7B, Mistral-7B) on train_2, with their golds.
- MATH: the 500 released MATH-500 reference solutions against their answers, then the paper's
  released MATH model outputs (Gemma-2B and Mistral-7B, weak and ICL: 6,000 responses ending in
  `\\boxed{}` and "The answer is:") against their golds, less the golds the paper's normaliser
  visibly damaged (`\\le(` left of `\\left(`, `\\iny` of `\\infty`, `\\0` of a matrix row break).

For each workload: items/s of seed mode (1 process), robust mode (1 process, then all cores) and
math-verify `parse` + `verify` (1 process, its defaults; MATH golds given as `$gold$`), the
speed-ups over math-verify (1-process runs on CPU time, so that other jobs on a shared machine do
not skew the ratio; robust asks math-verify in this same process), accuracy, and how often robust
and math-verify agree. Then the MATH class table (tests/grading/math_grading_table.py): rows
each grader gets right. The held-out sample: `python tests/grading/heldout.py`.

    python scripts/bench_grading.py                      # both tasks (a few minutes)
    python scripts/bench_grading.py --only math --limit 1000
    ATEN_CPU_CAPABILITY=avx2 python scripts/bench_grading.py   # as an AVX2-only CPU

Not a test: timings depend on the machine (and on its load: compare ratios, not items/s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "grading"))

from w2s_lf.grading import batch, defer, default_workers, grade, grade_many
from w2s_lf.io import read_jsonl

GSM8K_MODELS = ("llama2_7b_gsm8k_1", "mistral_7b_gsm8k_1")
MATH_RUNS = ("gemma_2b_iter1_weak", "gemma_2b_iter1_icl", "mistral_7b_iter1_weak", "mistral_7b_iter1_icl")
# What the paper's normaliser did to some MATH golds: "\left(" lost "ft", "\infty" lost "ft",
# "\\ " (a matrix row break and a space) lost "\ ", "\sec x" lost its space.
DAMAGED_GOLD = re.compile(r"\\le[(\[]|\\iny|(?<!\\)\\(?=[\d-])|\{\}|\\(?:sin|cos|tan|sec|csc|cot|ln|log)(?!h)[a-zA-Z]")


def gsm8k_items(data: Path) -> tuple[list[str], list[str]]:
    golds = [r["answer"] for r in read_jsonl(data / "data/test/gsm8k_train_2.jsonl")]
    responses, gold_list = [], []
    for model in GSM8K_MODELS:
        rows = read_jsonl(data / "outputs/gsm8k_train_2/zero_shot" / model / "zero-shot/direct/results.jsonl")
        responses += [r["response"] for r in rows]
        gold_list += golds[:len(rows)]
    return responses, gold_list


def math_items(data: Path) -> tuple[list[str], list[str]]:
    rows = read_jsonl(data / "data/test/math.jsonl")
    responses, golds = [r["solution"] for r in rows], [r["answer"] for r in rows]
    for run in MATH_RUNS:
        with open(data / f"data/llama_factory/math/train_math_{run}.json", encoding="utf-8") as f:
            for record in json.load(f):
                if not DAMAGED_GOLD.search(record["gold"]):
                    responses.append(record["output"])
                    golds.append(record["gold"])
    return responses, golds


def math_verify_verdicts(responses: list[str], golds: list[str], task: str) -> list[bool]:
    from math_verify import parse, verify
    wrap = (lambda g: "$" + g + "$") if task == "math" else (lambda g: g)
    return [bool(verify(parse(wrap(gold)), parse(response))) for response, gold in zip(responses, golds)]


def timed(fn):
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def cpu_capability() -> str:
    try:
        import torch
        return f"torch.backends.cpu.get_cpu_capability() = {torch.backends.cpu.get_cpu_capability()}"
    except ImportError:
        return f"platform: {platform.machine()} {platform.processor() or ''}".strip()


def bench(task: str, responses: list[str], golds: list[str], workers: int) -> dict:
    """Each grader once; the 1-process runs are compared on CPU time (what a shared machine's load
    does not change), the all-cores run on wall time."""
    n = len(responses)
    runs = {}
    grades, wall, cpu = timed(lambda: grade_many(responses, golds, task, "seed", workers=1))
    runs["seed, 1 process"] = (wall, cpu, sum(g.correct for g in grades))
    robust, wall, cpu = timed(lambda: grade_many(responses, golds, task, "robust", workers=1))
    runs["robust, 1 process"] = (wall, cpu, sum(g.correct for g in robust))
    batch.MIN_ITEMS_PER_WORKER = 1   # use every core asked for, however few items
    grades, wall, _ = timed(lambda: grade_many(responses, golds, task, "robust", workers=workers))
    runs[f"robust, {workers} processes"] = (wall, None, sum(g.correct for g in grades))
    verdicts, wall, cpu = timed(lambda: math_verify_verdicts(responses, golds, task))
    runs["math-verify parse+verify, 1 process"] = (wall, cpu, sum(verdicts))

    base_wall, base_cpu, _ = runs["math-verify parse+verify, 1 process"]
    print(f"\n{task.upper()}: {n} items")
    print(f"{'grader':40} {'wall s':>7} {'CPU s':>7} {'items/s':>8} {'x math-verify':>14} {'accuracy':>9}")
    for name, (wall, cpu, correct) in runs.items():
        speedup = f"{base_cpu / cpu:.1f} (CPU)" if cpu else f"{base_wall / wall:.1f} (wall)"
        print(f"{name:40} {wall:7.2f} {cpu if cpu else float('nan'):7.2f} {n / (cpu or wall):8.0f} "
              f"{speedup:>14} {correct / n:9.2%}")
    agree = sum(g.correct == v for g, v in zip(robust, verdicts))
    print(f"robust and math-verify agree on {agree}/{n} items ({agree / n:.2%})")
    return {"ratio": base_cpu / runs["robust, 1 process"][1], "agree": agree, "n": n}


def table_agreement() -> None:
    from math_grading_table import RESPONSE_CLASSES, ROWS
    from math_verify import parse, verify
    ours = theirs = agree = 0
    for cls, response, gold, right in ROWS:
        mine = grade(response, gold, "math").correct
        pred = response if cls in RESPONSE_CLASSES else "$" + response + "$"
        mv = bool(verify(parse("$" + gold + "$"), parse(pred)))
        ours += mine == right
        theirs += mv == right
        agree += mine == mv
    print(f"\nMATH class table ({len(ROWS)} rows): robust right on {ours}, math-verify on {theirs}; "
          f"they agree on {agree}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="\n\n".join(__doc__.split("\n\n")[3:5]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get(
        "W2S_SHARED", REPO.parent / "shared")) / "data" / "gair-w2s")
    parser.add_argument("--limit", type=int, default=None, help="grade only the first N items of each task")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--only", choices=("gsm8k", "math"), default=None, help="one task only")
    args = parser.parse_args()
    print(cpu_capability())
    print(f"python {platform.python_version()}, {args.workers} cores for the all-cores runs")
    import math_verify  # noqa: F401 - import and grammar build time are not grading time
    defer.run_here()   # math-verify in this process, so that its CPU time is counted (and warm)
    summary = {}
    for task, load in (("gsm8k", gsm8k_items), ("math", math_items)):
        if args.only in (None, task):
            responses, golds = load(args.data)
            if args.limit:
                responses, golds = responses[:args.limit], golds[:args.limit]
            summary[task] = bench(task, responses, golds, args.workers)
    print("\nrobust (1 process) vs math-verify, CPU time: " + ", ".join(
        f"{task.upper()} {s['ratio']:.1f}x" for task, s in summary.items()))
    if args.only in (None, "math"):
        table_agreement()


if __name__ == "__main__":
    main()
