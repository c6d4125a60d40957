"""defer.py: math-verify in a worker process with our own timeout, from any thread."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from w2s_lf.grading import defer, grade

# Passes the input guards, and math-verify (its timeouts off) works on it for minutes.
SLOW = ("2y=\\frac{(x+1)^{99}}{(x-1)^{99}}", "2y=1")


def test_math_verify_own_timeouts_fail_outside_the_main_thread():
    """Why the pool exists: math-verify's signal-based timeouts raise in any other thread."""
    import math_verify
    errors = []

    def call():
        try:
            math_verify.parse("$x+1$")
        except ValueError as e:
            errors.append(str(e))
    worker = threading.Thread(target=call)
    worker.start()
    worker.join()
    assert errors and "threaded environment" in errors[0]


RELATIONS = [   # (pred, gold, equal): what only math-verify decides
    ("x \\le 1", "1 \\ge x", True), ("x < 5", "x > 5", False), ("2x+4y-3=0", "y=-\\frac{1}{2}x+\\frac{3}{4}", True),
    ("|x|", "\\sqrt{x^2}", True), ("(1,2)", "\\{1,2\\}", True),
]


def test_verify_works_from_many_threads():
    defer.warm_up(2)

    def one(case):
        return defer.verify(case[0], case[1])
    with ThreadPoolExecutor(4) as pool:
        verdicts = list(pool.map(one, RELATIONS * 4))
    assert verdicts == [(equal, None) for _, _, equal in RELATIONS * 4]


def test_a_slow_question_times_out_and_the_next_one_is_answered():
    defer.warm_up()
    start = time.perf_counter()
    assert defer.verify(*SLOW) == (False, "timeout")
    took = time.perf_counter() - start
    assert defer.DEFER_SECONDS <= took < defer.DEFER_SECONDS + 1.0
    assert defer.verify("x \\le 1", "1 \\ge x") == (True, None)   # a fresh worker


def test_a_worker_that_dies_is_replaced():
    defer.warm_up()
    for worker in defer._POOL.idle:   # died while idle: replaced before the question
        worker.proc.kill()
        worker.proc.join()
    assert defer.verify("x \\le 1", "1 \\ge x") == (True, None)
    answers = []
    asking = threading.Thread(target=lambda: answers.append(defer.verify(*SLOW)))
    asking.start()
    time.sleep(0.5)
    idle = {w.proc.pid for w in defer._POOL.idle}
    for child in multiprocessing.active_children():   # dies during the question: that item is wrong
        if child.name == "w2s-math-verify" and child.pid not in idle:
            child.kill()
    asking.join()
    assert answers == [(False, "error: math-verify worker died")]
    assert defer.verify("x \\le 1", "1 \\ge x") == (True, None)


def test_a_slow_item_is_wrong_with_a_reason():
    g = grade(f"\\boxed{{{SLOW[0]}}}", SLOW[1], "math")
    assert (g.correct, g.reason) == (False, "timeout")


def test_read_reads_latex_only():
    """The answer of a worked solution without a box; plain text is not read (sympy's
    `parse_expr` would evaluate it as Python)."""
    solution = "First, $2 + 2 = 4$.\n\nSo there are $\\frac{8}{3}$ possible rational roots in all."
    assert defer.read(solution) == "\\frac{8}{3}"
    assert defer.read("we get __import__('os') and 5 apples") is None


def test_run_here_bounds_time_with_a_deadline(monkeypatch):
    monkeypatch.setattr(defer, "_HERE", True)
    start = time.perf_counter()
    assert defer.verify(*SLOW) == (False, "timeout")
    assert time.perf_counter() - start < defer.DEFER_SECONDS + 1.0
    assert defer.verify("x \\le 1", "1 \\ge x") == (True, None)


@pytest.mark.parametrize("pred", ["9^{9^{9}}", "x" * 401])
def test_guarded_inputs_never_reach_math_verify(pred):
    equal, reason = defer.verify(pred, "1")
    assert not equal and reason.startswith("not checked by math-verify")
