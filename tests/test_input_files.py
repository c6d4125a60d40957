"""Every input file is read as UTF-8 and checked for shape, with one error line naming file and
line (issue 17, finding 4). On main each case below was a Python traceback without the file's
name (`UnicodeDecodeError`, `TypeError`, `AttributeError`), or passed as OK."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from w2s_lf.lf.datasets import check_dataset

BAD_LINE = b'{"id": 1, "response": "caf\xe9"}\n'   # Latin-1, not UTF-8


def _bad_jsonl(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n" + BAD_LINE)   # line 2 (a blank line is skipped)
    return path


def _one_error_line(result, where: str) -> None:
    assert result.exit_code == 2, result.output
    assert f"{where}: not UTF-8 (byte 0xe9 at column" in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output


def test_grade_names_the_file_and_line_of_a_bad_byte(tmp_path, cli):
    path = _bad_jsonl(tmp_path / "results.jsonl")
    _one_error_line(cli("grade", path, "-o", tmp_path / "graded.jsonl"), f"{path}:2")
    assert not (tmp_path / "graded.jsonl").exists()


def test_build_names_the_file_and_line_of_a_bad_byte(tmp_path, cli):
    path = _bad_jsonl(tmp_path / "weak.jsonl")
    _one_error_line(cli("build", "full-weak", "--weak", path, "-o", tmp_path / "out"), f"{path}:2")
    assert not (tmp_path / "out").exists()


def test_prepare_from_dir_names_the_file_and_line_of_a_bad_byte(tmp_path, cli):
    src = tmp_path / "src"
    good = json.dumps({"question": "1+1?", "answer": "1+1=2\n#### 2"}) + "\n"
    for split in ("train_1", "train_2", "test"):
        (src / f"{split}.jsonl").parent.mkdir(parents=True, exist_ok=True)
        (src / f"{split}.jsonl").write_text(good)
    (src / "train_2.jsonl").write_bytes(good.encode() + b'{"question": "\xe9", "answer": "#### 3"}\n')
    result = cli("prepare", "--from-dir", src, "-o", tmp_path / "out")
    _one_error_line(result, f"{src / 'train_2.jsonl'}:2")
    assert not (tmp_path / "out").exists()


def test_report_names_the_file_of_a_bad_byte(tmp_path, cli):
    run = tmp_path / "run"
    (run / "eval").mkdir(parents=True)
    (run / "manifest.json").write_bytes(b'{"name": "r",\n "stages": {}, "note": "\xe9"}')
    _one_error_line(cli("report", run), f"{run / 'manifest.json'}:2")
    (run / "manifest.json").write_text('{"name": "r", "stages": {}}')
    _bad_jsonl(run / "eval/weak.jsonl")
    _one_error_line(cli("report", run, "--recompute"), f"{run / 'eval/weak.jsonl'}:2")
    assert not (run / "report.md").exists()


@pytest.mark.parametrize("info, message", [
    ([{"file_name": "d.json"}], "expected a JSON object of dataset entries (name: {file_name, columns, ...}), got list"),
    ({"d": "d.json"}, "dataset 'd': expected an object such as"),
    ({"d": {"file_name": "d.json", "columns": 5}}, "dataset 'd': field 'columns' is int, expected dict"),
    ({"d": {"file_name": "d.json", "columns": {"prompt": 5}}}, "dataset 'd': columns.prompt is int, expected a field name"),
    ({"d": {"file_name": ["d.json"]}}, "dataset 'd': field 'file_name' is list, expected str"),
    ({"d": {"file_name": "d.json", "ranking": "yes"}}, "dataset 'd': field 'ranking' is str, expected bool"),
])
def test_dataset_info_of_the_wrong_shape_is_an_error_not_a_crash(tmp_path, info, message):
    (tmp_path / "dataset_info.json").write_text(json.dumps(info))
    (tmp_path / "d.json").write_text(json.dumps([{"content": "q", "output": "a"}]))
    findings = check_dataset(tmp_path, "d", "sft")
    assert [level for level, _ in findings] == ["error"]
    assert message in findings[0][1] and str(tmp_path / "dataset_info.json") in findings[0][1]


def test_dataset_files_that_are_not_utf8_are_named(tmp_path):
    (tmp_path / "dataset_info.json").write_bytes(b'{"d": {"file_name": "d.json", "columns": {"prompt": "\xe9"}}}')
    [(level, message)] = check_dataset(tmp_path, "d", "sft")
    assert level == "error" and f"{tmp_path / 'dataset_info.json'}:1: not UTF-8" in message
    (tmp_path / "dataset_info.json").write_text(json.dumps({"d": {"file_name": "d.json"}}))
    (tmp_path / "d.json").write_bytes(b'[{"instruction": "q",\n "output": "\xe9"}]')
    [(level, message)] = check_dataset(tmp_path, "d", "sft")
    assert level == "error" and f"dataset 'd': {tmp_path / 'd.json'}:2: not UTF-8" in message


def test_validate_reports_a_bad_config_and_goes_on_with_the_batch(tmp_path, cli):
    repo = Path(__file__).resolve().parents[1]
    (tmp_path / "latin1.yaml").write_bytes(b"stage: sft\ntemplate: caf\xe9\n")
    result = cli("validate", tmp_path / "latin1.yaml", tmp_path / "missing.yaml",
                 repo / "llama_factory_configs/sft_70b.yaml")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{tmp_path / 'latin1.yaml'}:2: not UTF-8 (byte 0xe9 at column 14)" in result.output
    assert f"{tmp_path / 'missing.yaml'}: config not found" in result.output
    assert f"{repo / 'llama_factory_configs/sft_70b.yaml'}: " in result.output   # checked too
    assert "of 3 config(s) passed" in result.output


def test_a_full_disk_or_an_impossible_output_path_is_one_line(tmp_path, cli):
    """OSErrors of the machine (ENOSPC, a file where a folder must be) end as one error line."""
    (tmp_path / "file").write_text("x")
    result = cli("prepare", "--sizes", "4,4,4", "-o", tmp_path / "file/data")
    assert result.exit_code == 2 and result.output.startswith("error: ") and result.output.count("\n") == 1
    assert (tmp_path / "file").read_text() == "x"
