"""A scratch "repository root" as a user has it after `prepare` and the builders (shared by tests).

data/gsm8k and data/embedded: prepared embedded task + synthetic weak / ICL / sample results run
through the builders; llama_factory_configs/ copied from the repo; models/ links to local models.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def make_root(root: Path, model: Path | None = None) -> Path:
    from w2s_lf.builders.files import (
        full_weak_files,
        kto_files,
        pairs_files,
        stage1_files,
    )
    from w2s_lf.builders.synthetic import synthetic_results
    from w2s_lf.io import read_jsonl, write_jsonl
    from w2s_lf.tasks import get_task
    from w2s_lf.tasks import prepare as lib

    task = get_task("gsm8k")
    runs = root / "runs"
    for data in ("data/gsm8k", "data/embedded"):
        out = root / data
        lib.prepare(task, lib.load_embedded(task, (40, 40, 20), seed=42), out)
        train_2 = read_jsonl(out / "train_2.jsonl")
        prompts = [f"Question: {r['question']}\nAnswer:" for r in train_2]
        weak, icl, samples = synthetic_results(len(train_2), 10, seed=1, prompts=prompts)
        for name, records in (("weak", weak), ("icl", icl), ("samples", samples)):
            write_jsonl(runs / f"{name}.jsonl", records)
        full_weak_files(runs / "weak.jsonl", out, "gsm8k_full_weak")
        stage1_files(runs / "weak.jsonl", runs / "icl.jsonl", out, "gsm8k_iter1")
        pairs_files(runs / "weak.jsonl", runs / "samples.jsonl", out, "gsm8k_pairs")
        kto_files(out / "gsm8k_pairs.json", out, "gsm8k_kto")
    shutil.copytree(REPO / "llama_factory_configs", root / "llama_factory_configs")
    if model is not None:
        (root / "models").mkdir(exist_ok=True)
        os.symlink(model, root / "models" / "smollm2-135m")
    return root
