"""Synthetic result and sample records (seeded) for the benchmark, tests and demos.

Answers come from a small pool so that weak, ICL and sampled answers agree and disagree in
realistic proportions; every response ends with `#### <pred>` like a GSM8K solution.
"""

from __future__ import annotations

import random


def _response(rng: random.Random, pred: str, tag: str) -> str:
    return f"{tag}: step {rng.randint(1, 10**6)} gives {pred}.\n#### {pred}" if pred else f"{tag}: no idea"


def synthetic_results(n: int, k: int = 10, seed: int = 0, prompts: list[str] | None = None,
                      golds: list[str] | None = None) -> tuple[list[dict], list[dict], list[dict]]:
    """(weak results, ICL results, samples) over `n` questions with ids 0..n-1."""
    rng = random.Random(seed)
    weak, icl, samples = [], [], []
    for i in range(n):
        gold = golds[i] if golds else str(rng.randint(1, 50))
        prompt = prompts[i] if prompts else f"Question: what is question {i}?\nAnswer:"
        pool = [gold, str(int(gold) + 1) if gold.isdigit() else gold + "1", str(rng.randint(51, 99)), ""]

        def draw(p_gold, gold=gold, pool=pool):
            return gold if rng.random() < p_gold else rng.choice(pool[1:])
        wp, ip = draw(0.45), draw(0.6)
        weak.append({"id": i, "prompt": prompt, "response": _response(rng, wp, "weak"), "pred": wp,
                     "gold": gold, "result": wp == gold})
        icl.append({"id": i, "prompt": "few-shot demos\n\n" + prompt, "response": _response(rng, ip, "icl"),
                    "pred": ip, "gold": gold, "result": ip == gold})
        p = rng.random()
        drawn = [draw(p) for _ in range(k)]
        samples.append({"id": i, "prompt": prompt, "gold": gold,
                        "samples": [{"response": _response(rng, d, f"s{j}"), "pred": d}
                                    for j, d in enumerate(drawn)]})
    return weak, icl, samples
