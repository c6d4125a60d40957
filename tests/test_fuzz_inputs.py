"""Fuzzing the recipe loader and the JSONL readers: no input ever gives a traceback (issue 17).

A seeded generator (the same cases on every run) mutates valid recipes (values of every type,
unknown and misspelt keys, dotted overrides, broken YAML, bytes that are not UTF-8) and result
files (records with fields of the wrong type, torn and non-JSON lines, deep nesting, huge
numbers). Every case must either load or raise a `W2SError` whose message is one line; any other
exception fails with the input that caused it.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
import yaml

from w2s_lf.errors import W2SError

RECIPE_CASES = 1500
JSONL_CASES = 1500
REPO = Path(__file__).resolve().parents[1]

BASE = {"name": "fuzz", "weak": {"model": "tiny-llama"}, "strong": {"model": "tiny-llama"},
        "data": {"source": "embedded", "sizes": [20, 10, 10]}, "generation": {"max_new_tokens": 32},
        "stage2": {"k": 3, "methods": ["dpo"]}, "evaluate": {"models": ["weak", "mplus"], "k": 2}}
KEYS = {
    "": ["name", "task", "run_dir", "grader", "seed", "baselines", "data", "weak", "strong", "generation",
         "training", "stage1", "stage2", "evaluate", "cluster", "confident_weak", "nmae", ""],
    "data": ["source", "from_dir", "hf_name", "sizes", "seed", "limit_train_2", "limit_test", "szes"],
    "weak": ["model", "train", "adapter", "tensor_parallel_size"],
    "strong": ["model", "tensor_parallel_size", "trian"],
    "generation": ["backend", "prompt_style", "max_new_tokens", "batch_size", "data_parallel_size", "options"],
    "training": ["preset", "weak_preset", "overrides", "sft_overrides", "launch", "template"],
    "stage1": ["iterations", "target_count"],
    "stage2": ["k", "temperature", "keep_threshold", "flip_threshold", "max_pairs", "methods", "format", "rounds"],
    "confident_weak": ["k", "min_agreement"],
    "evaluate": ["models", "k"],
    "cluster": ["backend", "nodes", "gpus_per_node", "address"],
}
WORDS = ["gsm8k", "math", "custom", "embedded", "local", "hf", "dpo", "orpo", "ppo", "kto", "simpo", "confident_weak", "weak", "mplus", "mpro",
         "strong_gold", "bogus", "smollm2-wek", "tiny-llama", "org/model", "../..", "/abs", "a/b/c", ".", "",
         " ", "cpu", "7b", "chat", "raw", "robust", "seed", "ray", "slurm", "über", "\t", "x" * 300,
         "output_dir", "nproc_per_node", "2020-13-45", "two\nlines", "org/two\nlines", "~nobody/x", "a\x00b"]


def junk(rng: random.Random, depth: int = 0):
    """A value of any YAML type, often one a key does not take."""
    kind = rng.randrange(12 if depth < 2 else 8)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, 1, 2, 3, -1, -5, 10 ** 6, 2 ** 64, -(2 ** 40)])
    if kind == 3:
        return rng.choice([0.0, 0.5, 1.0, -0.1, 1.5, float("nan"), float("inf"), -float("inf"), 1e308])
    if kind in (4, 5, 6, 7):
        return rng.choice(WORDS)
    if kind in (8, 9):
        return [junk(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(WORDS + ["k", "max_steps", "output_dir"]): junk(rng, depth + 1) for _ in range(rng.randrange(3))}


def mutate_recipe(rng: random.Random, base: dict) -> tuple[dict | list | str, dict]:
    data = json.loads(json.dumps(base))
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        section = rng.choice(list(KEYS))
        key = rng.choice(KEYS[section]) if rng.random() < 0.9 else rng.choice(WORDS)
        target = data if not section else data.setdefault(section, {})
        if not isinstance(target, dict):
            continue
        if rng.random() < 0.15:
            target.pop(key, None)
        else:
            target[key] = junk(rng)
    overrides = {}
    for _ in range(rng.choice([0, 0, 1, 2])):
        section = rng.choice(list(KEYS))
        dotted = ".".join(p for p in (section, rng.choice(KEYS[section])) if p)
        overrides[rng.choice([dotted, dotted + ".x", "stage2..k", "name.x", dotted.upper()])] = junk(rng)
    if rng.random() < 0.05:
        data = rng.choice([[data], "just a string", 42, None])
    return data, overrides


def recipe_bytes(rng: random.Random, data) -> bytes:
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()
    roll = rng.random()
    if roll < 0.08:   # a byte that is not UTF-8
        at = rng.randrange(len(text) + 1)
        text = text[:at] + bytes([rng.randrange(0x80, 0x100)]) + text[at:]
    elif roll < 0.16:   # torn
        text = text[:rng.randrange(len(text) + 1)]
    elif roll < 0.24:   # YAML syntax noise
        at = rng.randrange(len(text) + 1)
        text = text[:at] + rng.choice([b"\t", b": :", b"[", b"{", b"&a *a", b"!!python/object:os.system ''",
                                       b"\n- x\n", b"%YAML 9\n", b"2020-13-45"]) + text[at:]
    return text


def accepted(call, case: str) -> bool:
    """True when `call()` returns, False when it raises a one-line W2SError; any other exception
    fails the test, showing `case` (the input that caused it)."""
    try:
        call()
        return True
    except W2SError as e:
        assert "\n" not in str(e), f"a multi-line error: {e}"
        return False
    except Exception as e:   # noqa: BLE001 - the point of the test
        pytest.fail(f"{type(e).__name__}: {e}\n{case}")


def test_the_recipe_loader_never_raises_anything_but_one_line_w2s_errors(tmp_path):
    from w2s_lf.launch.placement import shape_of
    from w2s_lf.run.execute import build_plan, check_batches, check_inputs
    from w2s_lf.run.recipe import load_recipe

    def load_check_and_plan(path: Path, overrides: dict, plan: bool) -> None:
        recipe = load_recipe(path, overrides)
        counts["loaded"] += 1
        check_inputs(recipe, check_hub=False)
        if plan:
            check_batches(build_plan(recipe, progress=False), shape_of(recipe), recipe.training.launch)
            counts["planned"] += 1

    rng = random.Random(17)
    bases = [BASE] + [yaml.safe_load(p.read_text()) for p in sorted((REPO / "recipes").glob("*.yaml"))]
    path = tmp_path / "recipe.yaml"
    counts = {"loaded": 0, "planned": 0}
    started, cpu = time.perf_counter(), time.process_time()
    for case in range(RECIPE_CASES):
        data, overrides = mutate_recipe(rng, rng.choice(bases))
        path.write_bytes(content := recipe_bytes(rng, data))
        # the plan too, for a tenth of the recipes that load
        accepted(lambda: load_check_and_plan(path, overrides, counts["loaded"] % 10 == 0),
                 f"case {case}, overrides {overrides!r}: {content!r}")
    print(f"recipes: {RECIPE_CASES} cases, {counts['loaded']} loaded, {counts['planned']} planned, "
          f"{time.perf_counter() - started:.1f} s ({time.process_time() - cpu:.1f} s CPU)")
    assert counts["loaded"] > RECIPE_CASES // 10   # enough valid recipes reach the later checks


GOOD_RESULT = {"id": 0, "prompt": "Question: 1+1?\nAnswer:", "response": "2\n#### 2", "pred": "2", "gold": "2",
               "result": True}
GOOD_SAMPLE = {"id": 0, "prompt": "p", "samples": [{"response": "r", "pred": "2"}], "gold": "2"}
GOOD_SPLIT = {"question": "1+1?", "answer": "1+1=2\n#### 2"}
RAW_LINES = [b"", b"   ", b"{", b"[1, 2]", b"null", b"42", b'"text"', b"{\"id\": 1", b"\xff\xfe", b"caf\xe9",
             b"\xef\xbb\xbf{}", b"[" * 3000 + b"]" * 3000, b"{\"id\": " + b"9" * 5000 + b"}", b"NaN",
             b"{\"id\": NaN}", b"{\"id\": Infinity}", b"\x00", b"{}\r"]


def mutate_record(rng: random.Random, record: dict) -> dict:
    record = json.loads(json.dumps(record))
    for _ in range(rng.randrange(3)):
        key = rng.choice(list(record) + ["id", "samples", "gold", "extra"])
        if rng.random() < 0.3:
            record.pop(key, None)
        else:
            record[key] = junk(rng)
    if "samples" in record and isinstance(record["samples"], list) and rng.random() < 0.5:
        record["samples"] = [junk(rng) if rng.random() < 0.3 else {"response": junk(rng), "pred": junk(rng)}
                             for _ in range(rng.randrange(3))]
    return record


def jsonl_bytes(rng: random.Random) -> bytes:
    base = rng.choice([GOOD_RESULT, GOOD_SAMPLE, GOOD_SPLIT])
    lines = []
    for i in range(rng.randrange(1, 5)):
        record = dict(base, id=i) if "id" in base else dict(base)
        roll = rng.random()
        if roll < 0.55:
            lines.append(json.dumps(mutate_record(rng, record)).encode())
        elif roll < 0.75:
            lines.append(json.dumps(record).encode())
        else:
            lines.append(rng.choice(RAW_LINES))
    text = b"\n".join(lines) + rng.choice([b"\n", b"", b"\n\n"])
    if rng.random() < 0.1:
        text = text[:rng.randrange(len(text) + 1)]
    return text


def readers():
    from w2s_lf.builders.files import load_votes
    from w2s_lf.builders.gold import load_gold
    from w2s_lf.generation import resume
    from w2s_lf.generation.results import load_results, load_samples
    from w2s_lf.io import read_json, read_jsonl
    from w2s_lf.report.metrics import read_results, read_samples
    from w2s_lf.tasks import get_task
    from w2s_lf.tasks.prepare import read_split_file
    return {"read_jsonl": lambda p: read_jsonl(p, required=("id",)), "read_json": read_json,
            "load_results": load_results, "load_samples": load_samples, "load_gold": load_gold,
            "load_votes": load_votes, "read_results": read_results, "read_samples": read_samples,
            "split gsm8k": lambda p: read_split_file(get_task("gsm8k"), p),
            "split math": lambda p: read_split_file(get_task("math"), p), "resume.recover": resume.recover}


def test_the_jsonl_readers_never_raise_anything_but_one_line_w2s_errors(tmp_path):
    rng = random.Random(1717)
    funcs = readers()
    path = tmp_path / "records.jsonl"
    started, cpu, read = time.perf_counter(), time.process_time(), 0
    for case in range(JSONL_CASES):
        content = jsonl_bytes(rng)
        name, reader = rng.choice(sorted(funcs.items()))
        path.write_bytes(content)
        read += accepted(lambda: reader(path), f"case {case}, {name}: {content[:2000]!r}")
    print(f"JSONL: {JSONL_CASES} cases, {read} read without error, "
          f"{time.perf_counter() - started:.1f} s ({time.process_time() - cpu:.1f} s CPU)")
    assert read > JSONL_CASES // 20
