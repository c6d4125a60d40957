"""`w2s-lf prepare`: fidelity to the paper's files, determinism, sources and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from w2s_lf.errors import InputError
from w2s_lf.tasks import get_task
from w2s_lf.tasks import prepare as lib


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.shared
def test_gsm8k_paper_files_reproduced(gair, tmp_path, cli):
    result = cli("prepare", "--task", "gsm8k", "--from-dir", gair / "data/raw/gsm8k", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    released = gair / "data/llama_factory/gsm8k"
    for split in ("train_1", "train_2"):   # byte for byte
        assert (tmp_path / f"gsm8k_{split}.json").read_bytes() == (released / f"gsm8k_{split}.json").read_bytes()
    # record for record
    assert _jsonl(tmp_path / "train_2.jsonl") == _jsonl(gair / "data/test/gsm8k_train_2.jsonl")
    assert _jsonl(tmp_path / "test.jsonl") == _jsonl(gair / "data/test/gsm8k.jsonl")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["counts"] == {"train_1": 7000, "train_2": 7000, "test": 1319}
    assert re.search(r"^train_1 +7000 +7000$", result.output, re.M) and "WARNING" not in result.output
    assert "warning" not in json.loads((tmp_path / lib.SIZES_FILE).read_text())
    assert len(manifest["inputs"]) == 3 and all(len(h) == 64 for h in manifest["inputs"].values())


@pytest.mark.shared
def test_math_records_processed_as_released(gair):
    task = get_task("math")
    examples = lib.read_split_file(task, gair / "data/raw/math/test.jsonl")
    processed = [task.processed(e, "test") for e in examples]
    assert processed == _jsonl(gair / "data/test/math.jsonl")


def test_embedded_default_is_deterministic(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli("prepare").exit_code == 0
    first = _files(tmp_path / "data/embedded")
    assert cli("prepare").exit_code == 0
    assert _files(tmp_path / "data/embedded") == first
    info = json.loads(first["dataset_info.json"])
    assert all("columns" in entry for entry in info.values())
    gold = json.loads(first["gsm8k_train_1.json"])
    assert len(gold) == 300 and gold[0]["id"] == 0
    assert gold[0]["content"].startswith("Question: ") and gold[0]["content"].endswith("\nAnswer:")
    assert "<<" not in gold[0]["output"] and "\n#### " in gold[0]["output"]
    test = _jsonl(tmp_path / "data/embedded/test.jsonl")
    assert len(test) == 200 and test[0]["source"] == "GSM8K" and test[0]["tag"] == {}
    # no question is shared between splits
    questions = [json.loads(first["gsm8k_train_2.json"])[i]["content"] for i in range(300)]
    assert not set(questions) & {g["content"] for g in gold}


def test_embedded_data_is_a_function_of_the_seed(tmp_path):
    """Pinned values: a change to the generator would silently change every run's splits."""
    task = get_task("gsm8k")
    a = lib.load_embedded(task, (5, 5, 5), seed=1).examples["test"]
    assert [e.question for e in a] == [e.question for e in lib.load_embedded(task, (5, 5, 5), seed=1).examples["test"]]
    assert [e.question for e in a[:2]] == ["Maya has 4 stacks of 7 books and gives away 7. How many are left?",
                                           "Olga has 4 pencils and buys 8 packs of 7. How many pencils now?"]
    b = lib.load_embedded(task, (5, 5, 5), seed=2).examples["test"]
    assert b[0].question == "Liam made 9 cards on Monday and 5 more than that on Tuesday. How many in total?"


def test_embedded_answers_are_consistent():
    """The calculator notes' last result is the final answer."""
    task = get_task("gsm8k")
    for example in lib.load_embedded(task, (50, 0, 0), seed=3).examples["train_1"]:
        last_note = example.solution.split("<<")[-1].split(">>")[0]
        assert last_note.split("=")[-1] == example.answer


def test_dataset_info_update_keeps_other_entries(tmp_path, cli):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"mine": {"file_name": "x.json"}}))
    assert cli("prepare", "--sizes", "4,4,4", "-o", tmp_path).exit_code == 0
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert list(info) == ["mine", "gsm8k_train_1_gold", "gsm8k_train_2_gold"]


def _write_split(folder: Path, name: str, lines: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.jsonl").write_text("".join(line + "\n" for line in lines))


GOOD = json.dumps({"id": "a", "question": "What is 1+1?", "answer": "1+1=2\n#### 2"})


def _folder(tmp_path: Path, train_2: list[str]) -> Path:
    src = tmp_path / "src"
    _write_split(src, "train_1", [GOOD])
    _write_split(src, "train_2", train_2)
    _write_split(src, "test", [GOOD])
    return src


@pytest.mark.parametrize("lines, expected", [
    ([GOOD, "{not json"], "train_2.jsonl:2: malformed JSON"),
    ([json.dumps({"id": "a", "answer": "#### 2"})], "train_2.jsonl:1: field 'question': missing"),
    ([], "train_2.jsonl: file is empty"),
    ([GOOD, GOOD], "train_2.jsonl:2: field 'id': duplicate id 'a' (first on line 1)"),
    ([json.dumps({"id": "b", "question": "q", "answer": "no marker"})],
     "train_2.jsonl:1: field 'answer': expected exactly one '#### ' line, found 0"),
    ([json.dumps({"id": "b", "question": "q", "answer": "#### 1\n#### 2"})],
     "train_2.jsonl:1: field 'answer': expected exactly one '#### ' line, found 2"),
    ([json.dumps(["a list"])], "train_2.jsonl:1: expected a JSON object"),
])
def test_bad_input_names_file_line_field_and_writes_nothing(tmp_path, cli, lines, expected):
    out = tmp_path / "out"
    result = cli("prepare", "--from-dir", _folder(tmp_path, lines), "-o", out)
    assert result.exit_code == 2
    assert expected in result.output
    assert result.output.count("\n") == 1   # one message
    assert not out.exists()


def test_unknown_task_and_missing_folder(tmp_path, cli):
    result = cli("prepare", "--task", "gsm8", "-o", tmp_path / "o")
    assert result.exit_code == 2 and "unknown task 'gsm8' (did you mean 'gsm8k'?)" in result.output
    result = cli("prepare", "--from-dir", tmp_path / "nope", "-o", tmp_path / "o")
    assert result.exit_code == 2 and "source folder not found" in result.output
    assert not (tmp_path / "o").exists()


def test_custom_task_fields(tmp_path, cli):
    src = tmp_path / "src"
    rows = [json.dumps({"q": f"What is {i}+{i}?", "a": str(2 * i), "why": f"{i}+{i}={2 * i}."}) for i in range(3)]
    for split in ("train_1", "train_2", "test"):
        _write_split(src, split, rows)
    result = cli("prepare", "--task", "custom", "--from-dir", src, "--question-field", "q",
                 "--answer-field", "a", "--solution-field", "why", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    gold = json.loads((tmp_path / "out/custom_train_1.json").read_text())
    assert gold[1] == {"id": 1, "content": "Question: What is 1+1?\nAnswer:", "output": "1+1=2. The answer is: 2"}
    result = cli("prepare", "--task", "custom", "--from-dir", src, "-o", tmp_path / "out2")
    assert result.exit_code == 2 and "train_1.jsonl:1: field 'question': missing" in result.output


def test_seeded_split_rule():
    a1, a2 = lib.seeded_split(100, (30, 50), seed=7)
    assert (a1, a2) == lib.seeded_split(100, (30, 50), seed=7)
    assert len(a1) == 30 and len(a2) == 50 and not set(a1) & set(a2)
    assert a1[:8] == [0, 1, 2, 10, 14, 16, 21, 22]    # pinned: the split of a seed never changes
    assert lib.seeded_split(100, (30, 50), seed=8)[0][:8] == [0, 1, 7, 19, 20, 23, 25, 30]
    b1, b2 = lib.seeded_split(10, (70, 70), seed=0)   # too few rows: shrink in proportion
    assert len(b1) == 5 and len(b2) == 5


def test_hf_source_loads_local_dataset_folder(tmp_path, cli):
    """The `--hf` path is real `datasets.load_dataset` code, exercised on a local folder."""
    src = tmp_path / "gsm8k_like"
    src.mkdir()
    rows = [{"question": f"Q{i}: what is {i}*2?", "answer": f"{i}*2=<<{i}*2={2 * i}>>{2 * i}\n#### {2 * i}"}
            for i in range(20)]
    (src / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (src / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:4]))
    out = tmp_path / "out"
    result = cli("prepare", "--task", "gsm8k", "--hf", src, "--sizes", "6,8", "-o", out)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"train_1": 6, "train_2": 8, "test": 4}
    # sizes beside the paper's, and a loud warning saying why they differ and how to get the paper's
    assert re.search(r"^train_2 +8 +7000$", result.output, re.M) and re.search(r"^test +4 +1319$", result.output, re.M)
    warning = result.output.split("WARNING: ", 1)[1]
    assert warning.startswith("these splits are not the paper's (train_1 6 vs 7,000; train_2 8 vs 7,000; "
                              "test 4 vs 1,319): a hub GSM8K train set has no Abel augmentation")
    assert "--from-dir <gair-w2s>/data/raw/gsm8k" in warning
    assert json.loads((out / lib.SIZES_FILE).read_text())["warning"] == warning.strip()
    gold = json.loads((out / "gsm8k_train_1.json").read_text())
    assert all("<<" not in g["output"] for g in gold)
    first = _files(out)
    assert cli("prepare", "--task", "gsm8k", "--hf", src, "--sizes", "6,8", "-o", out).exit_code == 0
    assert _files(out) == first

    # the same folder prepared again from data the paper has no splits of: the stale comparison
    # an earlier prepare wrote goes; a file of that name prepare never wrote stays
    assert cli("prepare", "--task", "gsm8k", "--sizes", "6,8,4", "-o", out).exit_code == 0
    assert not (out / lib.SIZES_FILE).exists()
    (out / lib.SIZES_FILE).write_text("someone else's\n")
    assert cli("prepare", "--task", "gsm8k", "--sizes", "6,8,4", "-o", out).exit_code == 0
    assert (out / lib.SIZES_FILE).read_text() == "someone else's\n"


def test_math_splits_from_a_hub_warn_that_the_papers_were_never_released():
    task = get_task("math")
    example = task.read({"problem": "p", "solution": "s", "answer": "1"})
    splits = lib.Splits({"train_1": [example] * 3750, "train_2": [example] * 3750, "test": [example] * 500},
                        {"kind": "hf"})
    comparison = lib.compare_with_paper(task, splits)
    assert comparison["paper"] == {"train_1": 6000, "train_2": 6000, "test": 500}
    assert comparison["warning"].startswith("these splits are not the paper's (train_1 3,750 vs 6,000; "
                                            "train_2 3,750 vs 6,000): a hub MATH dataset gives its train split only")
    assert "were not released" in comparison["warning"]
    assert lib.compare_with_paper(task, lib.Splits(splits.examples, {"kind": "embedded"})) is None
    assert lib.compare_with_paper(get_task("custom"), splits) is None


def test_hf_missing_dataset_is_clear(tmp_path, cli):
    result = cli("prepare", "--task", "gsm8k", "--hf", str(tmp_path / "absent"), "-o", tmp_path / "o")
    assert result.exit_code == 2 and "could not load dataset" in result.output


def test_math_answer_from_boxed_when_no_field():
    task = get_task("math")
    e = task.read({"problem": "p", "solution": "so $\\boxed{\\frac{1}{2}}$.", "level": "Level 1"})
    assert e.answer == "\\frac{1}{2}" and task.gold_target(e).endswith(" The answer is: \\frac{1}{2}")
    with pytest.raises(InputError, match="no 'answer' field"):
        task.read({"problem": "p", "solution": "no box"}, "f.jsonl", 3)


def test_module_and_console_entry_points():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "w2s_lf", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "w2s-lf, version" in out.stdout
    help_ = subprocess.run([sys.executable, "-m", "w2s_lf", "prepare", "--help"], capture_output=True, text=True)
    assert "Examples:" in help_.stdout and "w2s-lf prepare --task gsm8k" in help_.stdout
