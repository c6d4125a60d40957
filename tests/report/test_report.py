"""`w2s-lf report`: PGR, the markdown tables, intervals, findings, plots on a hand-made run folder,
and bad input."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from w2s_lf.report import formatting
from w2s_lf.report import markdown as lib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _greedy(n_correct: int, n: int, ungraded: int = 0) -> str:
    results = [True] * n_correct + [False] * (n - n_correct) + [None] * ungraded
    return "".join(json.dumps({"id": i, "prompt": "p", "response": "r", "pred": "1", "gold": "1",
                               "result": r}) + "\n" for i, r in enumerate(results))


MANIFEST = {
    "name": "demo",
    "recipe": {"name": "cpu_demo", "task": "gsm8k", "weak": {"model": "tiny-llama"},
               "strong": {"model": "smollm2-135m"}},
    "recipe_hash": "abc123", "w2s_lf_version": "0.1.0", "git_revision": "deadbeef",
    "grader_mode": "robust", "task": "gsm8k",
    "stages": {
        "prepare": {"status": "done", "key": "k", "params": {}, "outputs": {}, "wall_s": 1.5, "stats": {}},
        "weak_sft": {"status": "done", "key": "k", "params": {}, "outputs": {}, "wall_s": 125.0, "stats": {}},
        "stage1": {"status": "done", "key": "k", "params": {}, "outputs": {}, "wall_s": 0.2,
                   "stats": {"kept": 27, "total": 70, "kept_accuracy": 0.9}},
        "pairs": {"status": "done", "key": "k", "params": {}, "outputs": {}, "wall_s": 0.1,
                  "stats": {"pairs": 25, "weak_chosen": 9, "weak_rejected": 16, "chosen_accuracy": None}},
        "dpo": {"status": "failed", "key": "k", "params": {}, "outputs": {}, "wall_s": 4000.0},
        "report": {"status": "running", "key": "k", "params": {}},
    },
}


def _run_folder(tmp_path: Path, evals: dict[str, str], manifest: dict = MANIFEST) -> Path:
    run = tmp_path / "run"
    (run / "eval").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps(manifest))
    for key, text in evals.items():
        (run / "eval" / f"{key}.jsonl").write_text(text)
    return run


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR" and data.endswith(b"IEND\xaeB`\x82")
    return struct.unpack(">II", data[16:24])


# ----------------------------------------------------------------------------- PGR

@pytest.mark.parametrize("acc, weak, ceiling, expected", [
    (0.5, 0.2, 0.6, 0.75),
    (0.6, 0.2, 0.6, 1.0),
    (0.2, 0.2, 0.6, 0.0),
    (0.1, 0.2, 0.6, -0.25),     # worse than the floor
    (0.7, 0.2, 0.6, 1.25),      # beyond the ceiling
    (0.5, 0.4, 0.4, None),      # no gap: undefined
    (0.5, None, 0.6, None),
    (0.5, 0.2, None, None),
    (None, 0.2, 0.6, None),
])
def test_pgr(acc, weak, ceiling, expected):
    result = lib.pgr(acc, weak, ceiling)
    assert result == (None if expected is None else pytest.approx(expected))


def test_fmt_stats_and_seconds():
    assert formatting.fmt_stats({"kept": 27, "total": 70, "kept_accuracy": 0.9}) == "kept 27 of 70 (38.6%); kept accuracy 90.0%"
    assert formatting.fmt_stats({"pairs": 3, "chosen_accuracy": None}) == "pairs 3; chosen accuracy n/a"
    assert [formatting.fmt_seconds(s) for s in (None, 1.25, 125, 7300)] == ["–", "1.2 s", "2m 05s", "2h 01m"]


def test_model_order_and_labels():
    metrics = {k: {"accuracy": 0.5, "n": 2, "correct": 1} for k in
               ("strong_gold", "mpro_orpo", "zz_custom", "mplus_iter2", "weak", "mplus_iter1", "strong_full_weak")}
    assert [r["label"] for r in lib.model_rows(metrics)] == [
        "weak", "full weak", "M_plus iter 1", "M_plus iter 2", "M_pro ORPO", "zz_custom", "gold"]


# ----------------------------------------------------------------------------- whole report

def test_report_on_a_run_folder(tmp_path, cli):
    # the same 12 test questions for every model, the last 2 with unknown gold
    run = _run_folder(tmp_path, {"weak": _greedy(2, 10, 2), "strong_full_weak": _greedy(3, 10, 2),
                                 "mplus_iter1": _greedy(4, 10, 2), "mpro_dpo": _greedy(5, 10, 2),
                                 "strong_gold": _greedy(6, 10, 2)})
    result = cli("report", run)
    assert result.exit_code == 0, result.output
    text = (run / "report.md").read_text()
    for line in ["# Run report: demo", "| recipe | cpu_demo |", "| recipe hash | `abc123` |",
                 "| grader mode (chose the training data) | robust |", "| w2s-lf version | 0.1.0 |", "| git revision | `deadbeef` |",
                 "| weak model | tiny-llama |", "| strong model | smollm2-135m |",
                 "| weak | weak floor | 20.0% | [0.0, 50.0] | 2 / 10 | – | – |",
                 "| full weak | naive baseline: strong on full weak data | 30.0% | [0.0, 60.0] | 3 / 10 | 0.25 | [0.00, 0.75] |",
                 "| M_plus iter 1 | stage I: SFT on weak-ICL consistent data, iteration 1 | 40.0% | [10.0, 71.5] | 4 / 10 "
                 "| 0.50 | [0.00, 1.00] |",
                 "| M_pro DPO | stage II: DPO from M_plus | 50.0% | [20.0, 80.0] | 5 / 10 | 0.75 | [0.25, 1.00] |",
                 "| gold | gold ceiling: strong on train_2 gold | 60.0% | [30.0, 90.0] | 6 / 10 | – | – |",
                 "| gold − weak | +40.0 points | [+10.0, +71.4] | above 0 |",
                 "| M_pro DPO − full weak | +20.0 points | [0.0, +45.5] | includes 0 |",
                 "- At this scale, weak-to-strong training did not beat the full-weak baseline: "
                 "none of its 2 models has a difference interval above 0.",
                 "| stage1 | done | kept 27 of 70 (38.6%); kept accuracy 90.0% |",
                 "| pairs | done | pairs 25; weak chosen 9; weak rejected 16; chosen accuracy n/a |",
                 "| weak_sft | done | 2m 05s |", "| dpo | failed | 1h 06m |",
                 "![test accuracy](accuracy.png)", "![performance gap recovered](pgr.png)",
                 "![wall time per stage](wall_time.png)"]:
        assert line in text.splitlines(), line
    assert "ORPO" not in text and "## Sampling" not in text    # absent pieces are simply absent
    assert "| report |" not in text                           # the report stage cannot time itself
    assert (run / "eval/metrics.json").is_file()              # computed because it was missing
    assert "(2 with unknown gold left out)" in text and "one training seed" in text
    metrics = json.loads((run / "eval/metrics.json").read_text())
    assert metrics["mpro_dpo"]["pgr_ci"] == [0.25, 1.0]                # the report's numbers are stored
    width, height = _png_size(run / "accuracy.png")
    assert width > 500 and height > 400
    _png_size(run / "pgr.png")
    _png_size(run / "wall_time.png")

    # Same run, same bytes: no clock, no software version in the PNGs.
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert cli("report", run).exit_code == 0
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_report_shows_both_graders_and_names_the_one_that_chose_the_data(tmp_path, cli):
    """A seed-graded run (a paper recipe): the responses `#### 0.50` to gold 0.5 are wrong under
    seed and right under robust, so the side-by-side table differs on exactly those questions."""
    run = _run_folder(tmp_path, {}, {**MANIFEST, "grader_mode": "seed", "grader_version": "3"})
    (run / "data").mkdir()
    (run / "data/test.jsonl").write_text("".join(json.dumps({"question": "q", "answer": "0.5"}) + "\n"
                                                 for _ in range(4)))
    for key, answers in {"weak": ["0.50", "0.50", "1", "0.5"], "strong_gold": ["0.5", "0.5", "0.50", "0.5"]}.items():
        (run / f"eval/{key}.jsonl").write_text("".join(
            json.dumps({"id": i, "prompt": "p", "response": f"#### {a}", "pred": a, "gold": "0.5", "result": a == "0.5"})
            + "\n" for i, a in enumerate(answers)))
    assert cli("report", run).exit_code == 0
    text = (run / "report.md").read_text().splitlines()
    for line in ["| grader mode (chose the training data) | seed (version 3) |",
                 "| model | seed | seed 95% CI | robust | robust 95% CI | differ |",
                 "| weak | 25.0% | [0.0, 75.0] | 75.0% | [25.0, 100.0] | 2 |",
                 "| gold | 75.0% | [25.0, 100.0] | 100.0% | [100.0, 100.0] | 1 |"]:
        assert line in text, line
    assert any(line.startswith("Greedy zero-shot accuracy on the test split under the seed grader") for line in text)
    assert any("The training data (stage I, votes, pairs) was chosen with the seed grader" in line for line in text)


def test_report_uses_metrics_json_and_recompute(tmp_path, cli):
    run = _run_folder(tmp_path, {"weak": _greedy(1, 4)})
    metrics = {"weak": {"accuracy": 0.25, "n": 4, "correct": 1, "pass@k": {}, "maj@k": {}},
               "mplus_iter1": {"accuracy": 0.5, "n": 4, "correct": 2,
                               "pass@k": {"1": 0.5, "5": 0.75}, "maj@k": {"1": 0.5, "5": 0.625}}}
    (run / "eval/metrics.json").write_text(json.dumps(metrics))
    assert cli("report", run).exit_code == 0
    text = (run / "report.md").read_text()
    assert "| model | pass@1 | maj@1 | pass@5 | maj@5 |" in text
    assert "| M_plus iter 1 | 50.0% | 50.0% | 75.0% | 62.5% |" in text
    assert "PGR is n/a: the gold ceiling accuracy is missing" in text
    assert "| M_plus iter 1 | stage I: SFT on weak-ICL consistent data, iteration 1 | 50.0% | n/a | 2 / 4 | n/a | n/a |" in text
    assert "eval/metrics.json has no intervals (written by an older w2s-lf)" in text
    # --recompute rescores eval/*.jsonl, dropping the model that has no file
    assert cli("report", run, "--recompute").exit_code == 0
    assert "M_plus" not in (run / "report.md").read_text()


def test_report_when_ceiling_equals_floor(tmp_path):
    run = _run_folder(tmp_path, {"weak": _greedy(3, 10), "mplus_iter1": _greedy(5, 10),
                                 "strong_gold": _greedy(3, 10)})
    text = lib.write_report(run).read_text()
    assert "| 50.0% | [20.0, 80.0] | 5 / 10 | n/a | n/a |" in text
    assert "PGR is n/a: the gold ceiling equals the weak floor" in text
    assert "is not clearly above the weak floor" in text and "PGR (" not in text
    assert not (run / "pgr.png").exists()


def test_report_of_an_empty_run(tmp_path):
    manifest = {"name": "fresh", "stages": {}}
    run = _run_folder(tmp_path, {}, manifest)
    for stale in ("accuracy.png", "pgr.png"):
        (run / stale).write_bytes(b"stale")
    text = lib.write_report(run).read_text()
    assert "No evaluation results in this run yet" in text and "| recipe hash | `n/a` |" in text
    assert not any((run / p).exists() for p in ("accuracy.png", "pgr.png", "wall_time.png"))


def test_report_errors_exit_2(tmp_path, cli):
    result = cli("report", tmp_path)
    assert result.exit_code == 2 and "not a run folder (no manifest.json)" in result.stderr
    result = cli("report", tmp_path / "nope")
    assert result.exit_code == 2 and "no such run folder" in result.stderr
    full = '"prompt": "p", "response": "#### 1", "pred": "1"'
    run = _run_folder(tmp_path, {"weak": '{"id": 0, %s, "result": true}\n{"id": 1, %s, "result": 1}\n' % (full, full)})
    result = cli("report", run)
    assert result.exit_code == 2 and "weak.jsonl:2: field 'result'" in result.stderr
    (run / "manifest.json").write_text("{")
    result = cli("report", run)
    assert result.exit_code == 2 and "manifest.json:1: malformed JSON" in result.stderr
