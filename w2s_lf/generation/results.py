"""The files generation writes, and reading them back: greedy results and k-sample files.

Greedy: one `{id, prompt, response, pred, gold?, result?}` line per question. Samples: one
`{id, prompt, samples: [{response, pred}, ...], gold?}` line per question, or the paper's layout
(a folder of `seed<N>/results.jsonl`). Every reader checks the layout, refuses duplicated ids
and locates bad input as `file:line: field`; the builders, evaluation and grading share them.
"""

from __future__ import annotations

import re
from pathlib import Path

from w2s_lf.errors import InputError, W2SError
from w2s_lf.generation.prompts import clean_response
from w2s_lf.io import iter_jsonl

RESULT_FIELDS = ("id", "prompt", "response", "pred")


def pred_of(record: dict) -> str:
    """A missing or null prediction counts as the empty prediction (no answer found)."""
    pred = record.get("pred")
    return "" if pred is None else str(pred)


def checked_id(value, path, line: int):
    """A record's `id`: an integer or a string (it keys questions across files)."""
    if not isinstance(value, (int, str)) or isinstance(value, bool):
        raise InputError(f"expected an integer or a string, got {type(value).__name__}", path, line, "id")
    return value


def _read_checked(path: str | Path, fields: tuple[str, ...], check) -> list[dict]:
    """Every record of a JSONL file, each with `fields` and passing `check(record, line)`;
    not empty, no id twice."""
    records, first_line = [], {}
    for line, record in iter_jsonl(path):
        for field in fields:
            if field not in record:
                raise InputError("missing", path, line, field)
        key = checked_id(record["id"], path, line)
        check(record, line)
        if key in first_line:
            raise InputError(f"duplicate id {key!r} (first on line {first_line[key]})", path, line, "id")
        first_line[key] = line
        records.append(record)
    if not records:
        raise InputError("file is empty", path)
    return records


def load_results(path: str | Path, require: tuple[str, ...] = ()) -> list[dict]:
    """A greedy result file: one `{id, prompt, response, pred, gold?, result?}` line per question."""
    def check(record: dict, line: int) -> None:
        if not isinstance(record["response"], str):
            raise InputError("expected a string", path, line, "response")
        if record.get("result") is not None and not isinstance(record["result"], bool):
            raise InputError(f"expected true, false or null, got {record['result']!r}", path, line, "result")
    return _read_checked(path, (*RESULT_FIELDS, *require), check)


def _seed_files(folder: Path) -> list[Path]:
    """`seed<N>/results.jsonl` under `folder`, in numeric seed order (seed2 before seed10)."""
    found = []
    for sub in folder.iterdir():
        m = re.fullmatch(r"seed(\d+)", sub.name)
        if m and (sub / "results.jsonl").is_file():
            found.append((int(m.group(1)), sub / "results.jsonl"))
    return [p for _, p in sorted(found)]


def load_samples(path: str | Path, require: tuple[str, ...] = ()) -> list[dict]:
    """Samples as `{id, prompt, samples: [{response, pred}, ...], gold?}`, one per question.

    `path` is either such a JSONL file, or the paper's layout: a folder with
    `seed0/results.jsonl` ... `seedN/results.jsonl`, one greedy-layout file per sampling pass;
    sample j of a question is its line in the j-th seed file.
    """
    path = Path(path)
    if path.is_dir():
        files = _seed_files(path)
        if not files:
            raise InputError("no seed<N>/results.jsonl files in this folder", path)
        passes = [load_results(f) for f in files]
        for f, records in zip(files[1:], passes[1:]):
            check_aligned(passes[0], records, str(files[0]), str(f))
        out = []
        for rows in zip(*passes):
            first = rows[0]
            record = {"id": first["id"], "prompt": first["prompt"],
                      "samples": [{"response": r["response"], "pred": pred_of(r)} for r in rows]}
            if first.get("gold") is not None:
                record["gold"] = first["gold"]
            out.append(record)
        return out
    def check(record: dict, line: int) -> None:
        samples = record["samples"]
        if not isinstance(samples, list) or not samples:
            raise InputError("expected a non-empty list", path, line, "samples")
        for k, s in enumerate(samples):
            if not isinstance(s, dict) or not isinstance(s.get("response"), str) or "pred" not in s:
                raise InputError(f"sample {k} needs a string 'response' and a 'pred'", path, line, "samples")
    return _read_checked(path, ("id", "prompt", "samples", *require), check)


def check_aligned(a: list[dict], b: list[dict], a_name: str, b_name: str) -> None:
    """Both lists hold the same questions in the same order, or a W2SError says how they differ."""
    a_ids = [r["id"] for r in a]
    b_ids = [r["id"] for r in b]
    if a_ids == b_ids:
        return
    a_set, b_set = set(a_ids), set(b_ids)
    missing = [i for i in a_ids if i not in b_set]
    extra = [i for i in b_ids if i not in a_set]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} question(s) of {a_name} missing from {b_name} "
                         f"(first ids: {missing[:5]})")
        if extra:
            parts.append(f"{len(extra)} id(s) in {b_name} not in {a_name} (first: {extra[:5]})")
        raise W2SError("inputs do not line up: " + "; ".join(parts))
    pos = next(k for k, (x, y) in enumerate(zip(a_ids, b_ids)) if x != y)
    raise W2SError(f"inputs do not line up: same ids in a different order; position {pos} has id "
                   f"{a_ids[pos]!r} in {a_name} but {b_ids[pos]!r} in {b_name}")


# ---- writing: one record per question ----------------------------------------------------------

class Grader:
    """Grades on the fly with `w2s_lf.grading` (imported when first needed: it loads math-verify)."""

    def __init__(self, task, mode: str):
        from w2s_lf import grading
        self.g, self.task, self.mode = grading, task, mode

    def __call__(self, response: str, gold: str | None) -> tuple[str, str | None, bool | None]:
        if gold is None:
            try:
                return self.g.extract_answer(response, self.task, mode=self.mode), None, None
            except Exception:   # noqa: BLE001 - as grade() does: no extractable answer is ""
                return "", None, None
        graded = self.g.grade(response, gold, self.task, mode=self.mode)
        return graded.pred, graded.gold, bool(graded.correct)


def make_record(qid: int, prompt: str, completions, gold, grader: Grader, sample: bool, seed,
                chat: dict | None = None) -> dict:
    """A result line; `chat` (chat style: the system and user turns) follows the prompt."""
    head = {"id": qid, "prompt": prompt, **({"chat": chat} if chat else {})}
    if not sample:
        c = completions[0]
        response = clean_response(c.text)
        pred, gold_n, result = grader(response, gold)
        return {**head, "response": response, "pred": pred, "gold": gold_n,
                "result": result, "num_tokens": c.num_tokens, "num_words": len(response.split())}
    samples, gold_n = [], None
    for c in completions:
        response = clean_response(c.text)
        pred, gold_n, result = grader(response, gold)
        samples.append({"response": response, "pred": pred, "result": result, "num_tokens": c.num_tokens})
    return {**head, "samples": samples, "gold": gold_n, "seed": seed}
