"""Robust MATH grading end to end: the class tables, agreement with math-verify on them, and the
released MATH-500 solutions."""

from __future__ import annotations

import pytest
from math_grading_table import _MATRIX, RESPONSE_CLASSES, ROWS, UNBOXED_SOLUTIONS

from w2s_lf.grading import defer, grade, grade_many
from w2s_lf.io import read_jsonl


@pytest.mark.parametrize("cls,response,gold,right", ROWS, ids=[f"{r[0]}-{i}" for i, r in enumerate(ROWS)])
def test_class_tables(cls, response, gold, right):
    g = grade(response, gold, "math")
    assert g.correct is right, (g.pred, g.gold, g.reason)


# Rows where math-verify 0.9.0 (defaults: `parse(response)`, `parse("$" + gold + "$")`, `verify`)
# gives the wrong verdict, and why. Everywhere else on the table the two agree.
MATH_VERIFY_WRONG = {
    "The value is \\fbox{7}.": "it does not read \\fbox",
    "We get \\[x = \\frac{5}{3}.\\] So that is it.": "a period inside display math hides the answer",
    "Evelyn": "a bare word without delimiters is not extracted",
    "There are 12 sequences. I hope it is correct. <|im_start|>user\nNew question 5":
        "it reads on past the chat model's end of turn",
    "We have $2^{10}.$": "its number fallback reads the 2 of 2^{10}",
    "The answer is 5.\nQuestion: what is 2+2?\nAnswer: 4":
        "it reads the answer to a question the model made up after its own (the recipe's prompt format)",
    "1 000": "in LaTeX mode a space-grouped number is not one number",
    "0.\\overline{4}": "it does not read a repeating decimal",
    "0.1\\overline{6}": "it does not read a repeating decimal",
    "250 cm2": "a unit with a power written without ^ stays in the answer",
    "i^2": "i is the imaginary unit in MATH, a plain symbol to math-verify (without a word boundary)",
    "\\frac{2}{3i}": "the same: 2/(3i) is -2i/3 only when i*i = -1",
    "The answer is (C).": "its default extraction reads no choice letter in text",
    "The answer is $C)$.": "the same, for a letter with a closing parenthesis",
    "\\boxed{2,74 \\$}": "in LaTeX it reads a comma before two digits as a list",
    "\\boxed{1,5}": "the same, against a gold that is one number",
    f"\\begin{{align*}}\nM &= \\boxed{{{_MATRIX}\n\\end{{align*}}": "a box left open is read up to the wrong brace",
    f"\\[\n\\boxed{{\n{_MATRIX}\n\\]": "the same",
    f"\\boxed{{{_MATRIX}\n\\end{{align*}}}}": "an environment's end inside the box spoils the matrix",
    f"Hence\n\\begin{{align*}}\nM &= {_MATRIX} \\\\\n\\end{{align*}}": "it reads a matrix entry from an align environment",
    "We get $x = \\boxed{1}$ and $y = \\boxed{1}$.": "it joins boxes into a set: (1, 1) becomes {1}",
    "$a = \\boxed{2}$, $b = \\boxed{-1}$, $c = \\boxed{2}$": "the same: (2, -1, 2) becomes {-1, 2}",
    UNBOXED_SOLUTIONS[0][0]: "a period inside the last math hides the tuple; it reads the 3 before it",
    UNBOXED_SOLUTIONS[5][0]: "a period inside display math hides the answer",
}


def test_agreement_with_math_verify():
    """Rows where math-verify's verdict is wrong are exactly the documented ones; we are right on all."""
    from math_verify import parse, verify
    defer.warm_up()
    wrong = []
    for cls, response, gold, right in ROWS:
        pred = response if cls in RESPONSE_CLASSES else "$" + response + "$"
        verdict = bool(verify(parse("$" + gold + "$", parsing_timeout=None), parse(pred, parsing_timeout=None),
                              timeout_seconds=None))
        if verdict != right:
            wrong.append(response)
    assert sorted(wrong) == sorted(MATH_VERIFY_WRONG)
    print(f"\nmath-verify right on {len(ROWS) - len(wrong)}/{len(ROWS)} rows, robust on {len(ROWS)}/{len(ROWS)}")


FAST_CLASSES = ("fractions", "mixed numbers", "decimals and separators", "percents", "degrees and units",
                "tuples", "matrices", "roots and pi", "text and choices", "intervals", "sets", "complex")
NEEDS_SYMBOLIC = {}   # constants the fast path leaves to math-verify on purpose: none in the table


def test_constants_never_reach_the_symbolic_layer(monkeypatch):
    calls = []
    monkeypatch.setattr(defer, "verify", lambda p, g: calls.append((p, g)) or (False, "stub"))
    for cls, response, gold, right in ROWS:
        if cls in FAST_CLASSES and response not in NEEDS_SYMBOLIC:
            calls.clear()
            assert grade(response, gold, "math").correct is right, response
            assert calls == [], (response, calls)


@pytest.mark.shared
def test_math500_solutions_grade_right_without_math_verify(gair, monkeypatch):
    """Each released MATH-500 solution, graded against its own answer, is right, on the fast path."""
    monkeypatch.setattr(defer, "verify", lambda p, g: (_ for _ in ()).throw(AssertionError((p, g))))
    rows = read_jsonl(gair / "data/test/math.jsonl")
    grades = grade_many([r["solution"] for r in rows], [r["answer"] for r in rows], "math", workers=1)
    assert [r["answer"] for r, g in zip(rows, grades) if not g.correct] == []
    assert len(rows) == 500
