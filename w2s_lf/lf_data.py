"""LLaMA-Factory dataset files and `dataset_info.json` entries.

Entries always carry explicit `columns`: LLaMA-Factory maps every column that an entry with a
`columns` block does not list to None, and an entry without one silently assumes alpaca names.
"""

from __future__ import annotations

from pathlib import Path

from w2s_lf.errors import InputError
from w2s_lf.io import read_json, write_json

SFT_COLUMNS = {"prompt": "content", "response": "output"}
PAIR_COLUMNS = {  # LLaMA-Factory >= 0.8 alpaca preference data
    "current": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"},
    # LLaMA-Factory <= 0.7: `output` holds [chosen, rejected]
    "legacy": {"prompt": "instruction", "query": "input", "response": "output"},
}


def sft_entry(file_name: str) -> dict:
    return {"file_name": file_name, "columns": dict(SFT_COLUMNS)}


def pair_entry(file_name: str, fmt: str = "current") -> dict:
    return {"file_name": file_name, "ranking": True, "columns": dict(PAIR_COLUMNS[fmt])}


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
