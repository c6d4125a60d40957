"""Step 1, prepare: turn a math dataset into train_1 / train_2 / test and LLaMA-Factory gold data.

Sources: a folder of the paper's split files, a Hugging Face dataset split by a seeded rule, or the
embedded offline task (GSM8K-style, or MATH-style for `--task math`). Everything is read and checked before anything is written.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from w2s_lf import __version__
from w2s_lf.errors import InputError, W2SError
from w2s_lf.io import dumps_jsonl, iter_jsonl, read_json, sha256_file, write_json, write_text
from w2s_lf.lf.datasets import sft_entry, update_dataset_info
from w2s_lf.tasks.embedded_gsm8k import embedded_splits
from w2s_lf.tasks.embedded_math import embedded_math_splits
from w2s_lf.tasks.registry import Example, Task, zero_shot_prompt

SPLITS = ("train_1", "train_2", "test")
EMBEDDED_SIZES = (300, 300, 200)
SIZES_FILE = "splits.stats.json"
# The paper's splits (its README, "Data Statistics"), why other sources differ, and how to get them.
PAPER_SIZES = {"gsm8k": {"train_1": 7000, "train_2": 7000, "test": 1319},
               "math": {"train_1": 6000, "train_2": 6000, "test": 500}}
WHY_NOT_PAPER = {
    "gsm8k": "a hub GSM8K train set has no Abel augmentation (openai/gsm8k: 7,473 problems; the paper's "
             "train_1 and train_2 add Abel-style augmented problems, ids aug_<k>)",
    "math": "a hub MATH dataset gives its train split only (7,500 problems); the paper's 6,000 + 6,000 "
            "(MATH's 12,500 problems less MATH-500, inferred from the sizes) were not released",
}
HOW_TO_PAPER = {
    "gsm8k": "for the paper's exact splits use its released data/raw/gsm8k: `w2s-lf prepare --task gsm8k "
             "--from-dir <gair-w2s>/data/raw/gsm8k` (a recipe: data.source: local, data.from_dir: that folder)",
    "math": "the paper's MATH train splits exist nowhere (its data/raw/math holds test.jsonl, the MATH-500 "
            "test set); to match their sizes, --from-dir a folder with your own train_1/train_2/test.jsonl",
}


@dataclass
class Splits:
    """The three splits of a task, and what was read to get them (for the manifest)."""

    examples: dict[str, list[Example]]
    source: dict
    inputs: dict[str, str] = field(default_factory=dict)   # path -> sha256


def _check_unique_ids(examples: list[Example], path: str, lines: list[int]) -> None:
    seen: dict[str, int] = {}
    for example, line in zip(examples, lines):
        if example.id is None:
            continue
        if example.id in seen:
            raise InputError(f"duplicate id {example.id!r} (first on line {seen[example.id]})", path, line, "id")
        seen[example.id] = line


def read_split_file(task: Task, path: Path) -> list[Example]:
    examples, lines = [], []
    for line, record in iter_jsonl(path):
        examples.append(task.read(record, str(path), line))
        lines.append(line)
    if not examples:
        raise InputError("file is empty", path)
    _check_unique_ids(examples, str(path), lines)
    return examples


def load_local(task: Task, folder: str | Path) -> Splits:
    """The paper's layout: `train_1.jsonl`, `train_2.jsonl`, `test.jsonl` in one folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise W2SError(f"{folder}: source folder not found")
    examples, inputs = {}, {}
    for split in SPLITS:
        path = folder / f"{split}.jsonl"
        examples[split] = read_split_file(task, path)
        inputs[str(path)] = sha256_file(path)
    return Splits(examples, {"kind": "local", "folder": str(folder)}, inputs)


def seeded_split(n_rows: int, sizes: tuple[int, int], seed: int) -> tuple[list[int], list[int]]:
    """Shuffle row indices with `random.Random(seed)`; train_1 is the first block, train_2 the next.

    When the dataset is smaller than the two sizes together, both shrink in proportion.
    """
    n1, n2 = sizes
    if n1 + n2 > n_rows:
        n1 = n_rows * n1 // (n1 + n2)
        n2 = n_rows - n1
    order = list(range(n_rows))
    random.Random(seed).shuffle(order)
    return sorted(order[:n1]), sorted(order[n1:n1 + n2])


def load_hf(task: Task, name: str, config: str | None, sizes: tuple[int, int], seed: int,
            test_name: str | None = None, test_config: str | None = None) -> Splits:
    """A hub (or local) dataset with `train` and `test` splits, via `datasets.load_dataset`."""
    import datasets  # heavy; only this source needs it

    def load(ds_name, ds_config, split):
        try:
            return datasets.load_dataset(ds_name, ds_config, split=split)
        except Exception as e:   # datasets raises many types; name the dataset in one message
            raise W2SError(f"could not load dataset '{ds_name}' split '{split}': {e}") from None

    train = load(name, config, "train")
    test = load(test_name or name, test_config if test_name else config, "test")
    idx_1, idx_2 = seeded_split(len(train), sizes, seed)

    def examples(rows, indices, where):
        out = []
        for i in indices:
            record = dict(rows[i])
            record.setdefault("id", f"{task.name}_{i}")
            out.append(task.read(record, where, i + 1))
        return out

    splits = {"train_1": examples(train, idx_1, f"{name}[train]"),
              "train_2": examples(train, idx_2, f"{name}[train]"),
              "test": examples(test, range(len(test)), f"{test_name or name}[test]")}
    source = {"kind": "hf", "name": name, "config": config, "test_name": test_name,
              "seed": seed, "sizes": list(sizes), "train_rows": len(train)}
    return Splits(splits, source)


EMBEDDED_TASKS = ("gsm8k", "math")


def load_embedded(task: Task, sizes: tuple[int, int, int], seed: int) -> Splits:
    """The offline generated task: GSM8K-style word problems, or MATH-style problems for `math`."""
    if task.name not in EMBEDDED_TASKS:
        raise W2SError(f"the embedded task exists for {' and '.join(EMBEDDED_TASKS)}; "
                       f"task '{task.name}' needs --from-dir or --hf")
    raw = embedded_math_splits(sizes, seed) if task.name == "math" else embedded_splits(sizes, seed)
    examples = {split: [task.read(r, f"<embedded {split}>", k + 1) for k, r in enumerate(records)]
                for split, records in raw.items()}
    return Splits(examples, {"kind": "embedded", "seed": seed, "sizes": list(sizes)})


def compare_with_paper(task: Task, splits: Splits) -> dict | None:
    """Each split's size beside the paper's, and a `warning` saying why and what to do when they
    differ; None for data the paper has no splits of (custom tasks, the embedded toy tasks)."""
    paper = PAPER_SIZES.get(task.name)
    if paper is None or splits.source["kind"] == "embedded":
        return None
    sizes = {split: len(splits.examples[split]) for split in SPLITS}
    out = {**sizes, "paper": paper}
    differ = [s for s in SPLITS if sizes[s] != paper[s]]
    if differ:
        why = WHY_NOT_PAPER[task.name] if splits.source["kind"] == "hf" else \
            f"the files in {splits.source.get('folder')} are not the paper's"
        out["warning"] = ("these splits are not the paper's ("
                          + "; ".join(f"{s} {sizes[s]:,} vs {paper[s]:,}" for s in differ)
                          + f"): {why}; {HOW_TO_PAPER[task.name]}")
    return out


def format_sizes(comparison: dict) -> str:
    """The size comparison as a small table."""
    rows = [f"{'split':<8} {'ours':>6} {'paper':>6}"]
    rows += [f"{s:<8} {comparison[s]:>6} {comparison['paper'][s]:>6}" for s in SPLITS]
    return "\n".join(rows)


def gold_sft_records(task: Task, examples: list[Example], prompt_style: str = "raw") -> list[dict]:
    """`{id, content, output}` with the 0-based index as id, as the paper's gold files.

    Chat style: the question as the user turn, the generation side's system turn, and the
    solution ending in `\\boxed{answer}` (`Task.chat_target`)."""
    if prompt_style == "chat":
        from w2s_lf.generation.prompts import CHAT_SYSTEM
        return [{"id": i, "content": e.question, "output": task.chat_target(e), "system": CHAT_SYSTEM}
                for i, e in enumerate(examples)]
    return [{"id": i, "content": zero_shot_prompt(e.question), "output": task.gold_target(e)}
            for i, e in enumerate(examples)]


def render_outputs(task: Task, splits: Splits, prefix: str, prompt_style: str = "raw") -> dict[str, str]:
    """File name -> exact file text, for everything `prepare` writes except the metadata."""
    import json
    ex = splits.examples
    return {
        "test.jsonl": dumps_jsonl(task.processed(e, "test") for e in ex["test"]),
        "train_2.jsonl": dumps_jsonl(task.processed(e, "train_2") for e in ex["train_2"]),
        f"{prefix}_train_1.json": json.dumps(gold_sft_records(task, ex["train_1"], prompt_style), indent=4),
        f"{prefix}_train_2.json": json.dumps(gold_sft_records(task, ex["train_2"], prompt_style), indent=4),
    }


def prepare(task: Task, splits: Splits, out_dir: str | Path, options: dict | None = None,
            prompt_style: str = "raw") -> dict:
    """Write the processed and gold files, register them, and return the manifest.

    `prompt_style` shapes only the gold SFT files: `raw` (the paper's) or `chat` (see
    `gold_sft_records`)."""
    if prompt_style not in ("raw", "chat"):
        raise W2SError(f"unknown prompt style '{prompt_style}'; choose raw or chat")
    out_dir = Path(out_dir)
    prefix = task.name
    files = render_outputs(task, splits, prefix, prompt_style)   # all checks done before the first write
    sizes_were_ours = _earlier_prepare_wrote_sizes(out_dir)
    for name, text in files.items():
        write_text(out_dir / name, text)
    chat = prompt_style == "chat"
    update_dataset_info(out_dir / "dataset_info.json", {
        f"{prefix}_train_1_gold": sft_entry(f"{prefix}_train_1.json", system=chat),
        f"{prefix}_train_2_gold": sft_entry(f"{prefix}_train_2.json", system=chat),
    })
    manifest = {
        "w2s_lf_version": __version__,
        "task": task.name,
        "source": splits.source,
        "options": {**(options or {}), "prompt_style": prompt_style},
        "inputs": splits.inputs,
        "counts": {split: len(splits.examples[split]) for split in SPLITS},
        "outputs": {name: sha256_file(out_dir / name) for name in sorted(files)},
    }
    comparison = compare_with_paper(task, splits)
    if comparison:   # the run's prepare stage reports it (statistics, and the report's findings)
        manifest["paper_sizes"] = comparison
        write_json(out_dir / SIZES_FILE, comparison, indent=2)
    elif sizes_were_ours:   # an earlier prepare's comparison, stale now; anything else stays
        (out_dir / SIZES_FILE).unlink(missing_ok=True)
    write_json(out_dir / "manifest.json", manifest, indent=2)
    return manifest


def _earlier_prepare_wrote_sizes(out_dir: Path) -> bool:
    """Whether the manifest an earlier `prepare` left in `out_dir` records the size comparison it
    wrote (`paper_sizes`): only then is SIZES_FILE ours to remove."""
    try:
        earlier = read_json(out_dir / "manifest.json")
    except (InputError, OSError):   # none there, or not one of ours to trust
        return False
    return isinstance(earlier, dict) and "paper_sizes" in earlier
