"""Stage I data (docs/method.md, "Stage I"): full-weak baseline and weak-ICL consistency sets.

Pure functions over result records; `w2s_lf.builders.files` does the reading and writing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from w2s_lf.builders.gold import correct
from w2s_lf.generation.results import check_aligned, pred_of


def prompt_turns(result: dict) -> tuple[str, str | None]:
    """What a training example's prompt is made of: (user content, system or None).

    Raw results: the zero-shot prompt itself (the template adds nothing). Chat-style results
    carry `chat: {system, user}`, the turns their chat template wrapped, and training wraps the
    same turns with the model's LLaMA-Factory template."""
    chat = result.get("chat")
    if isinstance(chat, dict):
        return chat["user"], chat.get("system")
    return result["prompt"], None


def sft_record(result: dict, response: str | None = None, content: str | None = None) -> dict:
    """`{id, content, output}` in the key order of the paper's LLaMA-Factory files (chat style:
    plus the `system` turn)."""
    user, system = prompt_turns(result)
    record = {"id": result["id"], "content": user if content is None else content,
              "output": result["response"] if response is None else response}
    return record if system is None else {**record, "system": system}


def _accuracy(records: list[dict], gold: dict | None) -> float | None:
    marks = [correct(pred_of(r), r["id"], gold) for r in records]
    marks = [m for m in marks if m is not None]
    return round(sum(marks) / len(marks), 4) if marks else None


def build_full_weak(weak: list[dict], gold: dict | None = None) -> tuple[list[dict], dict]:
    """Every question with the weak zero-shot response: the naive weak-to-strong baseline."""
    records = [sft_record(r) for r in weak]
    stats = {"questions": len(weak), "kept": len(records)}
    if gold is not None:
        stats["accuracy"] = _accuracy(weak, gold)
    return records, stats


@dataclass
class Stage1Result:
    weak: list[dict]      # K consistent (+ top-up) records with the weak response
    icl: list[dict]       # the same questions with the strong model's ICL response
    hybrid: list[dict]    # interleaved weak, icl, ... then weak extras, then ICL extras
    stats: dict


def build_stage1(weak: list[dict], icl: list[dict], *, target_count: int | None = None,
                 seed: int = 42, gold: dict | None = None, keep_both_empty: bool = False) -> Stage1Result:
    """Weak-ICL consistency: keep question i iff the weak pred is non-empty and equals the ICL pred.

    `keep_both_empty` also keeps questions where neither answer has one (both preds empty), as
    the paper's released GSM8K sets did (docs/method.md, "Stage I"); its released code does not.

    `weak` and `icl` are any two greedy result files over the same questions (iteration 1: the
    weak model zero-shot vs. the strong model few-shot; iteration 2: the two fine-tuned strong
    models zero-shot). `content` is always the weak record's prompt, i.e. the zero-shot prompt.

    `target_count` (MATH, inferred from the released data): when fewer than that many questions
    are consistent, add inconsistent ones whose answers are both non-empty, in an order shuffled
    by `random.Random(seed)`, until the target is reached.
    """
    check_aligned(weak, icl, "weak results", "ICL results")
    kept, candidates = [], []
    for w, c in zip(weak, icl):
        wp, cp = pred_of(w), pred_of(c)
        if wp == cp and (wp != "" or keep_both_empty):
            kept.append((w, c))
        elif wp != "" and cp != "":
            candidates.append((w, c))
    extras: list = []
    if target_count is not None and len(kept) < target_count:
        random.Random(seed).shuffle(candidates)
        extras = candidates[:target_count - len(kept)]
    weak_out = [sft_record(w) for w, _ in kept]
    icl_out = [sft_record(w, response=c["response"]) for w, c in kept]
    hybrid = [r for pair in zip(weak_out, icl_out) for r in pair]
    extra_weak = [sft_record(w) for w, _ in extras]
    extra_icl = [sft_record(w, response=c["response"]) for w, c in extras]
    result = Stage1Result(weak_out + extra_weak, icl_out + extra_icl,
                          hybrid + extra_weak + extra_icl, {})
    stats = {"questions": len(weak), "consistent": len(kept), "top_up": len(extras),
             "kept": len(kept) + len(extras),
             "weak_empty": sum(pred_of(w) == "" for w in weak),
             **({"kept_both_empty": sum(pred_of(w) == "" for w, _ in kept)} if keep_both_empty else {}),
             "hybrid": len(result.hybrid)}
    if target_count is not None:
        stats["target_count"] = target_count
        if len(kept) + len(extras) < target_count:
            stats["short_of_target"] = target_count - len(kept) - len(extras)
    if gold is not None:
        stats["accuracy_weak_consistent"] = _accuracy([w for w, _ in kept], gold)
        stats["accuracy_weak_kept"] = _accuracy([w for w, _ in kept + extras], gold)
        stats["accuracy_icl_kept"] = _accuracy([c for _, c in kept + extras], gold)
        stats["accuracy_weak_all"] = _accuracy(weak, gold)
        stats["accuracy_icl_all"] = _accuracy(icl, gold)
    result.stats = stats
    return result
