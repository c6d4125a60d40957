"""Stage II data (docs/method.md, "Stage II"): majority vote over samples, then preference pairs.

`build_pairs` with its defaults reproduces the paper's `construct_paired_data_{gsm8k,math}`:
one `random.Random(42)` (the same stream as `random.seed(42)` + module-level calls), questions
in order, and the same `sample` calls in the same order, so the same inputs give the same pairs.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from w2s_lf.builders.gold import correct
from w2s_lf.builders.stage1 import prompt_turns
from w2s_lf.generation.results import check_aligned, pred_of
from w2s_lf.grading import majority_vote

# Pairs per question in the paper: one for GSM8K, up to three for MATH (and OlympicArena).
PAIR_LIMITS = {"gsm8k": 1, "math": 3}
KEEP_THRESHOLD = 0.6   # below this vote confidence a question is skipped
FLIP_THRESHOLD = 0.8   # at or above it the majority may overrule the weak answer


@dataclass(frozen=True)
class QuestionVote:
    """Majority vote over one question's samples; `pos` / `neg` index into its `samples`."""

    id: object
    pred: str
    count: int
    n: int
    pos: tuple[int, ...]
    neg: tuple[int, ...]

    @property
    def confidence(self) -> float:
        return self.count / self.n   # same arithmetic as the paper: 6/10 == 0.6 exactly

    def to_json(self) -> dict:
        return {"id": self.id, "pred": self.pred, "count": self.count, "n": self.n,
                "confidence": self.confidence, "pos": list(self.pos), "neg": list(self.neg)}

    @classmethod
    def from_json(cls, d: dict) -> QuestionVote:
        return cls(d["id"], d["pred"], d["count"], d["n"], tuple(d["pos"]), tuple(d["neg"]))


def vote_one(record: dict) -> QuestionVote:
    """The vote itself is `w2s_lf.grading.majority_vote` (most common, ties to the first seen)."""
    preds = [pred_of(s) for s in record["samples"]]
    v = majority_vote(preds)
    return QuestionVote(record["id"], v.pred, v.count, len(preds), tuple(v.positive), tuple(v.negative))


def vote(samples: list[dict], gold: dict | None = None) -> tuple[list[QuestionVote], dict]:
    """One Vote per question, in input order, and summary statistics."""
    votes = [vote_one(r) for r in samples]
    n = len(votes)
    stats = {"questions": n,
             "samples_per_question": sorted({v.n for v in votes}),
             "mean_confidence": round(sum(v.confidence for v in votes) / n, 4) if n else None,
             "confidence_ge_keep": sum(v.confidence >= KEEP_THRESHOLD for v in votes),
             "confidence_ge_flip": sum(v.confidence >= FLIP_THRESHOLD for v in votes),
             "empty_majority": sum(v.pred == "" for v in votes)}
    if gold is not None:
        marks = [correct(v.pred, v.id, gold) for v in votes]
        marks = [m for m in marks if m is not None]
        stats["majority_accuracy"] = round(sum(marks) / len(marks), 4) if marks else None
    return votes, stats


@dataclass
class PairsResult:
    pairs: list[dict]              # {id, instruction, input, chosen, rejected}
    stats: dict = field(default_factory=dict)


def pair_record(qid, instruction: str, chosen: str, rejected: str, system: str | None = None) -> dict:
    record = {"id": qid, "instruction": instruction, "input": "", "chosen": chosen, "rejected": rejected}
    return record if system is None else {**record, "system": system}


def build_pairs(weak: list[dict], samples: list[dict], votes: list[QuestionVote] | None = None, *,
                task: str = "gsm8k", keep: float = KEEP_THRESHOLD, flip: float = FLIP_THRESHOLD,
                max_pairs: int | None = None, seed: int = 42, full_weak: list[dict] | None = None,
                gold: dict | None = None) -> PairsResult:
    """Preference pairs from the weak responses and M_plus's voted samples.

    Per question, in order: skip when the vote confidence < `keep` or the majority is empty.
    If the weak pred equals the majority, the weak response is chosen against up to `max_pairs`
    negatives (none: skip); else, if confidence >= `flip`, it is rejected against a random
    positive, then (when `max_pairs` > 1) against the other positives whose text differs from
    that first one, in sample order, until the question has `max_pairs` pairs.

    `full_weak` (the full-weak SFT records) is optional: when given, its `content` is the
    instruction and each `output` must equal the weak response, as the paper's code asserts.
    """
    limit = PAIR_LIMITS.get(task, 1) if max_pairs is None else max_pairs
    if limit < 1:
        raise ValueError("max_pairs must be at least 1")
    check_aligned(weak, samples, "weak results", "samples")
    if votes is None:
        votes, _ = vote(samples)
    else:
        check_aligned(weak, [{"id": v.id} for v in votes], "weak results", "votes")
    turns = [prompt_turns(r) for r in weak]   # (instruction, system) per question
    if full_weak is not None:
        _check_full_weak(weak, full_weak)
        turns = [(r["content"], r.get("system")) for r in full_weak]

    rng = random.Random(seed)
    pairs: list[dict] = []
    skips = Counter()
    weak_chosen = weak_rejected = 0
    chosen_ok, rejected_ok = [], []
    for w, s, v, (instruction, system) in zip(weak, samples, votes, turns):
        if v.confidence < keep:
            skips["low_confidence"] += 1
            continue
        if v.pred == "":
            skips["empty_majority"] += 1
            continue
        responses = s["samples"]
        weak_response, qid = w["response"], w["id"]
        if pred_of(w) == v.pred:
            if not v.neg:
                skips["no_negative"] += 1   # every sample agrees: nothing to contrast
                continue
            # The paper's GSM8K code always draws one (even from a single negative); its MATH
            # code draws 3 only when there are more than 3. Both are this rule, and the draws
            # (hence the RNG stream) match exactly.
            if len(v.neg) > limit or limit == 1:
                picked = rng.sample(v.neg, limit)
            else:
                picked = list(v.neg)
            for k in picked:
                pairs.append(pair_record(qid, instruction, weak_response, responses[k]["response"], system))
                chosen_ok.append(correct(pred_of(w), qid, gold))
                rejected_ok.append(correct(pred_of(responses[k]), qid, gold))
            weak_chosen += len(picked)
        elif v.confidence >= flip:
            first = rng.sample(v.pos, 1)[0]
            chosen = [responses[first]["response"]]
            if limit > 1:
                for k in v.pos:
                    if len(chosen) >= limit:
                        break
                    if responses[k]["response"] != chosen[0]:
                        chosen.append(responses[k]["response"])
            for text in chosen:
                pairs.append(pair_record(qid, instruction, text, weak_response, system))
                chosen_ok.append(correct(v.pred, qid, gold))
                rejected_ok.append(correct(pred_of(w), qid, gold))
            weak_rejected += len(chosen)
        else:
            skips["disagree_below_flip"] += 1
    stats = {"questions": len(weak), "task": task, "keep": keep, "flip": flip, "max_pairs": limit,
             "seed": seed, "pairs": len(pairs), "questions_with_pairs": len({p["id"] for p in pairs}),
             "weak_chosen": weak_chosen, "weak_rejected": weak_rejected,
             "skipped": {k: skips[k] for k in ("low_confidence", "empty_majority", "no_negative",
                                               "disagree_below_flip")}}
    if gold is not None:
        stats["chosen_accuracy"] = _rate(chosen_ok)
        stats["rejected_accuracy"] = _rate(rejected_ok)
    return PairsResult(pairs, stats)


def kto_examples(pairs: list[dict]) -> tuple[list[dict], dict]:
    """The pairs as unpaired KTO examples, in pair order: each chosen response desirable
    (`kto_tag` true), each rejected one undesirable. A response that several pairs of a question
    share (a chosen weak response against 3 negatives in MATH) becomes one example."""
    examples, seen = [], set()
    for p in pairs:
        for response, tag in ((p["chosen"], True), (p["rejected"], False)):
            if (p["id"], response, tag) in seen:
                continue
            seen.add((p["id"], response, tag))
            record = {"id": p["id"], "instruction": p["instruction"], "input": p["input"],
                      "output": response, "kto_tag": tag}
            examples.append(record if "system" not in p else {**record, "system": p["system"]})
    desirable = sum(e["kto_tag"] for e in examples)
    return examples, {"pairs": len(pairs), "examples": len(examples), "desirable": desirable,
                      "undesirable": len(examples) - desirable}


def _rate(marks: list) -> float | None:
    marks = [m for m in marks if m is not None]
    return round(sum(marks) / len(marks), 4) if marks else None


def _check_full_weak(weak: list[dict], full_weak: list[dict]) -> None:
    from w2s_lf.errors import W2SError
    check_aligned(weak, full_weak, "weak results", "full-weak data")
    for k, (w, f) in enumerate(zip(weak, full_weak)):
        if w["response"] != f.get("output"):
            raise W2SError(f"full-weak record {k} (id {w['id']!r}) has an output that differs from "
                           "the weak response: build the full-weak data from these weak results")
