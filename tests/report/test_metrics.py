"""`w2s-lf evaluate`: metric math on hand-made records, run folders, the --model path, bad input."""

from __future__ import annotations

import json
import re
from math import comb
from pathlib import Path

import pytest

from w2s_lf.errors import InputError, W2SError
from w2s_lf.report import metrics as lib
from w2s_lf.tasks import get_task

GSM8K = get_task("gsm8k")


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _greedy(results: list) -> list[dict]:
    return [{"id": i, "prompt": f"Question: q{i}\nAnswer:", "response": "r", "pred": "1",
             "gold": None if r is None else "1", "result": r} for i, r in enumerate(results)]


def _sampled(id_, preds: list[str], gold: str | None) -> dict:
    return {"id": id_, "prompt": "Question: q\nAnswer:", "gold": gold,
            "samples": [{"response": f"... #### {p}", "pred": p} for p in preds]}


# ----------------------------------------------------------------------------- greedy accuracy

def test_accuracy_leaves_ungraded_out():
    scores = lib.score_results(_greedy([True, True, False, None, True, None]))
    assert scores == {"accuracy": 0.75, "n": 4, "correct": 3, "ungraded": 2}


def test_accuracy_with_nothing_graded_is_none():
    assert lib.score_results(_greedy([None, None]))["accuracy"] is None
    assert lib.score_results([])["accuracy"] is None


# ----------------------------------------------------------------------------- pass@k / maj@k

def _unbiased(n, c, k):   # the textbook formula, to check against
    return 1.0 if n - c < k else 1 - comb(n - c, k) / comb(n, k)


def test_pass_at_k_known_values():
    records = [_sampled(0, ["7"] * 3 + ["8"] * 7, "7"),      # n=10, c=3
               _sampled(1, ["1"] * 10, "2"),                 # c=0
               _sampled(2, ["5"] * 10, "5")]                 # c=10
    scores = lib.score_samples(records, GSM8K, ks=[1, 5, 10])
    assert scores["n"] == 3 and scores["samples"] == 10
    for k in (1, 5, 10):
        assert scores["pass@k"][str(k)] == pytest.approx((_unbiased(10, 3, k) + 0 + 1) / 3)
    assert scores["pass@k"]["1"] == pytest.approx((0.3 + 0 + 1) / 3)
    assert scores["pass@k"]["10"] == pytest.approx(2 / 3)


def test_pass_at_k_hand_value():
    # n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10
    scores = lib.score_samples([_sampled(0, ["1", "9", "1", "9", "9"], "1")], GSM8K, ks=[2])
    assert scores["pass@k"]["2"] == pytest.approx(0.7)


def test_majority_at_k_ties_go_to_first_seen():
    records = [_sampled("a", ["5", "7", "7", "5"], "5"),   # 5; tie 5/7 -> 5; 7; tie 5/7 -> 5
               _sampled("b", ["7", "5", "5", "9"], "5")]   # 7; tie 7/5 -> 7; 5; 5
    scores = lib.score_samples(records, GSM8K, ks=[1, 2, 3, 4])
    assert scores["maj@k"] == {"1": 0.5, "2": 0.5, "3": 0.5, "4": 1.0}


def test_empty_majority_counts_wrong_and_empty_pred_is_never_correct():
    scores = lib.score_samples([_sampled(0, ["", "", "5"], "5")], GSM8K, ks=[1, 3])
    assert scores["maj@k"] == {"1": 0.0, "3": 0.0}
    assert scores["pass@k"]["1"] == pytest.approx(1 / 3)


def test_unknown_gold_is_ungraded():
    scores = lib.score_samples([_sampled(0, ["5"], "5"), _sampled(1, ["5"], None)], GSM8K)
    assert scores["n"] == 1 and scores["ungraded"] == 1 and scores["pass@k"] == {"1": 1.0}
    assert lib.score_samples([_sampled(1, ["5"], None)], GSM8K)["pass@k"] == {}


def test_default_ks_and_k_beyond_samples():
    assert lib.default_ks(10) == [1, 5, 10]
    assert lib.default_ks(4) == [1, 4]
    assert lib.default_ks(1) == [1]
    with pytest.raises(W2SError, match="k=5 exceeds the 4 samples of question 'short'"):
        lib.score_samples([_sampled("short", ["1"] * 4, "1")], GSM8K, ks=[1, 5])


def test_grader_mode_is_passed_through():
    # "0.50" vs "0.5": wrong as the paper graded (string equality), right with robust grading
    records = [_sampled(0, ["0.50"], "0.5")]
    assert lib.score_samples(records, GSM8K, mode="seed")["pass@k"]["1"] == 0.0
    assert lib.score_samples(records, GSM8K, mode="robust")["pass@k"]["1"] == 1.0


# ----------------------------------------------------------------------------- readers

FULL = '"prompt": "Question: q\\nAnswer:", "response": "#### 1", "pred": "1"'   # the rest of the layout


@pytest.mark.parametrize("line, message", [
    ('{"id": 1, "result": true', "malformed JSON"),
    ('{"id": 1, ' + FULL + '}', "field 'result': missing"),
    ('{' + FULL + ', "result": true}', "field 'id': missing"),
    ('{"id": 1, ' + FULL + ', "result": "yes"}', "field 'result': expected true, false or null"),
    ('{"id": 0, ' + FULL + ', "result": true}', "field 'id': duplicate id 0 (first on line 1)"),
])
def test_bad_result_lines_are_located(tmp_path, line, message):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": 0, ' + FULL + ', "result": true}\n' + line + "\n")
    with pytest.raises(InputError) as e:
        lib.read_results(path)
    assert str(e.value).startswith(f"{path}:2: ") and message in str(e.value)


@pytest.mark.parametrize("record, field", [
    ({"id": 0, "prompt": "p", "gold": "1", "samples": []}, "samples"),
    ({"id": 0, "prompt": "p", "gold": "1", "samples": [{"response": "x"}]}, "samples"),
    ({"id": 0, "prompt": "p", "samples": [{"response": "x", "pred": "1"}]}, "gold"),
    ({"id": 0, "prompt": "p", "gold": ["1"], "samples": [{"response": "x", "pred": "1"}]}, "gold"),
])
def test_bad_sample_lines_are_located(tmp_path, record, field):
    path = _write_jsonl(tmp_path / "s.samples.jsonl", [record])
    with pytest.raises(InputError, match=rf"s\.samples\.jsonl:1: field '{re.escape(field)}'"):
        lib.read_samples(path)


# ----------------------------------------------------------------------------- run folders

def _run(tmp_path: Path, mode: str = "robust") -> Path:
    run = tmp_path / "run"
    (run / "eval").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"name": "t", "task": "gsm8k", "grader_mode": mode, "stages": {}}))
    _write_jsonl(run / "eval/weak.jsonl", _greedy([True, False, False, False]))
    _write_jsonl(run / "eval/mplus_iter1.jsonl", _greedy([True, True, False, None]))
    _write_jsonl(run / "eval/mplus_iter1.samples.jsonl",
                 [_sampled(0, ["0.50", "1"], "0.5"), _sampled(1, ["2", "2"], "3")])
    return run


def test_evaluate_run_writes_metrics(tmp_path):
    run = _run(tmp_path)
    metrics = lib.evaluate_run(run)
    assert json.loads((run / "eval/metrics.json").read_text()) == metrics
    weak = metrics["weak"]
    assert {k: weak[k] for k in ("accuracy", "n", "correct", "ungraded", "pass@k", "maj@k", "difference")} == {
        "accuracy": 0.25, "n": 4, "correct": 1, "ungraded": 0, "pass@k": {}, "maj@k": {}, "difference": {}}
    assert weak["accuracy_ci"] == [0.0, 0.75]       # 1 of 4 right: 0 to 3 of 4 in 95% of resamples
    mplus = metrics["mplus_iter1"]
    assert (mplus["accuracy"], mplus["n"], mplus["ungraded"]) == (pytest.approx(2 / 3), 3, 1)
    assert mplus["pass@k"] == {"1": 0.25, "2": 0.5} and mplus["maj@k"] == {"1": 0.5, "2": 0.5}
    assert mplus["difference"]["weak"]["estimate"] == pytest.approx(2 / 3 - 1 / 4, abs=1e-6)
    assert "pgr" not in mplus                       # no gold ceiling in this run


def test_evaluate_run_joins_models_by_id(tmp_path):
    run = _run(tmp_path)
    shuffled = list(reversed(_greedy([True, True, False, None])))
    _write_jsonl(run / "eval/mplus_iter1.jsonl", shuffled)          # order does not matter
    assert lib.evaluate_run(run)["mplus_iter1"]["difference"]["weak"]["ci"][0] >= 0
    _write_jsonl(run / "eval/mplus_iter1.jsonl", shuffled[1:])      # a question missing does
    with pytest.raises(W2SError, match=r"do not line up: 1 id\(s\) in .*weak\.jsonl not in .*mplus_iter1\.jsonl"):
        lib.evaluate_run(run)


def test_evaluate_run_judges_samples_in_the_runs_mode(tmp_path):
    metrics = lib.evaluate_run(_run(tmp_path, mode="seed"))
    assert metrics["mplus_iter1"]["maj@k"]["1"] == 0.0


def _two_grader_run(tmp_path: Path, mode: str, prompt_style: str = "raw") -> Path:
    """Three test questions, gold 0.5, 2 and 7; the models answer `0.50` (seed: wrong, robust:
    right), `2` and nothing."""
    run = tmp_path / "run"
    (run / "eval").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"name": "t", "task": "gsm8k", "grader_mode": mode, "stages": {},
                                                   "recipe": {"generation": {"prompt_style": prompt_style}}}))
    _write_jsonl(run / "data/test.jsonl", [{"question": f"q{i}", "answer": a} for i, a in enumerate(["0.5", "2", "7"])])
    answers = ["#### 0.50", "#### 2", "I do not know"]
    for key in ("weak", "strong_gold"):
        records = []
        for i, response in enumerate(answers):
            from w2s_lf.grading import grade
            g = grade(response, ["0.5", "2", "7"][i], "gsm8k", mode=mode)
            records.append({"id": i, "prompt": "p", "response": response, "pred": g.pred, "gold": g.gold,
                            "result": bool(g.correct)})
        _write_jsonl(run / f"eval/{key}.jsonl", records)
    return run


@pytest.mark.parametrize("mode, other", [("seed", "robust"), ("robust", "seed")])
def test_a_raw_prompt_run_is_scored_under_both_graders(tmp_path, mode, other):
    metrics = lib.evaluate_run(_two_grader_run(tmp_path, mode))
    graders = metrics["weak"]["by_grader"]
    assert graders["seed"]["correct"] == 1 and graders["robust"]["correct"] == 2      # `0.50` vs `0.5`
    assert graders[other]["differ"] == 1 and "differ" not in graders[mode]
    assert metrics["weak"]["accuracy"] == graders[mode]["accuracy"]                     # the run's own grader
    assert graders[mode]["accuracy_ci"] == metrics["weak"]["accuracy_ci"]
    assert graders["robust"]["accuracy_ci"][1] == 1.0


def test_chat_runs_and_runs_without_their_test_split_have_one_grader(tmp_path):
    assert "by_grader" not in lib.evaluate_run(_two_grader_run(tmp_path / "chat", "robust", "chat"))["weak"]
    run = _two_grader_run(tmp_path / "nodata", "seed")
    (run / "data/test.jsonl").unlink()
    assert "by_grader" not in lib.evaluate_run(run)["weak"]


def test_regrading_a_file_without_responses_names_it(tmp_path):
    run = _two_grader_run(tmp_path, "seed")
    _write_jsonl(run / "eval/weak.jsonl", [{"id": i, "prompt": "p", "result": False} for i in range(3)])
    with pytest.raises(InputError, match=r"weak\.jsonl.*response"):
        lib.evaluate_run(run)


def test_run_folder_without_manifest(tmp_path):
    with pytest.raises(W2SError, match="not a run folder"):
        lib.evaluate_run(tmp_path)


# ----------------------------------------------------------------------------- CLI

def test_cli_greedy_file_and_json(tmp_path, cli):
    path = _write_jsonl(tmp_path / "weak.jsonl", _greedy([True, False, None]))
    result = cli("evaluate", path, "--json", tmp_path / "m.json")
    assert result.exit_code == 0, result.output
    assert "accuracy 50.0% (1/2, ungraded 1)" in result.output
    assert json.loads((tmp_path / "m.json").read_text())["accuracy"] == 0.5


def test_cli_sample_file(tmp_path, cli):
    path = _write_jsonl(tmp_path / "x.jsonl", [_sampled(0, ["1", "2", "1"], "1")])
    result = cli("evaluate", path, "--k", "1,3", "--grader-mode", "seed")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split() == ["k", "pass@k", "maj@k"]
    assert lines[2].split() == ["1", "66.7%", "100.0%"] and lines[3].split() == ["3", "100.0%", "100.0%"]


def test_cli_run_folder(tmp_path, cli):
    run = _run(tmp_path)
    result = cli("evaluate", run)
    assert result.exit_code == 0, result.output
    assert (run / "eval/metrics.json").is_file() and "mplus_iter1" in result.output


@pytest.mark.parametrize("args, message", [
    ([], "give RESULTS"),
    (["{tmp}/r.jsonl", "--model", "m"], "not both"),
    (["{tmp}/r.jsonl", "--adapter", "a"], "--adapter only apply with --model"),
    (["{tmp}/r.jsonl", "--k", "1"], "--k needs a sample file"),
    (["{tmp}/missing.jsonl"], "missing.jsonl: file not found"),
    (["{tmp}/bad.jsonl"], "bad.jsonl:2: malformed JSON"),
    (["{tmp}"], "not a run folder"),
])
def test_cli_errors_exit_2(tmp_path, cli, args, message):
    _write_jsonl(tmp_path / "r.jsonl", _greedy([True]))
    (tmp_path / "bad.jsonl").write_text('{"id": 0, ' + FULL + ', "result": true}\n{oops\n')
    result = cli("evaluate", *[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_cli_model_runs_generate_in_a_subprocess(tmp_path, cli, monkeypatch):
    calls = []

    class Done:
        returncode = 0

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        _write_jsonl(Path(cmd[cmd.index("-o") + 1]), _greedy([True, True, False, True]))
        return Done()

    monkeypatch.setattr(lib.subprocess, "run", fake_run)
    out = tmp_path / "res.jsonl"
    result = cli("evaluate", "--model", "tiny-llama", "--adapter", "ad", "--data-dir", tmp_path,
                 "--limit", "4", "--save-results", out)
    assert result.exit_code == 0, result.output
    assert "tiny-llama + ad on gsm8k test: accuracy 75.0% (3/4" in result.output
    cmd = calls[0]
    assert cmd[1:4] == ["-m", "w2s_lf", "generate"]
    flags = dict(zip(cmd[4::2], cmd[5::2]))
    assert flags == {"--model": "tiny-llama", "--task": "gsm8k", "--data-dir": str(tmp_path), "--split": "test",
                     "--mode": "zero-shot", "--grader": "robust", "-o": str(out), "--adapter": "ad", "--limit": "4"}
    assert out.is_file()


def test_cli_model_generation_failure(tmp_path, cli, monkeypatch):
    class Failed:
        returncode = 3

    monkeypatch.setattr(lib.subprocess, "run", lambda cmd, **kwargs: Failed())
    result = cli("evaluate", "--model", "m", "--data-dir", tmp_path)
    assert result.exit_code == 2 and "generation failed with exit status 3" in result.stderr
    result = cli("evaluate", "--model", "m", "--data-dir", tmp_path / "nope")
    assert result.exit_code == 2 and "no such data folder" in result.stderr
