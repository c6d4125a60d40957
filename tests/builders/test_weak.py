"""Several weak supervisors combined by majority, the confident-weak filter and KTO data from pairs:
the pure builders and their `w2s-lf build` commands."""

from __future__ import annotations

import json
from collections import Counter

from w2s_lf.io import write_jsonl


def test_combined_weak_majority_ties_to_the_first_model():
    from w2s_lf.builders.weak import combine_weak
    rows = lambda preds: [{"id": i, "prompt": "p", "response": f"r{p}", "pred": p} for i, p in enumerate(preds)]
    combined, stats = combine_weak([rows(["1", "2", "", "5"]), rows(["3", "2", "", "6"]), rows(["3", "4", "7", "5"])],
                                   ["a", "b", "c"])
    assert [c["pred"] for c in combined] == ["3", "2", "", "5"]
    assert [c["weak_model"] for c in combined] == ["b", "a", "a", "a"]
    assert stats["unanimous"] == 0 and stats["taken_from"] == {"a": 3, "b": 1, "c": 0}


def test_confident_weak_keeps_self_consistent_non_empty_answers():
    from w2s_lf.builders.weak import build_confident_weak
    weak = [{"id": i, "prompt": f"q{i}", "response": f"r{p}", "pred": p} for i, p in enumerate(["1", "2", ""])]
    samples = [{"id": i, "samples": [{"response": "", "pred": p} for p in preds]}
               for i, preds in enumerate([["1", "1", "3"], ["2", "4", "5"], ["", "", ""]])]
    gold = {0: "1", 1: "9", 2: "3"}
    kept, stats = build_confident_weak(weak, [samples], 0.6, gold)
    assert [r["id"] for r in kept] == [0] and stats["kept"] == 1 and stats["accuracy_kept"] == 1.0
    kept, _ = build_confident_weak(weak, [samples, samples], 0.3)   # two weak models: pooled
    assert [r["id"] for r in kept] == [0, 1]


def test_kto_examples_from_pairs():
    from w2s_lf.builders.stage2 import kto_examples
    pairs = [{"id": 0, "instruction": "q", "input": "", "chosen": "a", "rejected": "b"},
             {"id": 0, "instruction": "q", "input": "", "chosen": "a", "rejected": "c"},
             {"id": 1, "instruction": "r", "input": "", "chosen": "d", "rejected": "e"}]
    examples, stats = kto_examples(pairs)
    assert [(e["output"], e["kto_tag"]) for e in examples] == [("a", True), ("b", False), ("c", False),
                                                               ("d", True), ("e", False)]
    assert stats == {"pairs": 3, "examples": 5, "desirable": 2, "undesirable": 3}
    assert Counter(e["id"] for e in examples) == {0: 3, 1: 2}


def _results(path, preds):
    write_jsonl(path, [{"id": i, "prompt": f"Question: q{i}\nAnswer:", "response": f"#### {p}", "pred": p,
                        "gold": "1", "result": p == "1"} for i, p in enumerate(preds)])
    return path


def test_build_commands(tmp_path, cli):
    a, b, c = (_results(tmp_path / f"{n}.jsonl", preds) for n, preds in
               (("a", ["1", "2", "3"]), ("b", ["2", "2", "4"]), ("c", ["2", "5", "4"])))
    out = tmp_path / "gen/weak.jsonl"
    result = cli("build", "combine-weak", "--weak", f"a={a}", "--weak", f"b={b}", "--weak", f"c={c}", "-o", out)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["pred"] for line in out.read_text().splitlines()] == ["2", "2", "4"]
    assert json.loads((tmp_path / "gen/weak.stats.json").read_text())["taken_from"] == {"a": 1, "b": 2, "c": 0}
    for bad, message in ((["--weak", str(a), "--weak", f"b={b}"], "expected NAME=PATH"),
                         (["--weak", f"a={a}", "--weak", f"a={b}"], "different names"),
                         (["--weak", f"a={a}"], "two or more")):
        result = cli("build", "combine-weak", *bad, "-o", tmp_path / "x.jsonl")
        assert result.exit_code != 0 and message in result.output and not (tmp_path / "x.jsonl").exists()

    samples = tmp_path / "samples.jsonl"
    write_jsonl(samples, [{"id": i, "prompt": "p", "samples": [{"response": "r", "pred": p} for p in preds]}
                          for i, preds in enumerate([["2", "2"], ["2", "1"], ["4", "4"]])])
    result = cli("build", "confident-weak", "--weak", out, "--samples", samples, "-o", tmp_path / "data",
                 "--min-agreement", "1")
    assert result.exit_code == 0, result.output
    kept = json.loads((tmp_path / "data/gsm8k_confident_weak.json").read_text())
    assert [r["id"] for r in kept] == [0, 2] and kept[0]["output"] == "#### 2"
    info = json.loads((tmp_path / "data/dataset_info.json").read_text())
    assert info["gsm8k_confident_weak"]["columns"] == {"prompt": "content", "response": "output"}

    pairs = tmp_path / "data/pairs.json"
    pairs.write_text(json.dumps([{"id": 0, "instruction": "q", "input": "", "chosen": "a", "rejected": "b"}]))
    assert cli("build", "kto", "--pairs", pairs, "-o", tmp_path / "data").exit_code == 0
    info = json.loads((tmp_path / "data/dataset_info.json").read_text())
    assert info["gsm8k_kto"]["columns"]["kto_tag"] == "kto_tag"
    pairs.write_text(json.dumps([{"id": 0, "instruction": "q", "output": ["a", "b"]}]))   # the legacy layout
    result = cli("build", "kto", "--pairs", pairs, "-o", tmp_path / "data", "--name", "legacy")
    assert result.exit_code != 0 and "--format current" in result.output
