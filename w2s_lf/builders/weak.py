"""Beyond the paper (docs/method.md, "Beyond the paper"): several weak supervisors combined into
one weak label per question, and the confidence-filtered weak baseline.

Pure functions over result records; `w2s_lf.builders.files` does the reading and writing.
"""

from __future__ import annotations

from w2s_lf.builders.stage1 import _accuracy, sft_record
from w2s_lf.generation.results import check_aligned, pred_of
from w2s_lf.grading import majority_vote


def combine_weak(results: list[list[dict]], names: list[str], gold: dict | None = None) -> tuple[list[dict], dict]:
    """One greedy record per question from several weak models' greedy results (same questions,
    same order): the majority of their preds, ties to the one seen first in `names` order, the
    paper's vote rule (`w2s_lf.grading.majority_vote`; an empty pred takes part). The record is
    a copy of the first model's record with that pred (its prompt, response and `result`),
    plus `weak_model`: its name. Statistics: unanimous questions, how often each model's record
    was taken, and, with `gold`, each model's and the combined label accuracy."""
    if len(results) != len(names) or len(results) < 2:
        raise ValueError("combine_weak needs two or more result lists, one per name")
    for other, name in zip(results[1:], names[1:]):
        check_aligned(results[0], other, names[0], name)
    combined, taken = [], dict.fromkeys(names, 0)
    unanimous = 0
    for rows in zip(*results):
        vote = majority_vote([pred_of(r) for r in rows])
        first = vote.positive[0]
        combined.append({**rows[first], "weak_model": names[first]})
        taken[names[first]] += 1
        unanimous += vote.count == len(rows)
    stats = {"questions": len(combined), "models": list(names), "unanimous": unanimous, "taken_from": taken}
    if gold is not None:
        stats["accuracy"] = _accuracy(combined, gold)
        stats["accuracy_by_model"] = {name: _accuracy(r, gold) for name, r in zip(names, results)}
    return combined, stats


def build_confident_weak(weak: list[dict], samples: list[list[dict]], min_agreement: float,
                         gold: dict | None = None) -> tuple[list[dict], dict]:
    """The full-weak records of the questions where the weak model agrees with itself: a non-empty
    greedy pred that at least `min_agreement` of its own samples share (several sample files, one
    per weak model, are pooled). No strong model is involved: a literature baseline that shows
    what the strong model's selection adds over the weak model's own confidence."""
    for k, s in enumerate(samples):
        check_aligned(weak, s, "weak results", f"weak samples {k}")
    kept, shares = [], []
    for w, *per_model in zip(weak, *samples):
        preds = [pred_of(s) for record in per_model for s in record["samples"]]
        share = sum(p == pred_of(w) for p in preds) / len(preds) if preds else 0.0
        shares.append(share)
        if pred_of(w) != "" and share >= min_agreement:
            kept.append(w)
    n = len(weak)
    stats = {"questions": n, "min_agreement": min_agreement, "kept": len(kept),
             "samples_per_question": sorted({sum(len(r["samples"]) for r in rs) for rs in zip(*samples)}),
             "mean_agreement": round(sum(shares) / n, 4) if n else None,
             "weak_empty": sum(pred_of(w) == "" for w in weak)}
    if gold is not None:
        stats["accuracy_kept"] = _accuracy(kept, gold)
        stats["accuracy_all"] = _accuracy(weak, gold)
    return [sft_record(w) for w in kept], stats

