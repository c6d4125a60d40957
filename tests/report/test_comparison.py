"""The methods table in report.md and `w2s-lf compare`: every model a row with accuracy, PGR and
the paired difference against full weak (same resamples as the report), training-set size and
label precision from the manifest's stage statistics."""

from __future__ import annotations

import copy
import csv
import json

from test_report import MANIFEST, _greedy, _png_size, _run_folder

STAGES = {
    "full_weak": {"status": "done", "stats": {"questions": 40, "kept": 40, "accuracy": 0.25}},
    "confident_weak": {"status": "done", "stats": {"questions": 40, "kept": 12, "accuracy_kept": 0.5}},
    "stage1": {"status": "done", "stats": {"kept": 9, "hybrid": 18, "accuracy_weak_kept": 0.8,
                                           "accuracy_icl_kept": 0.6}},
    "pairs": {"status": "done", "stats": {"pairs": 25, "chosen_accuracy": 0.4}},
    "pairs_kto_r2": {"status": "done", "stats": {"pairs": 7, "chosen_accuracy": 0.7}},
}
EVALS = {"weak": _greedy(2, 10), "weak_a": _greedy(1, 10), "strong_full_weak": _greedy(3, 10),
         "strong_confident_weak": _greedy(4, 10), "mplus_iter1": _greedy(4, 10), "mpro_kto": _greedy(5, 10),
         "mpro_kto_r2": _greedy(6, 10), "strong_gold": _greedy(7, 10)}


RECIPE = {**MANIFEST["recipe"], "weak": [{"name": "a", "model": "tiny-llama"}, {"name": "b", "model": "tiny-llama"}],
          "baselines": ["full_weak", "gold", "confident_weak"], "stage2": {"methods": ["kto"], "rounds": 2}}


def _run(tmp_path, name="run", evals=EVALS):
    manifest = copy.deepcopy(MANIFEST)
    manifest["stages"], manifest["recipe"] = STAGES, RECIPE
    run = _run_folder(tmp_path / name, evals, manifest)
    return run


def test_an_evaluation_the_recipe_no_longer_asks_for_is_kept_but_not_scored(tmp_path, cli):
    """A weak model replaced in the recipe leaves its eval file in the run folder (never deleted:
    the run did not write it this time); the report scores only what the recipe evaluates."""
    run = _run(tmp_path, evals={**EVALS, "weak_old": _greedy(9, 10)})
    assert cli("report", run).exit_code == 0
    metrics = json.loads((run / "eval/metrics.json").read_text())
    assert "weak_old" not in metrics and set(EVALS) <= set(metrics)
    assert (run / "eval/weak_old.jsonl").is_file() and "weak old" not in (run / "report.md").read_text()


def test_report_has_one_row_per_model_with_data_size_and_precision(tmp_path, cli):
    run = _run(tmp_path)
    assert cli("report", run).exit_code == 0
    lines = (run / "report.md").read_text().splitlines()
    metrics = json.loads((run / "eval/metrics.json").read_text())
    expected = [
        "| weak | 20.0% | [0.0, 50.0] | – | – | – | – | – | – | – |",
        "| weak a | 10.0% | [0.0, 30.0] | -0.20 | [-1.00, 0.00] | -20.0 | [-50.0, 0.0] | – | – | – |",
        "| full weak | 30.0% | [0.0, 60.0] | 0.20 | [0.00, 0.67] | – | – | 40 | 25.0% | every weak label (full_weak) |",
        "| confident weak | 40.0% | [10.0, 70.0] | 0.40 | [0.00, 1.00] | +10.0 | [0.0, +30.0] | 12 | 50.0% "
        "| weak labels its samples agree with (confident_weak) |",
        "| M_plus iter 1 | 40.0% | [10.0, 70.0] | 0.40 | [0.00, 1.00] | +10.0 | [0.0, +30.0] | 18 | 70.0% "
        "| weak + ICL labels (stage1) |",
        "| M_pro KTO | 50.0% | [20.0, 80.0] | 0.60 | [0.00, 1.00] | +20.0 | [0.0, +50.0] | 25 | 40.0% "
        "| preference pairs, chosen labels (pairs) |",
        "| M_pro KTO round 2 | 60.0% | [30.0, 90.0] | 0.80 | [0.33, 1.00] | +30.0 | [0.0, +60.0] | 7 | 70.0% "
        "| preference pairs, chosen labels (pairs_kto_r2) |",
        "| gold | 70.0% | [40.0, 100.0] | – | – | +40.0 | [+10.0, +70.0] | 40 | 100.0% | train_2 gold |",
    ]
    for line in expected:
        assert line in lines, line
    # the difference column is the report's paired bootstrap (metrics.json), not a second one
    assert metrics["mpro_kto_r2"]["difference"]["strong_full_weak"] == {"estimate": 0.3, "ci": [0.0, 0.6]}
    table = lines.index("## Methods compared") + 4
    assert [line.split(" | ")[0] for line in lines[table + 2:table + 2 + len(EVALS)]] == [
        "| weak", "| weak a", "| full weak", "| confident weak", "| M_plus iter 1", "| M_pro KTO",
        "| M_pro KTO round 2", "| gold"]
    assert "![methods compared](comparison.png)" in lines
    width, height = _png_size(run / "comparison.png")
    assert width > 800 and height > 300


def test_compare_puts_several_runs_on_one_table(tmp_path, cli):
    a, b = _run(tmp_path, "seed1"), _run(tmp_path, "seed2")
    result = cli("compare", str(a), str(b))
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| run | model | accuracy |") and len(rows) == 1 + 2 * len(EVALS)
    assert str(a) in result.output and str(b) in result.output   # both folders are named `run`: paths shown
    out = tmp_path / "table.csv"
    assert cli("compare", str(a), "-o", str(out), "--plot", str(tmp_path / "c.png")).exit_code == 0
    records = list(csv.DictReader(out.open()))
    assert [r["model"] for r in records][:2] == ["weak", "weak_a"] and records[0]["run"] == "run"
    assert json.loads(records[-1]["accuracy_ci"]) == [0.4, 1.0]
    _png_size(tmp_path / "c.png")
    jsonl = cli("compare", str(a), "--format", "jsonl")
    assert json.loads(jsonl.output.splitlines()[2])["training_examples"] == 40    # full weak
    bad = cli("compare", str(a), "-o", str(tmp_path / "table.txt"))
    assert bad.exit_code != 0 and "unknown table format" in bad.output
    missing = cli("compare", str(tmp_path / "nope"))
    assert missing.exit_code != 0 and "no such run folder" in missing.output
