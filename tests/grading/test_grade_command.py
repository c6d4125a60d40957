"""`w2s-lf grade`: output layout, gold sources, sample files, and file:line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from w2s_lf.io import read_jsonl


def _write(path: Path, records) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_grade_adds_pred_gold_result(tmp_path, cli):
    src = _write(tmp_path / "results.jsonl", [
        {"id": 0, "prompt": "Question: q\nAnswer:", "response": "#### 0.50", "answer": "0.5"},
        {"id": 1, "prompt": "Question: q\nAnswer:", "response": "#### 7", "answer": "8"},
    ])
    out = tmp_path / "graded.jsonl"
    result = cli("grade", src, "--task", "gsm8k", "-o", out)
    assert result.exit_code == 0, result.output
    assert "accuracy: 50.00% (1/2" in result.output
    rows = _read(out)
    assert [(r["pred"], r["gold"], r["result"]) for r in rows] == [("0.5", "0.5", True), ("7", "8", False)]
    assert rows[0]["prompt"] == "Question: q\nAnswer:"   # other fields kept
    result = cli("grade", src, "--mode", "seed", "-o", out)
    assert [r["result"] for r in _read(out)] == [False, False]   # the paper's 0.50 != 0.5


def test_gold_file_joins_on_id(tmp_path, cli):
    golds = _write(tmp_path / "train_2.jsonl", [{"question": "q", "answer": str(10 * i)} for i in range(3)])
    src = _write(tmp_path / "results.jsonl", [{"id": 2, "response": "#### 20"}, {"id": 0, "response": "#### 0"}])
    out = tmp_path / "graded.jsonl"
    assert cli("grade", src, "--gold-file", golds, "-o", out).exit_code == 0
    assert [(r["gold"], r["result"]) for r in _read(out)] == [("20", True), ("0", True)]


def test_sample_files_grade_each_sample(tmp_path, cli):
    src = _write(tmp_path / "samples.jsonl", [
        {"id": 0, "answer": "\\frac{1}{2}", "samples": [{"response": "\\boxed{0.5}"}, {"response": "\\boxed{2}"}]},
    ])
    out = tmp_path / "graded.jsonl"
    result = cli("grade", src, "--task", "math", "-o", out)
    assert result.exit_code == 0, result.output
    row = _read(out)[0]
    assert row["gold"] == "0.5"   # plain numbers are canonicalised, fractions included
    assert [(s["pred"], s["result"]) for s in row["samples"]] == [("0.5", True), ("2", False)]


@pytest.mark.parametrize("lines,where", [
    (['{"response": "#### 1", "answer": "1"}', '{"response": "#### 1"'], "results.jsonl:2"),
    (['{"response": "#### 1", "answer": "1"}', '{"answer": "1"}'], "results.jsonl:2: field 'response'"),
    (['{"response": 5, "answer": "1"}'], "results.jsonl:1: field 'response'"),
    (['{"response": "#### 1"}'], "results.jsonl:1: field 'answer'"),
    (['[1, 2]'], "results.jsonl:1"),
])
def test_malformed_input_exits_2_with_location(tmp_path, cli, lines, where):
    src = _write(tmp_path / "results.jsonl", lines)
    out = tmp_path / "graded.jsonl"
    result = cli("grade", src, "-o", out)
    assert result.exit_code == 2
    assert where in result.output
    assert not out.exists()   # nothing half-written


def test_gold_file_out_of_range(tmp_path, cli):
    golds = _write(tmp_path / "gold.jsonl", [{"answer": "1"}])
    src = _write(tmp_path / "results.jsonl", [{"id": 4, "response": "#### 1"}])
    result = cli("grade", src, "--gold-file", golds, "-o", tmp_path / "o.jsonl")
    assert result.exit_code == 2 and "results.jsonl:1: field 'id'" in result.output


@pytest.mark.shared
def test_cli_reproduces_released_accuracy(gair, tmp_path, cli):
    src = gair / "outputs/gsm8k_train_2/zero_shot/llama2_7b_gsm8k_1/zero-shot/direct/results.jsonl"
    out = tmp_path / "graded.jsonl"
    result = cli("grade", src, "--mode", "seed", "--gold-file", gair / "data/test/gsm8k_train_2.jsonl",
                 "-o", out)
    assert result.exit_code == 0, result.output
    assert "(2896/7000, gsm8k, seed)" in result.output
    released = read_jsonl(src)
    assert _read(out) == released
