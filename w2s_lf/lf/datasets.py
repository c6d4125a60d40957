"""LLaMA-Factory dataset files and `dataset_info.json` entries.

Entries always carry explicit `columns`: LLaMA-Factory maps every column that an entry with a
`columns` block does not list to None, and an entry without one silently assumes alpaca names.
"""

from __future__ import annotations

from pathlib import Path

from w2s_lf.errors import InputError
from w2s_lf.io import check_name, iter_jsonl, read_json, write_json

SFT_COLUMNS = {"prompt": "content", "response": "output"}
PAIR_COLUMNS = {  # LLaMA-Factory >= 0.8 alpaca preference data
    "current": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"},
    # LLaMA-Factory <= 0.7: `output` holds [chosen, rejected]
    "legacy": {"prompt": "instruction", "query": "input", "response": "output"},
}


# LLaMA-Factory's KTO data (`stage: kto`): one response per record, `kto_tag` true when desirable
KTO_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "kto_tag": "kto_tag"}
SYSTEM_COLUMN = {"system": "system"}   # chat-style records carry their system turn


def sft_entry(file_name: str, system: bool = False) -> dict:
    return {"file_name": file_name, "columns": {**SFT_COLUMNS, **(SYSTEM_COLUMN if system else {})}}


def pair_entry(file_name: str, fmt: str = "current", system: bool = False) -> dict:
    return {"file_name": file_name, "ranking": True,
            "columns": {**PAIR_COLUMNS[fmt], **(SYSTEM_COLUMN if system else {})}}


def kto_entry(file_name: str, system: bool = False) -> dict:
    return {"file_name": file_name, "columns": {**KTO_COLUMNS, **(SYSTEM_COLUMN if system else {})}}


def has_system(records: list[dict]) -> bool:
    return bool(records) and "system" in records[0]


def merge_dataset_info(existing: dict, entries: dict[str, dict]) -> dict:
    """Add or replace `entries`, keeping every other entry and the existing order."""
    merged = dict(existing)
    merged.update(entries)
    return merged


def update_dataset_info(path: str | Path, entries: dict[str, dict]) -> dict:
    """Merge `entries` into the `dataset_info.json` at `path` (created if absent), atomically."""
    path = Path(path)
    existing = read_json(path) if path.exists() else {}
    if not isinstance(existing, dict):
        raise InputError("expected a JSON object of dataset entries", path)
    merged = merge_dataset_info(existing, entries)
    write_json(path, merged, indent=2)
    return merged


def format_pairs(pairs: list[dict], fmt: str = "current") -> list[dict]:
    """Pairs `{id, instruction, input, chosen, rejected}` in a LLaMA-Factory ranking format.

    `legacy` is the paper's (LLaMA-Factory <= 0.7) layout, `output: [chosen, rejected]`, with
    the keys in the order of its released files.
    """
    if fmt == "current":
        return pairs
    if fmt == "legacy":
        return [{"id": p["id"], "instruction": p["instruction"], "input": p["input"],
                 "output": [p["chosen"], p["rejected"]], **({"system": p["system"]} if "system" in p else {})}
                for p in pairs]
    raise ValueError(f"unknown pair format {fmt!r}; expected one of {sorted(PAIR_COLUMNS)}")


def write_stats(out_dir: str | Path, name: str, stats: dict) -> Path:
    path = Path(out_dir) / f"{name}.stats.json"
    write_json(path, stats, indent=2)
    return path


def _write_dataset(out_dir: str | Path, name: str, records: list[dict], entry, stats: dict | None) -> Path:
    """Write `<out_dir>/<name>.json`, register `entry(file name)` as `name` in its
    `dataset_info.json`, and the statistics beside it."""
    path = Path(out_dir) / f"{check_name(name, 'dataset name')}.json"
    write_json(path, records)
    update_dataset_info(Path(out_dir) / "dataset_info.json", {name: entry(path.name)})
    if stats is not None:
        write_stats(out_dir, name, stats)
    return path


def write_sft_dataset(out_dir: str | Path, name: str, records: list[dict],
                      stats: dict | None = None) -> Path:
    """Write `<out_dir>/<name>.json` and register it as `name` in `<out_dir>/dataset_info.json`."""
    return _write_dataset(out_dir, name, records, lambda f: sft_entry(f, has_system(records)), stats)


def write_pairs_dataset(out_dir: str | Path, name: str, pairs: list[dict], fmt: str = "current",
                        stats: dict | None = None) -> Path:
    """Write preference pairs as `<out_dir>/<name>.json` and register a `ranking: true` entry."""
    return _write_dataset(out_dir, name, format_pairs(pairs, fmt), lambda f: pair_entry(f, fmt, has_system(pairs)),
                          stats)


def write_kto_dataset(out_dir: str | Path, name: str, records: list[dict], stats: dict | None = None) -> Path:
    """Write unpaired KTO examples `{id, instruction, input, output, kto_tag}` and register them."""
    return _write_dataset(out_dir, name, records, lambda f: kto_entry(f, has_system(records)), stats)


# --- checks of LLaMA-Factory datasets, used by `w2s-lf validate` -------------------------------

RANKING_STAGES = {"rm", "dpo"}        # LLaMA-Factory loads these with stage="rm": ranking data only
ALPACA_DEFAULTS = {"prompt": "instruction", "query": "input", "response": "output"}


def read_records(path: Path) -> list:
    """A LLaMA-Factory data file: a JSON list, or JSON Lines (UTF-8; errors name file and line)."""
    if path.suffix == ".jsonl":
        return [record for _, record in iter_jsonl(path)]
    return read_json(path)


# dataset_info.json fields whose type we rely on, as LLaMA-Factory's DatasetAttr reads them
ENTRY_TYPES = {"file_name": str, "formatting": str, "ranking": bool, "columns": dict, "tags": dict}


def _entry_error(info_path: Path, name: str, entry) -> str | None:
    """What is wrong with the shape of one dataset_info.json entry, or None."""
    if not isinstance(entry, dict):
        return (f"{info_path}: dataset '{name}': expected an object such as {{\"file_name\": ..., "
                f"\"columns\": {{...}}}}, got {type(entry).__name__}")
    for key, typ in ENTRY_TYPES.items():
        if key in entry and not isinstance(entry[key], typ):
            return (f"{info_path}: dataset '{name}': field '{key}' is {type(entry[key]).__name__}, "
                    f"expected {typ.__name__}")
    for group in ("columns", "tags"):
        for role, column in entry.get(group, {}).items():
            if column is not None and not isinstance(column, str):
                return (f"{info_path}: dataset '{name}': {group}.{role} is {type(column).__name__}, "
                        "expected a field name")
    return None


def check_dataset(dataset_dir: str | Path, name: str, stage: str, info: dict | None = None) -> list[tuple[str, str]]:
    """(level, message) findings for one dataset of a config; level is `error` or `warning`.

    Checks what LLaMA-Factory checks late or never: the entry exists, its file exists,
    `ranking` matches the stage, and every mapped column exists in every record with the type
    the converter expects (an entry with `columns` maps every unlisted column to None).
    """
    import difflib
    dataset_dir = Path(dataset_dir)
    info_path = dataset_dir / "dataset_info.json"
    if info is None:
        if not info_path.is_file():
            return [("error", (f"{info_path} not found: run `w2s-lf prepare` / `w2s-lf build` into "
                              f"dataset_dir, or fix dataset_dir"))]
        try:
            info = read_json(info_path)
        except InputError as e:
            return [("error", str(e))]
    if not isinstance(info, dict):
        return [("error", (f"{info_path}: expected a JSON object of dataset entries "
                          f"(name: {{file_name, columns, ...}}), got {type(info).__name__}"))]
    if name not in info:
        near = difflib.get_close_matches(name, list(info), n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        return [("error", (f"dataset '{name}' is not in {info_path} (LLaMA-Factory: 'Undefined dataset')"
                          f"{hint}; build it or fix `dataset`"))]
    entry = info[name]
    problem = _entry_error(info_path, name, entry)
    if problem:
        return [("error", problem)]
    if "file_name" not in entry:
        return [("warning", f"dataset '{name}' is not a local file; its records were not checked")]
    path = Path(entry["file_name"])
    path = path if path.is_absolute() else dataset_dir / path
    if not path.is_file():
        return [("error", f"dataset '{name}': file {path} not found (file_name is joined to dataset_dir)")]
    out: list[tuple[str, str]] = []
    ranking = bool(entry.get("ranking", False))
    if stage in RANKING_STAGES and not ranking:
        out.append(("error", (f"dataset '{name}' is not preference data (no `ranking: true`) but stage "
                             f"'{stage}' needs pairs (LLaMA-Factory: 'The dataset is not applicable in "
                             f"the current training stage'); build pairs with `w2s-lf build pairs`")))
    elif stage not in RANKING_STAGES and stage != "kto" and ranking:
        out.append(("error", (f"dataset '{name}' is preference data (`ranking: true`) but stage '{stage}' "
                             f"takes plain examples; use it with `stage: dpo`, or give an SFT dataset")))
    try:
        records = read_records(path)
    except InputError as e:
        return out + [("error", f"dataset '{name}': {e}")]
    if not isinstance(records, list) or not records:
        return out + [("error", (f"dataset '{name}': {path} holds no records (LLaMA-Factory: 'Cannot find "
                                f"valid samples')"))]
    if entry.get("formatting", "alpaca") != "alpaca":
        return out + _check_sharegpt(name, entry, records, ranking)
    if "columns" not in entry:
        out.append(("warning", (f"dataset '{name}' has no `columns`: LLaMA-Factory assumes alpaca names "
                               f"{ALPACA_DEFAULTS}; write them out explicitly")))
    columns = entry.get("columns", ALPACA_DEFAULTS if not ranking else
                        {**ALPACA_DEFAULTS, "chosen": None, "rejected": None})
    return out + _check_alpaca(name, columns, records, ranking, path)


def _check_alpaca(name, columns, records, ranking, path) -> list[tuple[str, str]]:
    out = []
    expected = {"prompt": str, "query": str, "system": str}
    if ranking:
        if not columns.get("chosen") or not columns.get("rejected"):
            resp = columns.get("response")
            legacy = resp and isinstance(records[0], dict) and isinstance(records[0].get(resp), list)
            why = (f"its `{resp}` holds [chosen, rejected], the LLaMA-Factory <= 0.7 layout; rebuild with "
                   f"`w2s-lf build pairs --format current`") if legacy else "map both in `columns`"
            return [("error", (f"dataset '{name}': ranking data needs `chosen` and `rejected` columns since "
                              f"LLaMA-Factory 0.8; {why}"))]
        expected.update(chosen=str, rejected=str)
    else:
        expected["response"] = str
    if columns.get("kto_tag"):   # LLaMA-Factory reads a record as KTO only when its tag is a bool
        expected["kto_tag"] = bool
    if columns.get("history"):
        expected["history"] = list
        if ranking:
            out.append(("warning", (f"dataset '{name}': multi-turn (history) preference data; LLaMA-Factory "
                                   f"drops pairs whose prompt has an even number of turns: fold the history "
                                   f"into the instruction, or use sharegpt with an odd number of turns")))
    for role, typ in expected.items():
        key = columns.get(role)
        if not key:
            continue
        for k, record in enumerate(records):
            if not isinstance(record, dict):
                return out + [("error", f"dataset '{name}': record {k} of {path} is not a JSON object")]
            if key not in record:
                fix = (f"add \"{key}\": \"\" to every record or drop `{role}` from columns"
                       if role == "query" else f"fix columns.{role} (record keys: {sorted(record)})")
                return out + [("error", (f"dataset '{name}': column '{key}' (mapped as {role}) missing from "
                                        f"record {k} of {path} (LLaMA-Factory: KeyError / 'Cannot find valid "
                                        f"samples'); {fix}"))]
            value = record[key]
            if not isinstance(value, typ) and not (role in ("query", "system") and value is None):
                return out + [("error", (f"dataset '{name}': record {k} field '{key}' ({role}) is "
                                        f"{type(value).__name__}, expected {typ.__name__}"))]
    if not ranking and columns.get("response"):
        empty = sum(1 for r in records if not r[columns["response"]])
        if empty:
            out.append(("warning", (f"dataset '{name}': {empty} record(s) with an empty response are "
                                   f"trained as unsupervised examples")))
    return out


def _check_sharegpt(name, entry, records, ranking) -> list[tuple[str, str]]:
    """Turn parity: user/assistant alternate, prompts end with a user turn (odd length)."""
    columns = entry.get("columns", {})
    tags = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
            "system_tag": "system", **entry.get("tags", {})}
    key = columns.get("messages", "conversations")
    for k, record in enumerate(records):
        messages = record.get(key) if isinstance(record, dict) else None
        if not isinstance(messages, list) or not messages:
            return [("error", f"dataset '{name}': record {k} has no '{key}' list (sharegpt messages)")]
        turns = [m.get(tags["role_tag"]) for m in messages if isinstance(m, dict)]
        if turns and turns[0] == tags["system_tag"]:
            turns = turns[1:]
        want = [tags["user_tag"], tags["assistant_tag"]]
        bad = any(t != want[i % 2] for i, t in enumerate(turns))
        if bad or (len(turns) % 2 != (1 if ranking else 0)):
            what = "an odd number of turns ending with the user" if ranking else "user/assistant pairs"
            return [("error", (f"dataset '{name}': record {k} breaks sharegpt turn parity (roles {turns}); "
                              f"LLaMA-Factory needs {what} and drops the rest"))]
    return []
