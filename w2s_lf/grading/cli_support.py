"""Reading records to grade and writing grades back, for `w2s-lf grade` (kept out of the command
so that it is testable without click)."""

from __future__ import annotations

from dataclasses import dataclass

from w2s_lf.errors import InputError
from w2s_lf.grading.core import Grade


@dataclass(frozen=True)
class Item:
    record: int          # index of the record in the file
    sample: int | None   # index in the record's `samples`, or None for a single response
    response: str
    gold: str


def _gold_text(value, path, line, field) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(f"expected a string or number, got {type(value).__name__}", path, line, field)
    return str(value)


def _gold_for(record: dict, index: int, path, line: int, golds: list[dict] | None, gold_path) -> str:
    if golds is None:
        for field in ("answer", "gold"):
            if field in record:
                return _gold_text(record[field], path, line, field)
        raise InputError("missing (give --gold-file, or an 'answer' or 'gold' field)", path, line, "answer")
    rid = record.get("id")
    at = rid if isinstance(rid, int) and not isinstance(rid, bool) else index
    if not 0 <= at < len(golds):
        raise InputError(f"no gold answer for index {at}: {gold_path} has {len(golds)} records",
                         path, line, "id")
    return _gold_text(golds[at]["answer"], gold_path, at + 1, "answer")


def _response(value, path, line, field) -> str:
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", path, line, field)
    return value


def collect_items(records: list[dict], lines: list[int], path, golds: list[dict] | None = None,
                  gold_path=None) -> list[Item]:
    """One item per response to grade, validated, with file:line errors."""
    if golds is not None and not any(isinstance(r.get("id"), int) for r in records) \
            and len(golds) != len(records):
        raise InputError(f"{len(records)} records but {len(golds)} gold answers; records carry no "
                         "'id' to join on", path)
    items = []
    for index, (record, line) in enumerate(zip(records, lines)):
        gold = _gold_for(record, index, path, line, golds, gold_path)
        if "samples" in record and "response" not in record:
            samples = record["samples"]
            if not isinstance(samples, list) or not samples:
                raise InputError("expected a non-empty list", path, line, "samples")
            for k, sample in enumerate(samples):
                if not isinstance(sample, dict) or "response" not in sample:
                    raise InputError(f"sample {k} has no 'response'", path, line, "samples")
                items.append(Item(index, k, _response(sample["response"], path, line, "samples"), gold))
        elif "response" in record:
            items.append(Item(index, None, _response(record["response"], path, line, "response"), gold))
        else:
            raise InputError("missing", path, line, "response")
    return items


def attach(records: list[dict], items: list[Item], grades: list[Grade]) -> None:
    """Write pred/gold/result into the records (and into each sample of sample records)."""
    for item, g in zip(items, grades):
        record = records[item.record]
        if item.sample is None:
            record.update(g.as_dict())
        else:
            record["gold"] = g.gold
            record["samples"][item.sample].update({"pred": g.pred, "result": g.correct})
        if g.reason and g.reason != "no answer found":
            target = record if item.sample is None else record["samples"][item.sample]
            target["grade_error"] = g.reason
