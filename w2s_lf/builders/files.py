"""File-level builders: read the inputs, run the pure builders, write LLaMA-Factory datasets.

Each returns `{dataset name: path}` plus the statistics, which are also saved next to the data
as `<name>.stats.json`. Everything is read and checked before the first write.
"""

from __future__ import annotations

from pathlib import Path

from w2s_lf.builders.gold import load_gold
from w2s_lf.builders.stage1 import build_full_weak, build_stage1
from w2s_lf.builders.stage2 import QuestionVote, build_pairs, kto_examples, vote
from w2s_lf.builders.weak import build_confident_weak, combine_weak
from w2s_lf.errors import InputError
from w2s_lf.generation.results import check_aligned, load_results, load_samples
from w2s_lf.io import iter_jsonl, read_json, write_json, write_jsonl
from w2s_lf.lf.datasets import write_kto_dataset, write_pairs_dataset, write_sft_dataset


def _gold(path, task):
    return load_gold(path, task) if path else None


def full_weak_files(weak_path, out_dir, name, gold_path=None, task="gsm8k") -> tuple[dict, dict]:
    weak = load_results(weak_path)
    records, stats = build_full_weak(weak, _gold(gold_path, task))
    stats["inputs"] = {"weak": str(weak_path)}
    return {name: write_sft_dataset(out_dir, name, records, stats)}, stats


def stage1_files(weak_path, icl_path, out_dir, name, *, target_count=None, seed=42,
                 gold_path=None, task="gsm8k", keep_both_empty=False) -> tuple[dict, dict]:
    """`<name>_weak`, `<name>_icl` and `<name>_hybrid` datasets, each with the run's statistics
    beside it as `<dataset>.stats.json` (the same dict: they come from one filter)."""
    weak, icl = load_results(weak_path), load_results(icl_path)
    check_aligned(weak, icl, str(weak_path), str(icl_path))
    result = build_stage1(weak, icl, target_count=target_count, seed=seed, gold=_gold(gold_path, task),
                          keep_both_empty=keep_both_empty)
    result.stats["inputs"] = {"weak": str(weak_path), "icl": str(icl_path)}
    written = {f"{name}_{part}": write_sft_dataset(out_dir, f"{name}_{part}", getattr(result, part),
                                                   result.stats)
               for part in ("weak", "icl", "hybrid")}
    return written, result.stats


def combine_weak_files(paths: list, out_path, gold_path=None, task="gsm8k") -> tuple[Path, dict]:
    """Several weak models' greedy results (`name=path` each) combined by majority into one
    result file, with `<out>.stats.json` beside it."""
    names, results = [], []
    for spec in paths:
        name, sep, path = str(spec).partition("=")
        if not sep or not name or not path:
            raise InputError(f"expected NAME=PATH, got {spec!r}")
        names.append(name)
        results.append(load_results(path))
    if len(set(names)) != len(names) or len(names) < 2:
        raise InputError(f"expected two or more weak models with different names, got {names}")
    combined, stats = combine_weak(results, names, _gold(gold_path, task))
    stats["inputs"] = dict(zip(names, map(str, [p.partition("=")[2] for p in paths])))
    out_path = Path(out_path)
    write_jsonl(out_path, combined)
    write_json(out_path.with_name(out_path.stem + ".stats.json"), stats, indent=2)
    return out_path, stats


def confident_weak_files(weak_path, samples_paths: list, out_dir, name, *, min_agreement: float,
                         gold_path=None, task="gsm8k") -> tuple[dict, dict]:
    weak = load_results(weak_path)
    samples = [load_samples(p) for p in samples_paths]
    for path, s in zip(samples_paths, samples):
        check_aligned(weak, s, str(weak_path), str(path))
    records, stats = build_confident_weak(weak, samples, min_agreement, _gold(gold_path, task))
    stats["inputs"] = {"weak": str(weak_path), "samples": [str(p) for p in samples_paths]}
    return {name: write_sft_dataset(out_dir, name, records, stats)}, stats


def vote_files(samples_path, out_path, gold_path=None, task="gsm8k") -> tuple[Path, dict]:
    """Votes as JSONL `{id, pred, count, n, confidence, pos, neg}` (pos/neg: sample indices)."""
    votes, stats = vote(load_samples(samples_path), _gold(gold_path, task))
    stats["inputs"] = {"samples": str(samples_path)}
    out_path = Path(out_path)
    write_jsonl(out_path, (v.to_json() for v in votes))
    write_json(out_path.with_name(out_path.stem + ".stats.json"), stats, indent=2)
    return out_path, stats


VOTE_FIELDS = {"id": (int, str), "pred": str, "count": int, "n": int, "pos": list, "neg": list}


def load_votes(path) -> list[QuestionVote]:
    """Votes written by `build vote`, checked field by field (a hand-edited file stops here)."""
    votes = []
    for line, record in iter_jsonl(path):
        for name, kind in VOTE_FIELDS.items():
            if name not in record:
                raise InputError("missing", path, line, name)
            if not isinstance(record[name], kind) or isinstance(record[name], bool):
                raise InputError(f"expected {getattr(kind, '__name__', 'an integer or a string')}, got "
                                 f"{type(record[name]).__name__}", path, line, name)
        n = record["n"]
        if n < 1 or not 0 <= record["count"] <= n or not all(
                isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n for i in record["pos"] + record["neg"]):
            raise InputError(f"not a vote over n={n} samples (count, pos and neg must index them)", path, line)
        votes.append(QuestionVote.from_json(record))
    return votes


def pairs_files(weak_path, samples_path, out_dir, name, *, votes_path=None, full_weak_path=None,
                task="gsm8k", keep=0.6, flip=0.8, max_pairs=None, seed=42, fmt="current",
                gold_path=None) -> tuple[dict, dict]:
    weak, samples = load_results(weak_path), load_samples(samples_path)
    check_aligned(weak, samples, str(weak_path), str(samples_path))
    votes = load_votes(votes_path) if votes_path else None
    if votes is not None:
        check_aligned(weak, [{"id": v.id} for v in votes], str(weak_path), str(votes_path))
    full_weak = read_json(full_weak_path) if full_weak_path else None
    result = build_pairs(weak, samples, votes, task=task, keep=keep, flip=flip, max_pairs=max_pairs,
                         seed=seed, full_weak=full_weak, gold=_gold(gold_path, task))
    result.stats["format"] = fmt
    result.stats["inputs"] = {"weak": str(weak_path), "samples": str(samples_path)}
    return {name: write_pairs_dataset(out_dir, name, result.pairs, fmt, result.stats)}, result.stats


PAIR_FIELDS = ("id", "instruction", "input", "chosen", "rejected")


def kto_files(pairs_path, out_dir, name) -> tuple[dict, dict]:
    """KTO data (`stage: kto`) from a pairs file written by `build pairs` (current format)."""
    pairs = read_json(pairs_path)
    if not isinstance(pairs, list):
        raise InputError("expected a JSON list of pairs", pairs_path)
    for k, record in enumerate(pairs):
        for key in PAIR_FIELDS:
            if not isinstance(record, dict) or key not in record:
                raise InputError(f"record {k}: missing (pairs in the current format: `build pairs "
                                 "--format current`)", pairs_path, field=key)
    examples, stats = kto_examples(pairs)
    stats["inputs"] = {"pairs": str(pairs_path)}
    return {name: write_kto_dataset(out_dir, name, examples, stats)}, stats
