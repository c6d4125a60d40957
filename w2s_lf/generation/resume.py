"""The output file is the checkpoint.

Each answer is appended as it finishes (in completion order), flushed and fsynced, so a kill at
any moment (SIGKILL included) loses only the answers still in the engine. A kill can tear only
the final line (one `write` per append, at the end), so on start a final line without its newline, or one that is not valid
JSON, is cut off; damage anywhere else is not ours and is reported, never repaired silently.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from w2s_lf.errors import InputError
from w2s_lf.io import atomic_open, dumps_jsonl, locked


def recover(path: str | Path) -> dict[int, dict]:
    """Records already in `path` by id, after dropping a torn final line (truncating the file).
    A missing file is an empty checkpoint. Duplicated ids are an error."""
    path = Path(path)
    if not path.exists():
        return {}
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1          # bytes up to the last complete line
    keep = data[:end]
    lines = keep.split(b"\n")[:-1] if keep else []
    if lines and not _parses(lines[-1]):
        # After a power loss the tail can hold a newline-terminated line of garbage (zeroed
        # blocks); like a torn line, only the *last* line can be ours to drop.
        end -= len(lines[-1]) + 1
        lines = lines[:-1]
    if end != len(data):
        with path.open("r+b") as f:
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
    done: dict[int, dict] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (ValueError, RecursionError) as e:   # not JSON, not UTF-8, a number too long, too deep
            raise InputError(f"malformed JSON ({getattr(e, 'msg', e)}); the file was not written by this run "
                             "(use --overwrite to start again)", path, number) from None
        if not isinstance(record, dict) or not isinstance(record.get("id"), int):
            raise InputError("expected an object with an integer 'id'", path, number, "id")
        if record["id"] in done:
            raise InputError(f"duplicated id {record['id']}", path, number, "id")
        done[record["id"]] = record
    return done


def _parses(raw: bytes) -> bool:
    try:
        json.loads(raw)
        return True
    except (ValueError, RecursionError):
        return False


def append(path: str | Path, records: list[dict]) -> None:
    """Append whole lines in one write, then flush and fsync: they survive a crash from here on."""
    if not records:
        return
    with Path(path).open("a", encoding="utf-8") as f:
        f.write(dumps_jsonl(records))
        f.flush()
        os.fsync(f.fileno())


def finalize(path: str | Path) -> None:
    """Leave the file in id order (atomic: temp file and rename). Answers finish out of order,
    so this usually rewrites the file once at the end; an ordered file is left untouched."""
    records = list(recover(path).values())
    ids = [r["id"] for r in records]
    if ids == sorted(ids):
        return
    with atomic_open(path) as f:
        f.write(dumps_jsonl(sorted(records, key=lambda r: r["id"])))


def exclusive(path: str | Path):
    """Hold `.<name>.lock` beside `path` for the run: two writers on one checkpoint would
    duplicate ids (`w2s_lf.io.locked`: released when the process dies, SIGKILL included)."""
    path = Path(path)
    return locked(path.parent / f".{path.name}.lock", f"{path}: another run is writing it")
