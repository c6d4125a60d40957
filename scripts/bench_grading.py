"""Benchmark: grade the paper's 14,000 released GSM8K outputs with seed mode, robust mode (one
process, then all cores) and plain math-verify `parse` + `verify`, side by side.

    python scripts/bench_grading.py [--data ../shared/data/gair-w2s] [--limit N] [--workers N]

Prints items/s, accuracy and the ratios. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from w2s_lf.grading import default_workers, grade_many
from w2s_lf.io import read_jsonl

MODELS = ("llama2_7b_gsm8k_1", "mistral_7b_gsm8k_1")


def load(data: Path, limit: int | None) -> tuple[list[str], list[str]]:
    golds = [r["answer"] for r in read_jsonl(data / "data/test/gsm8k_train_2.jsonl")]
    responses, gold_list = [], []
    for model in MODELS:
        path = data / "outputs/gsm8k_train_2/zero_shot" / model / "zero-shot/direct/results.jsonl"
        rows = read_jsonl(path)
        responses += [r["response"] for r in rows]
        gold_list += golds[:len(rows)]
    if limit:
        responses, gold_list = responses[:limit], gold_list[:limit]
    return responses, gold_list


def math_verify_all(responses: list[str], golds: list[str]) -> list[bool]:
    from math_verify import parse, verify
    return [verify(parse(gold), parse(response)) for response, gold in zip(responses, golds)]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get(
        "W2S_SHARED", REPO.parent / "shared")) / "data" / "gair-w2s")
    parser.add_argument("--limit", type=int, default=None, help="grade only the first N items")
    parser.add_argument("--workers", type=int, default=default_workers())
    args = parser.parse_args()
    responses, golds = load(args.data, args.limit)
    n = len(responses)
    print(f"{n} items, {args.workers} cores for the all-cores run")

    def rate(seconds):
        return n / seconds
    runs = {}
    grades, s = timed(lambda: grade_many(responses, golds, "gsm8k", "seed", workers=1))
    runs["seed, 1 process"] = (s, sum(g.correct for g in grades))
    grades, s = timed(lambda: grade_many(responses, golds, "gsm8k", "robust", workers=1))
    runs["robust, 1 process"] = (s, sum(g.correct for g in grades))
    from w2s_lf.grading import batch
    batch.MIN_ITEMS_PER_WORKER = 1   # use every core asked for, however few items
    grades, s = timed(lambda: grade_many(responses, golds, "gsm8k", "robust", workers=args.workers))
    runs[f"robust, {args.workers} processes"] = (s, sum(g.correct for g in grades))
    import math_verify  # noqa: F401 - import time is not grading time
    results, s = timed(lambda: math_verify_all(responses, golds))
    runs["math-verify parse+verify, 1 process"] = (s, sum(results))

    base = runs["math-verify parse+verify, 1 process"][0]
    print(f"{'grader':40} {'seconds':>8} {'items/s':>10} {'x math-verify':>14} {'accuracy':>9}")
    for name, (seconds, correct) in runs.items():
        print(f"{name:40} {seconds:8.2f} {rate(seconds):10.0f} {base / seconds:14.1f} {correct / n:9.2%}")


if __name__ == "__main__":
    main()
