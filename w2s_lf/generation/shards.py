"""Shards for several engines or nodes, joining them back, and the paper's per-seed layout.

A shard `i/N` holds the question ids with `id % N == i`. Striding (rather than contiguous
blocks) keeps the shards balanced when question length drifts through a file, and a shard's
ids never depend on how many questions were already finished.
"""

from __future__ import annotations

import glob
import re
from pathlib import Path

from w2s_lf.errors import InputError, W2SError
from w2s_lf.io import atomic_open, dumps_jsonl, iter_jsonl, read_json, write_json

_SHARD = re.compile(r"^(\d+)/(\d+)$")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    m = _SHARD.match(text.strip())
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise W2SError(f"--shard: expected i/N with 0 <= i < N, got '{text}'")
    return int(m.group(1)), int(m.group(2))


def shard_ids(ids: list[int], shard: tuple[int, int] | None) -> list[int]:
    if shard is None:
        return list(ids)
    i, n = shard
    return [q for q in ids if q % n == i]


def run_info_path(output: str | Path) -> Path:
    return Path(f"{output}.run.json")


def merge(output: str | Path, shards: list[str | Path], expected: int | None = None) -> int:
    """Join shard files into `output` in id order; every id 0..expected-1 must appear exactly once.

    `expected` defaults to the question count each shard's `.run.json` records; without it the
    ids must at least be contiguous from 0. Returns the number of records written."""
    if not shards:
        raise W2SError("merge: no shard files given")
    records: dict[int, dict] = {}
    where: dict[int, str] = {}
    totals, seen_shards, kinds = set(), set(), set()
    for path in shards:
        info_path = run_info_path(path)
        if info_path.is_file():
            info = read_json(info_path)
            totals.add(info.get("total"))
            if info.get("shard"):
                seen_shards.add(tuple(info["shard"]))
            if info.get("complete") is False:
                raise W2SError(f"merge: {path} is unfinished ({info_path} says complete: false); "
                               "rerun that shard to finish it")
        for number, record in iter_jsonl(path):
            rid = record.get("id")
            if not isinstance(rid, int):
                raise InputError("expected an integer id", path, number, "id")
            if rid in records:
                raise W2SError(f"merge: id {rid} appears twice ({where[rid]} and {path}:{number})")
            kinds.add("samples" in record)
            records[rid], where[rid] = record, f"{path}:{number}"
    if len(kinds) > 1:
        raise W2SError("merge: shards mix greedy and sample records")
    totals.discard(None)
    if expected is None and len(totals) > 1:
        raise W2SError(f"merge: shards were made from inputs of different sizes: {sorted(totals)}")
    if expected is None and totals:
        expected = totals.pop()
    if seen_shards:
        n = {s[1] for s in seen_shards}
        if len(n) == 1:
            missing = sorted(set(range(next(iter(n)))) - {s[0] for s in seen_shards})
            if missing:
                raise W2SError(f"merge: shard(s) {', '.join(f'{i}/{n.pop()}' for i in missing)} not given")
    top = expected if expected is not None else (max(records) + 1 if records else 0)
    missing = [i for i in range(top) if i not in records]
    extra = [i for i in records if not 0 <= i < top]
    if missing:
        shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
        raise W2SError(f"merge: {len(missing)} id(s) missing of {top}: {shown}")
    if extra:
        raise W2SError(f"merge: ids outside 0..{top - 1}: {sorted(extra)[:20]}")
    with atomic_open(output) as f:
        f.write(dumps_jsonl(records[i] for i in range(top)))
    return top


def shard_files(output: str | Path) -> list[Path]:
    """Hand-made shards of `output` as `scripts/launch_generation.sh` names them:
    `<output>.shard<i>-of-<N>.jsonl`."""
    output = Path(output)
    return sorted(output.parent.glob(f"{glob.escape(output.name)}.shard*-of-*.jsonl"))


def adopt_shards(output: str | Path, expected_ids) -> bool:
    """Accept hand-made shards as `output` when together they hold exactly `expected_ids`.

    Finished shard files (`<output>.shard<i>-of-<N>.jsonl`, each `.run.json` complete and made
    with the same settings) whose ids are exactly `expected_ids`, each once, are joined into
    `output` in id order with a `.run.json` of those settings, and True is returned. Anything
    else (no shards, an unfinished one, a missing, extra or duplicated id, mixed settings)
    returns False and changes nothing. Shard files are only read, never changed or deleted."""
    output, expected = Path(output), sorted(expected_ids)
    files = shard_files(output)
    if not files:
        return False
    infos = [read_json(run_info_path(f)) if run_info_path(f).is_file() else None for f in files]
    if any(i is None or i.get("complete") is not True for i in infos):
        return False
    settings = [i.get("settings") for i in infos]
    if any(s != settings[0] for s in settings):
        return False
    records: dict[int, dict] = {}
    try:
        for path in files:
            for _, record in iter_jsonl(path):
                rid = record.get("id")
                if not isinstance(rid, int) or rid in records:
                    return False
                records[rid] = record
    except InputError:
        return False
    if sorted(records) != expected:
        return False
    from w2s_lf.generation.resume import exclusive
    with exclusive(output), atomic_open(output) as f:
        f.write(dumps_jsonl(records[i] for i in expected))
    info = {"settings": settings[0], "shard": None, "total": infos[0].get("total"), "complete": True,
            "adopted_from": [str(f) for f in files],
            "summary": {"questions": len(expected), "reused": len(expected), "generated": 0}}
    write_json(run_info_path(output), info)
    return True


def export_seeds(samples_path: str | Path, out_dir: str | Path) -> list[Path]:
    """Write sample i of every question to `out_dir/seed{i}/results.jsonl` (the paper ran k
    greedy-format passes, one per seed, and stored each like a greedy result file)."""
    rows = [r for _, r in iter_jsonl(samples_path)]
    if not rows:
        raise InputError("file is empty", samples_path)
    ks = {len(r.get("samples") or []) for r in rows}
    if 0 in ks or len(ks) != 1:
        raise InputError(f"every record needs the same, non-zero number of samples; found {sorted(ks)}",
                         samples_path, field="samples")
    k = ks.pop()
    written = []
    for i in range(k):
        path = Path(out_dir) / f"seed{i}" / "results.jsonl"
        lines = []
        for r in rows:
            s = r["samples"][i]
            lines.append({"id": r["id"], "prompt": r["prompt"], "response": s["response"],
                          "pred": s["pred"], "gold": r.get("gold"), "result": s.get("result"),
                          "num_tokens": s.get("num_tokens"), "num_words": len(s["response"].split())})
        with atomic_open(path) as f:
            f.write(dumps_jsonl(lines))
        written.append(path)
    return written
