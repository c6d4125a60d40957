"""Robust grading: extraction that survives real model outputs, equivalence that is right.

Extraction takes the last stated final answer: among `#### X`, `The answer is: X`, `The answer
is X`, `The final answer is X`, `Final Answer: X`, `**Answer:** X` and `\\boxed{X}`, the marker that
comes last wins (a chat model that restates or corrects itself means its last answer). For
numeric tasks, a marker without a number is skipped and the last number of the response is the
fallback (on the last lines only, and never on a response that ends inside a generation
loop: the token limit cut it off before any answer). Like the paper, text after a `Question:` line (the model starting a new question) is
ignored; unlike the paper, only at the start of a line, so that "Question 2 asks..." survives.

Only the last `MAX_TAIL_CHARS` of a response are searched: the final answer is at the end, and
the cap makes every step linear in a bounded input whatever the response length.

Answers are canonicalised so that equal plain numbers get equal strings (majority voting
compares strings): `1,000`, `1000.00` and `$1000` all become `1000`. Comparison then goes
(1) canonical string equality, (2) exact numbers (`numbers.py`), (3) text answers without
case, (4) math-verify for everything else (`symbolic.py`).
"""

from __future__ import annotations

import re

from w2s_lf.grading import numbers
from w2s_lf.grading.symbolic import symbolic_equal
from w2s_lf.latex import last_boxed

MAX_TAIL_CHARS = 16_000
MAX_MARKERS = 8          # markers examined, from the last one back
MAX_CANDIDATE_CHARS = 400
FALLBACK_LINES = 3       # the last-number fallback looks at this many final lines

_MARKERS = re.compile(
    r"####|\\boxed\s?\{|\\fbox\s?\{"
    r"|the\s(?:final\s)?answer\sis(?:\s?:)?"
    r"|final\sanswer\s?:"
    r"|(?:^|\n)[ \t>#*_]*answer[*_]*\s?:[*_]*",
    re.IGNORECASE)
_MATH_SPAN = re.compile(r"\$\$?([^$]{1,400})\$")
_UNWRAP = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox|textit|operatorname)\{([^{}]*)\}")
_PLAIN_TEXT = re.compile(r"[A-Za-z][A-Za-z .,'()-]*")
_SPACING = ("\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\displaystyle", "^\\circ", "^{\\circ}",
            "\\$", "\u00a0")
_SENTENCE_END = re.compile(r"\.(?:\s|$)")
_NOT_ALONE = re.compile(r"[A-Za-z]|[ \t]?,[ \t]?-?\d|[ \t]?[-+*/×^][ \t]?[\w(]")
_UNFINISHED = ("+", "-", "*", "/", "=", "×", "(", ",", ":")
LOOP_PROBE_CHARS = 24


def _cut(response: str) -> str:
    at = response.find("\nQuestion:")
    text = response if at < 0 else response[:at]
    return text[-MAX_TAIL_CHARS:].strip()


def _line_after(text: str, start: int) -> str:
    end = text.find("\n", start)
    rest = (text[start:] if end < 0 else text[start:end]).strip()
    if not rest and end >= 0:   # "Answer:\n\n72"
        nxt = text[end:end + MAX_CANDIDATE_CHARS].strip()
        rest = nxt.split("\n", 1)[0] if nxt else ""
    return rest[:MAX_CANDIDATE_CHARS]


def _single_number(text: str) -> str | None:
    """The first number of `text` if nothing marks it as part of a list or an expression."""
    m = numbers.NUMBER_IN_TEXT.search(text)
    return None if m is None or _NOT_ALONE.match(text, m.end()) else m.group(0)


def _clean(candidate: str, numeric: bool) -> str | None:
    """The answer inside a marker's text, or None when it holds none."""
    c = candidate.replace("**", "").strip()
    if "\\boxed" in c or "\\fbox" in c:
        c = last_boxed(c) or c
    math = _MATH_SPAN.search(c)
    if math and c.startswith("$"):
        c = math.group(1)
    elif not numeric:
        end = _SENTENCE_END.search(c)
        c = c[:end.start()] if end else c
    c = c.strip().rstrip(".").strip()
    if numeric:
        if numbers.parse_number(c) is not None:
            return c
        if "=" in c:
            c = c.rsplit("=", 1)[1].strip()
        if numbers.NUMBER_IN_TEXT.search(c) is None:
            return None
        # "72 clips" is 72; "64, 82", "5x" and "7x + 11" are not one number: keep the text,
        # which then matches a gold only if it is the same text.
        return _single_number(c) or c
    return c or None


def extract_raw(response: str, numeric: bool) -> str:
    """The final answer as written in the response ("" when there is none)."""
    text = _cut(response)
    markers = list(_MARKERS.finditer(text))[-MAX_MARKERS:]
    for m in reversed(markers):
        if m.group(0).endswith("{"):   # \boxed{ / \fbox{
            inner = last_boxed(text[m.start():m.start() + MAX_TAIL_CHARS])
            candidate = inner if inner is not None else None
        else:
            candidate = _line_after(text, m.end())
        if candidate:
            answer = _clean(candidate, numeric)
            if answer:
                return answer
    if numeric:
        return _last_number_fallback(text)
    return ""


def _last_number_fallback(text: str) -> str:
    """The last standalone number of the last lines that hold one, unless the response is a
    generation loop cut off by the token limit (its last line repeats an earlier line, whole or
    in part): such a response states no answer, whatever numbers it repeats."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if not lines:
        return ""
    last = lines[-1].rstrip(".")
    if last.endswith(_UNFINISHED):                      # cut off mid-expression
        return ""
    if len(lines) > 1 and any(line.startswith(last) for line in lines[:-1]):
        return ""                                       # cut off inside a repeated line
    probe = last[-LOOP_PROBE_CHARS:]
    if len(probe) == LOOP_PROBE_CHARS and text.find(probe) != text.rfind(probe):
        return ""                                       # the ending repeats earlier text
    for line in reversed(lines[-FALLBACK_LINES:]):
        number = numbers.last_standalone_number(line)
        if number is not None:
            return number if len(number) <= numbers.MAX_NUMBER_CHARS else ""
    return ""


def canonical(answer: str, numeric: bool) -> str:
    """A canonical string for an answer: plain numbers exactly formatted, LaTeX tidied."""
    s = str(answer).strip()
    if len(s) > MAX_TAIL_CHARS:
        s = s[:MAX_TAIL_CHARS]
    number = numbers.parse_number(s)
    if number is None and numeric:   # "72 clips", "$1,000.00 dollars"
        first = _single_number(s.replace("$", ""))
        if first is not None and s.replace(",", "").startswith(("$" + first, first, "-$" + first[1:])):
            number = numbers.parse_number(first)
    if number is not None:
        if numeric:
            number = numbers.Number(number.value)
        return numbers.format_number(number)
    s = s.replace("$", "").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    for noise in _SPACING:
        s = s.replace(noise, "")
    for _ in range(3):
        s = _UNWRAP.sub(r"\1", s)
    if s.startswith("\\boxed{") and s.endswith("}"):
        s = s[7:-1]
    s = s.strip().rstrip(".").strip()
    if len(s) == 3 and s[0] == "(" and s[2] == ")" and s[1].isalpha():   # (C) -> C
        s = s[1]
    if _PLAIN_TEXT.fullmatch(s) and " " in s:
        s = " ".join(s.split())
    else:
        s = "".join(s.split())
    number = numbers.parse_number(s)   # numbers that were wrapped: \text{5}, 5\,\%
    return numbers.format_number(number) if number is not None else s


def extract(response: str, numeric: bool) -> str:
    raw = extract_raw(response, numeric)
    return canonical(raw, numeric) if raw else ""


def compare(pred: str, gold: str, numeric: bool) -> tuple[bool, str | None]:
    """(correct, reason) for two canonical answers; reason says why a check could not decide."""
    if not pred:
        return False, "no answer found"
    if pred == gold:
        return True, None
    p, g = numbers.parse_number(pred), numbers.parse_number(gold)
    if p is not None and g is not None:
        return numbers.numbers_equal(p, g, numeric), None
    if numeric:   # a number against a non-number (a clock time, a word): no symbolic meaning
        return False, None
    if _PLAIN_TEXT.fullmatch(pred) and _PLAIN_TEXT.fullmatch(gold):   # words: no symbolic meaning
        return "".join(pred.split()).casefold() == "".join(gold.split()).casefold(), None
    return symbolic_equal(pred, gold)
