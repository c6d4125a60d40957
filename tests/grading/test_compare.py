"""compare.py: whether two canonical answers are the same answer, or undecided (tables, pure)."""

from __future__ import annotations

import pytest

from w2s_lf.grading.compare import compare, values_equal
from w2s_lf.grading.normalise import canonical

COMPARE = [   # (pred, gold, numeric, verdict): None leaves it to math-verify
    ("0.50", "0.5", True, True), ("2/3", "0.67", True, True), ("1.334", "1.33", True, False),
    ("6:25", "6", True, False), ("2**3", "23", True, False), ("2**3", "8", True, False),   # GSM8K reads numbers only
    ("2^{10}", "2", True, False), ("2 1/2", "2.5", True, True), ("2 1/2", "10.5", True, False),
    ("1000,99", "1000.99", True, True), ("", "0", True, False),
    ("1,5", "1.5", False, True), ("1,5", "15", False, False), ("1,5", "1,5", False, True),   # MATH: by the gold
    ("1,5", "\\{1,5\\}", False, True), ("-2,1", "1,-2", False, True), ("2,74", "2.74", False, True),
    ("3!\\times5!=\\frac{1440}{2}", "720", False, True),      # `5!=`: a factorial, then =
    ("(3,4)", "(3,4)", False, True), ("(4,3)", "(3,4)", False, False), ("3,4", "(3,4)", False, None),
    ("C", "c", False, True), ("C", "D", False, False), ("even", "\\frac12", False, False),
    ("x\\le1", "1\\ge x", False, None), ("2y=1", "2y=1", False, True), ("x<5", "x>5", False, None),
]

FAST = [   # (pred, gold, verdict): decided by values alone
    ("\\frac{3}{56}", "0.05357142857", True), ("2\\sqrt{2}", "\\sqrt{8}", True), ("\\sqrt[3]{-8}", "-2", True),
    ("2^{10}", "1024", True), ("5!", "120", True), ("\\binom{5}{2}", "10", True), ("8^{2/3}", "4", True),
    ("(1,\\infty)", "(1,\\infty)", True), ("(1,\\infty)", "[1,\\infty)", False), ("\\{5\\}", "5", True),
    ("(1,2)", "3", False), ("1,2", "2,1,1", True), ("50%", "\\frac12", True), ("\\pi", "\\frac{22}{7}", False),
    ("1\\pm2", "3,-1", True), ("\\sin(2)", "0.909297", True), ("x+1", "1", False), ("(x-1)^{20}", "(1-x)^{20}", True),
    ("(x+1)^2", "x^2+2x+1", True), ("\\frac{x^2-1}{x-1}", "x+1", True), ("\\sqrt{x}", "x", False),
    ("\\sin x", "1", False), ("(1,2),(3,4)", "1", False), ("\\sqrt{-4}", "2i", True), ("e^{i\\pi}", "-1", True),
    ("2\\sin 30^\\circ", "1", True), ("(a),(b),(c),(e)", "5", False), ("\\{\\frac{1}{3}\\}", "(1,2)", False),
    ("-37_8", "27_8", False), ("e", "2.718281828", True), ("5p+e", "7p+4e", False),
    ("\\frac{\\sqrt{2}}{6}(sidelength)^3", "\\frac{1}{12}", False),
]
UNDECIDED = ["2x=1", "x<1", "1, 2, \\ldots", "\\sqrt[4]{-1}", "1/0", "E", "2^10", "|x|", "\\{1\\}\\cap\\{2\\}"]


@pytest.mark.parametrize("pred,gold,numeric,verdict", COMPARE)
def test_compare_table(pred, gold, numeric, verdict):
    assert compare(pred, gold, numeric)[0] is verdict


@pytest.mark.parametrize("pred,gold,verdict", FAST)
def test_values_decide_constants(pred, gold, verdict):
    assert values_equal(canonical(pred, False), canonical(gold, False)) is verdict


@pytest.mark.parametrize("text", UNDECIDED)
def test_values_leave_the_rest_to_math_verify(text):
    assert values_equal(canonical(text, False), "1") is None


def test_reasons():
    assert compare("", "3", False) == (False, "no answer found")
    assert compare("3", "", False) == (False, "empty gold answer")
