"""Benchmark: the builders on 7,000 questions x 10 samples (synthetic), in memory and via files.

    python scripts/bench_builders.py [--n 7000] [--k 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from w2s_lf.builders import build_full_weak, build_pairs, build_stage1, vote
from w2s_lf.builders.files import full_weak_files, pairs_files, stage1_files, vote_files
from w2s_lf.builders.synthetic import synthetic_results
from w2s_lf.io import write_jsonl


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=7000)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    weak, icl, samples = synthetic_results(args.n, args.k, seed=0)
    timings = {}

    def timed(label, fn):
        start = time.perf_counter()
        out = fn()
        timings[label] = time.perf_counter() - start
        return out

    timed("full-weak", lambda: build_full_weak(weak))
    s1 = timed("stage1", lambda: build_stage1(weak, icl))
    votes, _ = timed("vote", lambda: vote(samples))
    pr = timed("pairs", lambda: build_pairs(weak, samples, votes))
    pure = sum(timings.values())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_jsonl(tmp / "weak.jsonl", weak)
        write_jsonl(tmp / "icl.jsonl", icl)
        write_jsonl(tmp / "samples.jsonl", samples)
        start = time.perf_counter()
        full_weak_files(tmp / "weak.jsonl", tmp / "data", "b_full_weak")
        stage1_files(tmp / "weak.jsonl", tmp / "icl.jsonl", tmp / "data", "b_iter1")
        vote_files(tmp / "samples.jsonl", tmp / "votes.jsonl")
        pairs_files(tmp / "weak.jsonl", tmp / "samples.jsonl", tmp / "data", "b_pairs",
                    votes_path=tmp / "votes.jsonl")
        files = time.perf_counter() - start
    print(f"{args.n} questions x {args.k} samples: stage I K={s1.stats['consistent']}, "
          f"pairs={pr.stats['pairs']} ({pr.stats['weak_chosen']} weak-chosen / {pr.stats['weak_rejected']} "
          f"weak-rejected)")
    print("pure builders: " + ", ".join(f"{k} {v:.3f} s" for k, v in timings.items()) + f"; total {pure:.3f} s")
    print(f"with file I/O (read JSONL, write JSON + dataset_info + stats): {files:.3f} s")


if __name__ == "__main__":
    main()
