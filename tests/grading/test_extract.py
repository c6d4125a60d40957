"""extract.py and spans.py: where a response states its answer (tables, pure functions)."""

from __future__ import annotations

import pytest

from w2s_lf.grading import spans
from w2s_lf.grading.extract import Found, extract
from w2s_lf.grading.spans import boxed_answer, math_spans, unclosed_box

MATRIX = "\\begin{pmatrix}\n1 & 2 \\\\\n3 & 4\n\\end{pmatrix}"
NUMERIC = [   # (response, answer as written): GSM8K-style tasks
    ("48 + 24 = 72\n#### 72", "72"),
    ("#### **72**", "72"),                                   # markdown bold
    ("**Answer:** 42", "42"),
    ("#### 2**3", "2**3"),                                   # a power, not 23
    ("#### 2^{10}", "2^{10}"),                               # an expression, not 2
    ("The answer is 2 1/2 cups.", "2 1/2"),                   # a mixed number, not 2
    ("#### 1000,99", "1000,99"),
    ("The answer is 5. Wait, recheck.\nThe final answer is 6.", "6"),
    ("She has 3+4=7 teachers\nEach gift cost $10", "10"),   # last-number fallback
    ("so 1650-10=", ""),                                     # cut mid-expression
    ("**72**", "72"),
]
MATH = [   # (response, answer as written, sure)
    ("so $x=\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}", True),
    ("The integers are \\boxed{-2} and \\boxed{1}.", "-2, 1", True),
    ("$x = \\boxed{3}$, $y = \\boxed{4}$", "(3, 4)", True),                      # several boxes, one tuple
    ("We get $x = \\boxed{3}$ and $y = \\boxed{4}$.", "(3, 4)", True),
    ("\\boxed{3} so far. Then \\boxed{4}", "4", True),
    (f"\\begin{{align*}}\nM &= \\boxed{{{MATRIX}\n\\end{{align*}}", MATRIX + "\n\\end{align*}", True),   # box not closed
    (f"\\begin{{align*}}\nM &= {MATRIX} \\\\\n\\end{{align*}}", f"M &= {MATRIX} \\\\", True),   # a display environment
    ("Hence there are $\\text{6}$ possible values of $x.$", "\\text{6}", True),   # not the mention of x
    ("The answer is $x = 5+5+1 = 1/3$.", "x = 5+5+1 = 1/3", True),
    ("We have $2^{10}.$", "2^{10}.", True),
    ("Thus, the possible rational roots are $\\pm 1$.\nThus, there are $4$ possible rational roots.",
     "", False),                                                               # looks like a loop: unsure
    ("The total is 2,74 $.", "2,74", True),
    ("So we need $x$ to satisfy\n$$x + 1 =", "", True),
]


@pytest.mark.parametrize("response,answer", NUMERIC)
def test_numeric_extraction_table(response, answer):
    assert extract(response, numeric=True) == Found(answer)


@pytest.mark.parametrize("response,answer,sure", MATH)
def test_math_extraction_table(response, answer, sure):
    assert extract(response, numeric=False) == Found(answer, sure)


def test_spans_and_boxes():
    spans = math_spans("a $x$ b \\[y\\] c $$z$$ \\(w\\) \\$5 and $ unclosed \\begin{align*} v \\end{align*}")
    assert [(s.content, s.display) for s in spans] == [("x", False), ("y", True), ("z", True), ("w", False),
                                                       ("v", True)]
    assert math_spans("one $ per\nline $") == []            # inline math stays on one line
    assert boxed_answer("\\boxed{-2} and \\boxed{1}") == "-2, 1"
    assert boxed_answer("\\boxed{3} so far. Then \\boxed{4}") == "4"   # text between: separate answers
    assert boxed_answer("\\boxed{\\frac{1}{\\sqrt{2}}}") == "\\frac{1}{\\sqrt{2}}"
    assert unclosed_box("\\boxed{\\frac{1}{2}\n\\]", 0) == "\\frac{1}{2}\n\\]"
    assert unclosed_box("\\boxed{\\frac{1}{2}}", 0) is None      # closed
    assert unclosed_box("\\boxed{\\frac{1}{", 0) is None         # cut off inside the answer


def test_span_scan_is_linear(monkeypatch):
    """Unclosed openers cost one failed search each kind, not one per opener: the characters the
    closer searches look at stay within a small multiple of the text (a quadratic scan of these
    texts looks at ~10^11)."""
    scanned = []
    real = spans._find_unescaped

    def counting(text, token, start, stop):
        at = real(text, token, start, stop)
        scanned.append((at if at >= 0 else stop) - start)
        return at
    monkeypatch.setattr(spans, "_find_unescaped", counting)
    for text in ("\\[" * 200_000, "$" * 400_000, "\\(" + "x" * 400_000, "$$ 1 " * 80_000,
                 "\\begin{align*}" * 30_000, "\\boxed{" * 50_000):
        scanned.clear()
        math_spans(text)
        assert sum(scanned) <= 2 * len(text), text[:20]
