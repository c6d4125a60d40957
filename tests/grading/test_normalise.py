"""normalise.py and numbers.py: the canonical text of an answer (tables, pure functions)."""

from __future__ import annotations

import pytest

from w2s_lf.grading.normalise import canonical
from w2s_lf.grading.numbers import format_number, parse_number

NUMBERS = [   # (text, canonical or None)
    ("1,000", "1000"), ("-0.50", "-0.5"), ("$1,234.00", "1234"), ("\\$5", "5"), ("50%", "50%"),
    ("\\frac{1}{4}", "0.25"), ("-\\frac{2}{3}", "-2/3"), ("3/6", "0.5"), (".5", "0.5"), ("+7", "7"),
    ("1e5", None), ("x", None), ("1/0", None), ("12 apples", None), ("1" * 100, None),
    # Mixed numbers: a whole number and a proper fraction.
    ("2 1/2", "2.5"), ("-2 1/2", "-2.5"), ("2\\frac{1}{2}", "2.5"), ("2\\,\\frac{1}{2}", "2.5"), ("2 3/2", None),
    # Separators: thousands when each group has three digits, else a decimal comma (one or two digits).
    ("1 000", "1000"), ("12 34", None), ("1,000,000", "1000000"), ("1,000.5", "1000.5"),
    ("1000,99", "1000.99"), ("2,74 $", "2.74"), ("2,74 €", "2.74"), ("0,5", "0.5"), ("1,2345", None),
    ("1,000,5", None), ("28 %", "28%"),
]

NUMERIC = [   # (answer, canonical) for numeric tasks: the number, or tidied text
    ("72 clips", "72"), ("$1,000.00 dollars", "1000"), ("2 1/2 cups", "2.5"), ("50%", "50"), ("64,82", "64.82"),
    ("2**3", "2**3"), ("2^{10}", "2^{10}"), ("7x + 11", "7x+11"), ("6:25", "6:25"), ("\\text{(C)}", "C"),
]

SAME_VOTE = [   # writings of one MATH answer that must vote together (one canonical string)
    ("\\dfrac{1}{2}", "0.5"), ("\\frac12", "\\tfrac{1}{2}"), ("x = \\frac{\\pi}{2}", "\\frac{\\pi}{2}"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"), ("10^\\circ", "10"), ("\\$1,000", "1000"),
    ("5\\text{ cm}", "5"), ("\\text{(B)}", "B"), ("\\sqrt2", "\\sqrt{2}"), ("k = 7", "7"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"), ("2 \\cos x", "2\\cos x"),
    ("2 1/2", "\\frac52"), ("30°.", "30"), ("\\text{(C)}", "\\text{C}"), ("\\textbf{(C)}", "C"), ("\\text{C)}", "C"),
    ("a + b + c - 15 = 49 - 15 = \\text{34}.", "34"),            # a chain: its last side; \text{34} is no unit
    ("Therefore x = 5+5+1 = 1/3", "\\frac13"), ("f(3) = 5 + 5 + 1 = 11", "11"),
    ("(\\sin^2 t)", "\\sin^2 t"), ("\\left(5\\right)", "5"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}\n\\end{align*}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix} \\\\\n\\]", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"),
    ("M &= \\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "M = \\begin{pmatrix}1\\\\2\\end{pmatrix}"),
]
KEPT_APART = [   # writings that are different answers, or that only compare() can tell apart
    ("1,5", "1.5"),          # in MATH a list (`1,-2` is a gold), 1.5 only against a gold that is one number
    ("32, 349", "32349"), ("(1,2)", "1,2"), ("2x+z=1", "1"), ("(x+1)(x-1)", "x+1)(x-1"), ("5!=120", "120"),
]


@pytest.mark.parametrize("text,expected", NUMBERS)
def test_number_table(text, expected):
    number = parse_number(text)
    assert (format_number(number) if number else None) == expected


@pytest.mark.parametrize("answer,expected", NUMERIC)
def test_numeric_canonical_table(answer, expected):
    assert canonical(answer, numeric=True) == expected


@pytest.mark.parametrize("a,b", SAME_VOTE)
def test_canonical_text_for_voting(a, b):
    assert canonical(a, numeric=False) == canonical(b, numeric=False)


@pytest.mark.parametrize("a,b", KEPT_APART)
def test_different_answers_keep_different_text(a, b):
    assert canonical(a, numeric=False) != canonical(b, numeric=False)
