"""Gold answers for the builders' analysis statistics, and seed-mode correctness.

(Result and sample files are read by `w2s_lf.generation.results`.) Every builder joins its inputs by position *and* asserts that the ids agree at every position
(the paper's code asserts the same), so a reordered or truncated file stops with a clear error
instead of silently pairing the wrong questions.
"""

from __future__ import annotations

from pathlib import Path

from w2s_lf.errors import InputError
from w2s_lf.generation.results import checked_id
from w2s_lf.io import iter_jsonl


def load_gold(path: str | Path, task: str = "gsm8k") -> dict:
    """Gold answers for analysis only (the builders never use them to choose data).

    Accepts a result-layout file (`{id, gold}`; e.g. the weak model's results) or a processed
    split (`{question, answer}`, where the id is the 0-based line index, as in the SFT files).
    Processed answers are normalised with the paper's ("seed") normaliser, like the preds.
    """
    from w2s_lf.grading import normalize_answer
    gold = {}
    for index, (line, record) in enumerate(iter_jsonl(path)):
        if "gold" in record:
            gold[checked_id(record.get("id", index), path, line)] = None if record["gold"] is None else str(record["gold"])
        elif "answer" in record:
            gold[index] = normalize_answer(str(record["answer"]), task, "seed")
        else:
            raise InputError("expected a 'gold' (result layout) or 'answer' (processed split) field",
                             path, line)
    return gold


def correct(pred: str, key, gold: dict | None) -> bool | None:
    """Seed grading (normalised string equality, as the paper's released results); None without gold."""
    if gold is None or gold.get(key) is None:
        return None
    return pred == gold[key]
