"""Batch grading (process pool with per-item deadlines), majority vote and pass@k."""

from __future__ import annotations

import os
import time

import pytest

from w2s_lf.grading import Grade, batch, grade, grade_many, majority_vote, pass_at_k


def hang_or_grade(response, gold, task, mode):
    """Module-level so that spawned workers can import it: hangs in C, or crashes, on cue."""
    if response == "HANG":
        time.sleep(60)   # one C call: only a kill can stop it
    if response == "CRASH":
        os._exit(3)
    if response == "RAISE":
        raise RuntimeError("boom")
    return grade(response, gold, task, mode)


def test_pool_kills_hung_workers_and_keeps_order(monkeypatch):
    monkeypatch.setattr(batch, "MIN_ITEMS_PER_WORKER", 1)
    responses = [f"#### {i}" for i in range(40)]
    for i, special in ((3, "HANG"), (17, "CRASH"), (25, "RAISE"), (33, "HANG")):
        responses[i] = special
    golds = [str(i) for i in range(40)]
    done = []
    start = time.perf_counter()
    grades = grade_many(responses, golds, "gsm8k", workers=2, hard_timeout=0.5,
                        fn=hang_or_grade, progress=done.append)
    assert time.perf_counter() - start < 15
    assert sum(done) == 40
    assert [g.reason for g in grades if g.reason] == [
        "timeout", "error: grading worker died", "error: RuntimeError: boom", "timeout"]
    assert [i for i, g in enumerate(grades) if not g.correct] == [3, 17, 25, 33]
    assert all(g.correct and g.pred == str(i) for i, g in enumerate(grades) if i not in (3, 17, 25, 33))


def test_pool_and_in_process_agree(monkeypatch):
    monkeypatch.setattr(batch, "MIN_ITEMS_PER_WORKER", 1)
    responses = ["#### 0.50", "The answer is 7", "no", "\\boxed{\\frac{1}{2}}", "#### 1,000"] * 20
    golds = ["0.5", "7", "3", "0.5", "1000"] * 20
    for task in ("gsm8k", "math"):
        pooled = grade_many(responses, golds, task, workers=2)
        single = grade_many(responses, golds, task, workers=1)
        assert pooled == single
        assert all(isinstance(g, Grade) for g in pooled)


def test_grade_many_checks_lengths():
    with pytest.raises(ValueError):
        grade_many(["a"], [], "gsm8k")


VOTES = [   # (preds, pred, count, confidence, positive, negative)
    (["1", "2", "2", "1", "3"], "1", 2, 0.4, [0, 3], [1, 2, 4]),             # tie: first seen wins
    (["5"] * 7 + ["4"] * 3, "5", 7, 0.7, list(range(7)), [7, 8, 9]),
    (["", "", "3"], "", 2, 2 / 3, [0, 1], [2]),                              # empty is a pred too
    (["9"], "9", 1, 1.0, [0], []),
    (["a", "b", "c", "b", "c"], "b", 2, 0.4, [1, 3], [0, 2, 4]),
]


@pytest.mark.parametrize("preds,pred,count,confidence,positive,negative", VOTES)
def test_majority_vote_table(preds, pred, count, confidence, positive, negative):
    vote = majority_vote(preds)
    assert (vote.pred, vote.count, vote.positive, vote.negative) == (pred, count, positive, negative)
    assert vote.confidence == pytest.approx(confidence)


def test_majority_vote_needs_samples():
    with pytest.raises(ValueError):
        majority_vote([])


PASS_AT_K = [   # (n, c, k, expected)
    (10, 0, 1, 0.0), (10, 10, 1, 1.0), (10, 3, 1, 0.3), (10, 3, 5, 1 - 1 / 12), (10, 1, 10, 1.0),
    (5, 2, 4, 1.0), (100, 1, 1, 0.01),
]


@pytest.mark.parametrize("n,c,k,expected", PASS_AT_K)
def test_pass_at_k_table(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


@pytest.mark.parametrize("n,c,k", [(10, 11, 1), (10, 3, 0), (10, 3, 11), (10, -1, 1)])
def test_pass_at_k_rejects_bad_arguments(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)
