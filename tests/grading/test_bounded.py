"""Bounded and safe: adversarial inputs finish in under 2 s each, in any thread, and no model text
is ever executed. Runs by default (it takes a few seconds)."""

from __future__ import annotations

import builtins
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from w2s_lf.grading import (
    GradingTimeout,
    Rejected,
    check_expression,
    deadline,
    grade,
)
from w2s_lf.grading import defer

LIMIT_S = 2.0


def adversarial(marker: str) -> list[tuple[str, str]]:
    """(name, response); `marker` is a file path that executed model text would create."""
    py = f"__import__('os').system('touch {marker}')"
    return [
        ("1 MB of digits", "1" * 1_000_000),
        ("1 MB answer line", "#### " + "9" * 1_000_000),
        ("1 MB of spaces then an answer", " " * 1_000_000 + "\n#### 5"),
        ("1 MB repeated markers", "#### " * 200_000),
        ("1 MB of 'The answer is '", "The answer is " * 75_000),
        ("1 MB of \\text{ (seed regex killer)", "#### " + "\\text{" * 170_000),
        ("1 MB of $", "#### " + "$" * 1_000_000),
        ("1 MB of \\boxed{", "\\boxed{" * 140_000),
        ("10,000 nested braces", "\\boxed{" + "{" * 10_000 + "1" + "}" * 10_000 + "}"),
        ("10,000 unclosed braces", "The answer is: " + "{" * 10_000),
        ("power tower", "\\boxed{9^{9^{9^{9}}}}"),
        ("flat power tower", "\\boxed{9^9^9^9}"),
        ("huge exponent", "\\boxed{10^{1000000000}}"),
        ("huge factorial", "\\boxed{100000000!}"),
        ("sin of a huge number", "\\boxed{\\sin(10^{9999})}"),
        ("deep fractions", "\\boxed{" + "\\frac{1}{" * 300 + "2" + "}" * 300 + "}"),
        ("malformed latex", "\\boxed{\\frac{1}{\\begin{pmatrix} 1 & \\\\ \\end{bmatrix}"),
        ("malformed latex 2", "The answer is: $\\left( \\sqrt[ }{ \\right] $^_^_"),
        ("binary junk", "".join(chr(i % 0x2FF) for i in range(200_000)) + "\x00\ud800#### \x07"),
        ("python in \\boxed", "\\boxed{" + py + "}"),
        ("python in $", "The final answer is $" + py + "$"),
        ("python as answer", "The answer is: " + py),
        ("python after ####", "#### " + py),
        ("python lambda", "\\boxed{(lambda: __import__('os').system('touch " + marker + "'))()}"),
        ("sympy-style code", "\\boxed{Symbol('x').__class__.__base__.__subclasses__()}"),
        ("many long numbers", " ".join(["123456789012345678901234567890"] * 30_000)),
        ("a 1 MB line of one repeated answer", "The answer is 5. " * 60_000),
        # The MATH path: span scanning, joined boxes, the value parser.
        ("1 MB of unclosed \\[", "\\[" * 500_000),
        ("1 MB of unclosed \\(", "\\( 1 " * 200_000),
        ("1 MB of $$", "$$ 1 " * 200_000),
        ("1 MB of math spans", "$1$ " * 250_000),
        ("100,000 joined boxes", "\\boxed{1} and " * 100_000),
        ("a 100,000-item tuple", "\\boxed{(" + "1," * 100_000 + "1)}"),
        ("a 100,000-cell matrix", "\\boxed{\\begin{pmatrix}" + "1&" * 100_000 + "1\\end{pmatrix}}"),
        ("a huge root", "\\boxed{\\sqrt[9999]{2}}"),
        ("a huge exact power", "\\boxed{(7/3)^{9999}}"),
        ("a huge float power", "\\boxed{\\pi^{9999}}"),
        ("a huge binomial", "\\boxed{\\binom{9999}{5000}}"),
        ("many unions", "\\boxed{" + "(0,1)\\cup" * 40 + "(0,1)}"),
        ("nested mixed brackets", "\\boxed{" + "([" * 12 + "1" + "])" * 12 + "}"),
        ("a bare 1 MB line", "1+" * 500_000),
    ]


@pytest.fixture
def no_exec(monkeypatch, tmp_path):
    """Fail if eval/exec/os.system ever see model text; return the marker path."""
    marker = tmp_path / "EXECUTED"
    seen = []
    real_eval, real_exec = builtins.eval, builtins.exec

    def spy(real):
        def wrapped(source, *args, **kwargs):
            if isinstance(source, str) and ("__import__" in source or "EXECUTED" in source
                                            or "subclasses" in source):
                seen.append(source)
                raise AssertionError(f"model text reached eval/exec: {source[:80]!r}")
            return real(source, *args, **kwargs)
        return wrapped
    monkeypatch.setattr(builtins, "eval", spy(real_eval))
    monkeypatch.setattr(builtins, "exec", spy(real_exec))
    monkeypatch.setattr(os, "system", lambda cmd: seen.append(cmd) or 1)
    yield marker
    assert not seen, seen
    assert not marker.exists()


def _grade_all(cases, task, mode):
    slow = []
    for name, response in cases:
        for gold in ("5", "\\frac{1}{2}", response[:2000]):
            start = time.perf_counter()
            g = grade(response, gold, task, mode)
            took = time.perf_counter() - start
            assert isinstance(g.correct, bool)
            if took >= LIMIT_S:
                slow.append((name, task, mode, round(took, 2)))
    return slow


@pytest.mark.timeout(300)
@pytest.mark.parametrize("task", ["gsm8k", "math"])
@pytest.mark.parametrize("mode", ["robust", "seed"])
def test_adversarial_items_are_bounded_and_never_executed(no_exec, task, mode):
    defer.warm_up()
    assert _grade_all(adversarial(str(no_exec)), task, mode) == []


@pytest.mark.timeout(300)
def test_adversarial_items_in_threads(no_exec):
    cases = adversarial(str(no_exec))

    def one(case):
        start = time.perf_counter()
        grade(case[1], "\\frac{1}{2}", "math")
        return case[0], time.perf_counter() - start
    defer.warm_up(4)   # a worker per thread, started before the clock
    with ThreadPoolExecutor(4) as pool:
        timings = list(pool.map(one, cases))
    # Four threads share the GIL, so allow each item its 2 s plus the others' share.
    assert [t for t in timings if t[1] >= LIMIT_S * 4] == []


def test_deadline_interrupts_a_thread_and_not_its_later_code():
    outcome = {}

    def spin():
        try:
            with deadline(0.2):
                while True:
                    pass
        except GradingTimeout:
            outcome["timed_out"] = time.perf_counter()
        # Nothing pending may fire after the block: keep running Python code for a while.
        total = 0
        for i in range(2_000_000):
            total += i
        outcome["after"] = total

    start = time.perf_counter()
    worker = threading.Thread(target=spin)
    worker.start()
    worker.join(5)
    assert not worker.is_alive()
    assert outcome["timed_out"] - start < 1.0
    assert outcome["after"] == sum(range(2_000_000))


def test_deadline_does_not_fire_when_the_block_finishes():
    with deadline(0.05):
        pass
    steps, end = 0, time.monotonic() + 0.3
    try:
        while time.monotonic() < end:   # Python code past the deadline, where a stray interruption would land
            steps += 1
    except GradingTimeout:
        pytest.fail(f"a finished deadline fired {steps} steps later")
    assert steps > 1000


GUARDS = [   # (expression, rejected)
    ("x^2+2x+1", False), ("\\frac{1}{2}", False), ("2^{10}", False), ("10^{100}", False),
    ("9^{9^{9}}", True), ("9^9^9", True), ("2^{100000}", True), ("e^{e^{x}}", True),
    ("100000!", True), ("(3)!", True), ("5!", False), ("{" * 30 + "}" * 30, True),
    ("1" * 61, True), ("x" * 401, True), ("a\x00b", True), ("\\int\\int\\int\\int x", True),
]


@pytest.mark.parametrize("expr,rejected", GUARDS)
def test_guard_table(expr, rejected):
    if rejected:
        with pytest.raises(Rejected):
            check_expression(expr)
    else:
        check_expression(expr)
