"""Robust MATH grading: the class tables, agreement with math-verify, the fast path, canonical text
for voting, and the released MATH-500 solutions."""

from __future__ import annotations

import time

import pytest
from math_grading_table import ROWS

from w2s_lf.grading import defer, grade, grade_many, normalize_answer
from w2s_lf.grading.compare import values_equal
from w2s_lf.grading.spans import boxed_answer, math_spans
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
}


def test_agreement_with_math_verify():
    """Rows where math-verify's verdict is wrong are exactly the documented ones; we are right on all."""
    from math_verify import parse, verify
    defer.warm_up()
    wrong = []
    for cls, response, gold, right in ROWS:
        pred = response if cls == "extraction" else "$" + response + "$"
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


FAST = [   # (pred, gold, verdict): decided by the fast path alone
    ("\\frac{3}{56}", "0.05357142857", True), ("2\\sqrt{2}", "\\sqrt{8}", True), ("\\sqrt[3]{-8}", "-2", True),
    ("2^{10}", "1024", True), ("5!", "120", True), ("\\binom{5}{2}", "10", True), ("8^{2/3}", "4", True),
    ("(1,\\infty)", "(1,\\infty)", True), ("(1,\\infty)", "[1,\\infty)", False), ("\\{5\\}", "5", True),
    ("(1,2)", "3", False), ("1,2", "2,1,1", True), ("50%", "\\frac12", True), ("\\pi", "\\frac{22}{7}", False),
    ("1\\pm2", "3,-1", True), ("\\sin(2)", "0.909297", True), ("x+1", "1", False), ("(x-1)^{20}", "(1-x)^{20}", True),
    ("(x+1)^2", "x^2+2x+1", True), ("\\frac{x^2-1}{x-1}", "x+1", True), ("\\sqrt{x}", "x", False),
    ("\\sin x", "1", False), ("(1,2),(3,4)", "1", False), ("\\sqrt{-4}", "2i", True), ("e^{i\\pi}", "-1", True),
    ("2\\sin 30^\\circ", "1", True), ("(a),(b),(c),(e)", "5", False), ("\\{\\frac{1}{3}\\}", "(1,2)", False),
    ("-37_8", "27_8", False), ("e", "2.718281828", True), ("5p+e", "7p+4e", False), ("\\frac{\\sqrt{2}}{6}(sidelength)^3", "\\frac{1}{12}", False),
]
UNDECIDED = ["2x=1", "x<1", "1, 2, \\ldots", "\\sqrt[4]{-1}", "1/0", "E", "2^10", "|x|", "\\{1\\}\\cap\\{2\\}"]


@pytest.mark.parametrize("pred,gold,verdict", FAST)
def test_fast_path_decides_constants(pred, gold, verdict):
    assert values_equal(normalize_answer(pred, "math"), normalize_answer(gold, "math")) is verdict


@pytest.mark.parametrize("text", UNDECIDED)
def test_fast_path_leaves_the_rest_to_math_verify(text):
    assert values_equal(normalize_answer(text, "math"), "1") is None


SAME_VOTE = [   # writings of one answer that must vote together (one canonical string)
    ("\\dfrac{1}{2}", "0.5"), ("\\frac12", "\\tfrac{1}{2}"), ("x = \\frac{\\pi}{2}", "\\frac{\\pi}{2}"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"), ("10^\\circ", "10"), ("\\$1,000", "1000"),
    ("5\\text{ cm}", "5"), ("\\text{(B)}", "B"), ("\\sqrt2", "\\sqrt{2}"), ("k = 7", "7"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"), ("2 \\cos x", "2\\cos x"),
]


@pytest.mark.parametrize("a,b", SAME_VOTE)
def test_canonical_text_for_voting(a, b):
    assert normalize_answer(a, "math") == normalize_answer(b, "math")


def test_spans_and_boxes():
    spans = math_spans("a $x$ b \\[y\\] c $$z$$ \\(w\\) \\$5 and $ unclosed")
    assert [(s.content, s.display) for s in spans] == [("x", False), ("y", True), ("z", True), ("w", False)]
    assert math_spans("one $ per\nline $") == []            # inline math stays on one line
    assert boxed_answer("\\boxed{-2} and \\boxed{1}") == "-2, 1"
    assert boxed_answer("\\boxed{3} so far. Then \\boxed{4}") == "4"   # text between: separate answers
    assert boxed_answer("\\boxed{\\frac{1}{\\sqrt{2}}}") == "\\frac{1}{\\sqrt{2}}"


def test_span_scan_is_linear():
    """Unclosed openers cost one failed search each kind, not one per opener (grading scans at
    most the last 16,000 characters; these are 25x that, where a quadratic scan takes minutes)."""
    start = time.perf_counter()
    for text in ("\\[" * 200_000, "$" * 400_000, "\\(" + "x" * 400_000, "$$ 1 " * 80_000):
        math_spans(text)
    assert time.perf_counter() - start < 3.0


@pytest.mark.shared
def test_math500_solutions_grade_right_without_math_verify(gair, monkeypatch):
    """Each released MATH-500 solution, graded against its own answer, is right, on the fast path."""
    monkeypatch.setattr(defer, "verify", lambda p, g: (_ for _ in ()).throw(AssertionError((p, g))))
    rows = read_jsonl(gair / "data/test/math.jsonl")
    grades = grade_many([r["solution"] for r in rows], [r["answer"] for r in rows], "math", workers=1)
    assert [r["answer"] for r, g in zip(rows, grades) if not g.correct] == []
    assert len(rows) == 500
