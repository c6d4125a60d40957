"""Stage II builders: majority vote and preference pairs, branch by branch, and against a literal
re-statement of the paper's construct_paired_data_{gsm8k,math} (global `random`, seed 42)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from w2s_lf.builders import QuestionVote, build_pairs, load_samples, vote
from w2s_lf.builders.files import load_votes, pairs_files, vote_files
from w2s_lf.builders.synthetic import synthetic_results
from w2s_lf.errors import W2SError
from w2s_lf.io import read_json, write_jsonl
from w2s_lf.lf.datasets import format_pairs


def weak_rec(i, pred, response=None):
    return {"id": i, "prompt": f"Q{i}", "response": response or f"weak{i} #### {pred}", "pred": pred,
            "gold": None, "result": None}


def sample_rec(i, preds, texts=None):
    texts = texts or [f"s{i}.{k} #### {p}" for k, p in enumerate(preds)]
    return {"id": i, "prompt": f"Q{i}", "samples": [{"response": t, "pred": p} for t, p in zip(texts, preds)]}


def paper_pairs(weak, samples, task):
    """The paper's algorithm as docs/method.md states it, on its majority-voting record layout."""
    mv = []
    for s in samples:
        preds = [x["pred"] for x in s["samples"]]
        top, num = Counter(preds).most_common(1)[0]
        mv.append({"confidence": num / len(preds),
                   "pos": [x for x in s["samples"] if x["pred"] == top],
                   "neg": [x for x in s["samples"] if x["pred"] != top]})
    random.seed(42)
    out = []
    for w, m in zip(weak, mv):
        if m["confidence"] < 0.6 or m["pos"][0]["pred"] == "":
            continue
        if w["pred"] == m["pos"][0]["pred"]:
            if not m["neg"]:
                continue
            if task == "gsm8k":
                negs = [random.sample(m["neg"], 1)[0]]
            else:
                negs = random.sample(m["neg"], 3) if len(m["neg"]) > 3 else m["neg"]
            out += [(w["id"], w["response"], n["response"]) for n in negs]
        elif m["confidence"] >= 0.8:
            first = random.sample(m["pos"], 1)[0]["response"]
            out.append((w["id"], first, w["response"]))
            if task == "math":
                num = 1
                for p in m["pos"]:
                    if p["response"] != first:
                        out.append((w["id"], p["response"], w["response"]))
                        num += 1
                        if num >= 3:
                            break
    return out


@pytest.mark.parametrize("task", ["gsm8k", "math"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_pairs_as_the_papers_code(task, seed):
    weak, _, samples = synthetic_results(600, 10, seed=seed)
    # duplicate texts among positives exercise the MATH "differs from the first chosen" walk
    for s in samples[::7]:
        s["samples"][1]["response"] = s["samples"][0]["response"]
        s["samples"][1]["pred"] = s["samples"][0]["pred"]
    ours = build_pairs(weak, samples, task=task).pairs
    assert [(p["id"], p["chosen"], p["rejected"]) for p in ours] == paper_pairs(weak, samples, task)
    assert len(ours) > 50


def test_vote_ties_confidence_and_indices():
    v = vote([sample_rec(0, ["a", "b", "b", "a", "c"]), sample_rec(1, ["x"] * 4)])[0]
    assert v[0] == QuestionVote(0, "a", 2, 5, (0, 3), (1, 2, 4))           # tie a/b: first seen wins
    assert v[0].confidence == 0.4 and v[1].confidence == 1.0 and v[1].neg == ()
    assert QuestionVote.from_json(v[0].to_json()) == v[0]
    assert vote([sample_rec(0, [None, None, "1"])])[0][0].pred == ""   # null pred = empty


def run(weak_pred, preds, task="gsm8k", **kw):
    texts = kw.pop("texts", None)
    return build_pairs([weak_rec(0, weak_pred)], [sample_rec(0, preds, texts)], task=task, **kw)


def test_skip_low_confidence_and_boundary():
    r = run("1", ["1"] * 5 + ["2"] * 5)                 # 0.5 < 0.6
    assert r.pairs == [] and r.stats["skipped"]["low_confidence"] == 1
    r = run("1", ["1"] * 6 + ["2"] * 4)                 # exactly 0.6 is kept
    assert len(r.pairs) == 1 and r.stats["weak_chosen"] == 1


def test_skip_empty_majority():
    r = run("", [""] * 9 + ["3"])
    assert r.pairs == [] and r.stats["skipped"]["empty_majority"] == 1


def test_weak_agrees_without_negative_is_skipped():
    r = run("4", ["4"] * 10)
    assert r.pairs == [] and r.stats["skipped"]["no_negative"] == 1


def test_weak_chosen_gsm8k_one_random_negative():
    preds = ["4"] * 7 + ["5", "6", "7"]
    r = run("4", preds)
    random.seed(42)
    expected = random.sample([f"s0.{k} #### {p}" for k, p in enumerate(preds)][7:], 1)[0]
    assert r.pairs == [{"id": 0, "instruction": "Q0", "input": "", "chosen": "weak0 #### 4", "rejected": expected}]
    assert r.stats["weak_chosen"] == 1 and r.stats["weak_rejected"] == 0


def test_weak_chosen_math_up_to_three_negatives():
    many = run("4", ["4"] * 6 + ["5", "6", "7", "8"], task="math")
    assert len(many.pairs) == 3 and len({p["rejected"] for p in many.pairs}) == 3
    few = run("4", ["4"] * 8 + ["5", "6"], task="math")   # <= 3 negatives: all, in sample order
    assert [p["rejected"] for p in few.pairs] == ["s0.8 #### 5", "s0.9 #### 6"]


def test_weak_rejected_above_flip():
    r = run("9", ["4"] * 8 + ["9", "9"])
    assert len(r.pairs) == 1 and r.pairs[0]["rejected"] == "weak0 #### 9"
    assert r.pairs[0]["chosen"].endswith("#### 4") and r.stats["weak_rejected"] == 1


def test_weak_rejected_math_walks_other_positives():
    texts = ["same #### 4"] * 4 + [f"other{k} #### 4" for k in range(4)] + ["x #### 1", "y #### 2"]
    r = run("9", ["4"] * 8 + ["1", "2"], task="math", texts=texts)
    chosen = [p["chosen"] for p in r.pairs]
    assert len(chosen) == 3 and len(r.pairs) == r.stats["weak_rejected"]
    assert all(c != chosen[0] for c in chosen[1:])      # only texts differing from the first chosen
    if chosen[0] == "same #### 4":
        assert chosen[1:] == ["other0 #### 4", "other1 #### 4"]


def test_disagree_between_thresholds_is_skipped():
    r = run("9", ["4"] * 7 + ["9"] * 3)                 # 0.7: below flip
    assert r.pairs == [] and r.stats["skipped"]["disagree_below_flip"] == 1


def test_thresholds_and_limits_are_configurable():
    assert len(run("9", ["4"] * 7 + ["9"] * 3, flip=0.7).pairs) == 1
    assert run("1", ["1"] * 6 + ["2"] * 4, keep=0.7).pairs == []
    assert len(run("4", ["4"] * 6 + ["5", "6", "7", "8"], max_pairs=2).pairs) == 2
    assert len(run("4", ["4"] * 6 + ["5", "6", "7", "8"], task="math", max_pairs=1).pairs) == 1
    with pytest.raises(ValueError):
        run("4", ["4"] * 10, max_pairs=0)


def test_accuracy_stats_with_gold():
    r = run("4", ["4"] * 7 + ["5"] * 3, gold={0: "4"})
    assert r.stats["chosen_accuracy"] == 1.0 and r.stats["rejected_accuracy"] == 0.0


def test_inputs_must_line_up():
    weak = [weak_rec(0, "1"), weak_rec(1, "2")]
    with pytest.raises(W2SError, match="missing from samples"):
        build_pairs(weak, [sample_rec(0, ["1"] * 10)])
    with pytest.raises(W2SError, match="different order"):
        build_pairs(weak, [sample_rec(1, ["1"] * 10), sample_rec(0, ["1"] * 10)])
    full_weak = [{"id": 0, "content": "Q0", "output": "weak0 #### 1"}, {"id": 1, "content": "Q1", "output": "changed"}]
    with pytest.raises(W2SError, match="full-weak record 1 .*differs from the weak response"):
        build_pairs(weak, [sample_rec(0, ["1"] * 10), sample_rec(1, ["2"] * 10)], full_weak=full_weak)


def test_formats():
    pair = {"id": 3, "instruction": "Q", "input": "", "chosen": "a", "rejected": "b"}
    assert format_pairs([pair], "current") == [pair]
    legacy = format_pairs([pair], "legacy")
    assert legacy == [{"id": 3, "instruction": "Q", "input": "", "output": ["a", "b"]}]
    assert list(legacy[0]) == ["id", "instruction", "input", "output"]   # the paper's key order


@pytest.mark.shared
def test_legacy_layout_matches_released_pairs(gair):
    released = read_json(gair / "data/llama_factory/gsm8k/train_gsm8k_llama2_7b_iter2_hybrid_paired.json")
    assert len(released) == 2563
    assert all(list(r) == ["id", "instruction", "input", "output"] and r["input"] == "" for r in released)
    weak = {r["id"]: r for r in read_json(gair / "data/llama_factory/gsm8k/train_gsm8k_llama2_7b_full_weak.json")}
    chosen = sum(r["output"][0] == weak[r["id"]]["output"] for r in released)
    assert (chosen, len(released) - chosen) == (866, 1697)      # weak-chosen / weak-rejected
    assert len({r["id"] for r in released}) == len(released)    # GSM8K: one pair per question
    assert all(r["instruction"] == weak[r["id"]]["content"] for r in released)


def test_seed_folder_layout(tmp_path):
    for seed in (0, 1, 2, 10):
        write_jsonl(tmp_path / f"seed{seed}" / "results.jsonl",
                    [weak_rec(i, str(seed % 2), f"r{i}.{seed}") | {"gold": "0"} for i in range(3)])
    recs = load_samples(tmp_path)
    assert [s["response"] for s in recs[1]["samples"]] == ["r1.0", "r1.1", "r1.2", "r1.10"]   # numeric order
    assert recs[0]["gold"] == "0" and recs[0]["prompt"] == "Q0"
    write_jsonl(tmp_path / "seed3" / "results.jsonl", [weak_rec(i, "1") for i in range(2)])
    with pytest.raises(W2SError, match="missing from"):
        load_samples(tmp_path)


def test_vote_and_pairs_files_and_cli(tmp_path, cli):
    weak, _, samples = synthetic_results(50, 10, seed=3)
    write_jsonl(tmp_path / "w.jsonl", weak)
    write_jsonl(tmp_path / "s.jsonl", samples)
    path, stats = vote_files(tmp_path / "s.jsonl", tmp_path / "votes.jsonl")
    assert len(load_votes(path)) == 50 and (tmp_path / "votes.stats.json").exists()
    written, stats = pairs_files(tmp_path / "w.jsonl", tmp_path / "s.jsonl", tmp_path / "d", "p",
                                 votes_path=path, fmt="legacy")
    info = read_json(tmp_path / "d" / "dataset_info.json")
    assert info["p"] == {"file_name": "p.json", "ranking": True,
                         "columns": {"prompt": "instruction", "query": "input", "response": "output"}}
    assert stats["pairs"] == len(read_json(written["p"])) == build_pairs(weak, samples).stats["pairs"]
    r = cli("build", "vote", "--samples", tmp_path / "s.jsonl", "-o", tmp_path / "v2.jsonl")
    assert r.exit_code == 0 and "mean_confidence" in r.output
    r = cli("build", "pairs", "--weak", tmp_path / "w.jsonl", "--samples", tmp_path / "s.jsonl",
            "-o", tmp_path / "d", "--votes", tmp_path / "v2.jsonl", "--gold", tmp_path / "w.jsonl")
    assert r.exit_code == 0, r.output
    assert "weak_chosen" in r.output and "chosen_accuracy" in r.output
    info = read_json(tmp_path / "d" / "dataset_info.json")
    assert info["gsm8k_pairs"]["columns"] == {"prompt": "instruction", "query": "input",
                                              "chosen": "chosen", "rejected": "rejected"}
    assert list(info) == ["p", "gsm8k_pairs"]
