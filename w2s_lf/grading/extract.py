"""Robust extraction: where a response states its final answer (pure functions).

The last stated final answer wins: among `#### X`, `The answer is: X`, `The answer is X`, `The
final answer is X`, `Final Answer: X`, `**Answer:** X` and `\\boxed{X}`, the marker that comes
last (a chat model that restates or corrects itself means its last answer). For numeric tasks, a
marker without a number is skipped and the last number of the response is the fallback (on the
last lines only, and never on a response that ends inside a generation loop: the token limit cut
it off before any answer). Like the paper, text after a `Question:` line (the model starting a
new question) is ignored; unlike the paper, only at the start of a line, so that "Question 2
asks..." survives. Text after a chat model's end-of-turn token (`<|im_start|>`, `<|eot_id|>`, ...)
is ignored too.

For MATH-style (non-numeric) tasks: boxes that state one answer together are joined
(`\\boxed{-2} and \\boxed{1}`); after a phrase marker the answer is the math that follows, or what
follows "is" ("The largest $n$ is 34"); without any marker, the response itself when it is a
bare answer (`[0,1)`, `10/9`), else the last display or inline math or the last number,
whichever comes later (`spans.py`), again never on a response cut off mid-way.

Only the last `MAX_TAIL_CHARS` of a response are searched: the final answer is at the end, and
the cap makes every step linear in a bounded input whatever the response length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from w2s_lf.grading import numbers
from w2s_lf.grading.spans import box_end, boxed_answer, math_spans, unclosed_box
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
_SENTENCE_END = re.compile(r"\.(?:\s|$)")
_UNFINISHED = ("+", "-", "*", "/", "=", "×", "(", ",", ":")
LOOP_PROBE_CHARS = 24
_END_OF_TURN = ("<|im_start|>", "<|im_end|>", "<|eot_id|>", "<|endoftext|>", "</s>")
BARE_ANSWER_CHARS = 80     # a response or final line this short may be the answer itself
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\{\w+\}(?:\{[lcr|]*\})?")
_SENTENCE_BREAK = re.compile(r"\.(?:\s|$)|\n")
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
_PERCENT_AFTER = re.compile(r"\s?(?:\\?%|percent\b)")
_VARIABLE = re.compile(r"[A-Za-z](?:_\{?\w{1,3}\}?)?|\\(?!pi\b)[a-z]+")   # a lone name: x, a_1, \theta
_MENTIONED = re.compile(r"\b(?:of|for|in|on|with|where|when|all)\s*$")   # "values of $x$", not "is $C$"
_BOLD = re.compile(r"(?<![\w)}])\*\*|\*\*(?![\w({])")   # markdown's **72**, not the power in 2**3


def _unbold(text: str) -> str:
    return _BOLD.sub("", text) if "**" in text else text


def _cut(response: str) -> str:
    at = response.find("\nQuestion:")
    text = response if at < 0 else response[:at]
    for end_of_turn in _END_OF_TURN:   # a chat model that runs on past its turn
        at = text.find(end_of_turn)
        if at >= 0:
            text = text[:at]
    return text[-MAX_TAIL_CHARS:].strip()


def _line_after(text: str, start: int) -> str:
    end = text.find("\n", start)
    rest = (text[start:] if end < 0 else text[start:end]).strip()
    if not rest and end >= 0:   # "Answer:\n\n72"
        nxt = text[end:end + MAX_CANDIDATE_CHARS].strip()
        rest = nxt.split("\n", 1)[0] if nxt else ""
    return rest[:MAX_CANDIDATE_CHARS]


def _clean(candidate: str, numeric: bool) -> str | None:
    """The answer inside a marker's text, or None when it holds none."""
    c = _unbold(candidate).strip()
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
        return numbers.single_number(c) or c
    return c or None


@dataclass(frozen=True)
class Found:
    """A final answer as written in a response ("" when there is none), and whether that is
    certain: False when a MATH response that marks no answer seemed to end in a generation loop
    (a heuristic; math-verify may read an answer there)."""
    answer: str
    sure: bool = True


def extract(response: str, numeric: bool) -> Found:
    """The final answer of a response (see the module docstring)."""
    text = _cut(response)
    markers = list(_MARKERS.finditer(text))[-MAX_MARKERS:]
    for m in reversed(markers):
        if m.group(0).endswith("{"):   # \boxed{ / \fbox{
            if numeric:
                candidate = last_boxed(text[m.start():m.start() + MAX_TAIL_CHARS])
            else:   # this box, with the boxes just before it that state the answer together
                end = box_end(text, m.start())
                candidate = unclosed_box(text, m.start()) if end is None else boxed_answer(text[:end])
                if candidate:
                    return Found(candidate)
        else:
            candidate = _line_after(text, m.end())
        if candidate:
            answer = _clean(candidate, numeric) if numeric else math_answer_in(candidate)
            if answer:
                return Found(answer)
    if numeric:
        return Found(_last_number_fallback(text))
    return _math_fallback(text)


def _outside(spans, start: int, stop: int):
    """(start, stop) pieces of text[start:stop] that lie outside every math span."""
    at = start
    for span in spans:
        if span.end <= at or span.start >= stop:
            continue
        if span.start > at:
            yield at, span.start
        at = max(at, span.end)
    if at < stop:
        yield at, stop


def _first_number(text: str) -> str | None:
    m = numbers.STANDALONE_NUMBER.search(text)
    if m is None:
        return None
    percent = _PERCENT_AFTER.match(text, m.end())
    return m.group(0) + ("%" if percent else "")


def math_answer_in(candidate: str) -> str | None:
    """The answer in the text after a marker of a MATH-style response: "$\\frac{3}{4}$. I hope it
    is correct." gives `\\frac{3}{4}`, "The largest $n$ is 34." gives `34`, "\\text{Monday}" itself."""
    c = _unbold(candidate).strip()
    spans = math_spans(c)
    if spans and spans[0].start == 0:
        return spans[0].content or None
    end = len(c)
    for start, stop in _outside(spans, 0, len(c)):
        m = _SENTENCE_BREAK.search(c, start, stop)
        if m:
            end = m.start()
            break
    sentence = c[:end].strip()
    spans = [s for s in spans if s.end <= end]
    is_at = max((sentence.rfind(w, a, b) for a, b in _outside(spans, 0, len(sentence))
                 for w in (" is ", " are ")), default=-1)
    if is_at >= 0:
        tail = sentence[is_at + 4:].strip()
        inner = math_spans(tail)
        if inner and inner[0].start == 0:
            return inner[0].content or None
        return tail or None
    if spans:
        return spans[-1].content or None
    if _WORD.search(sentence) and not _bare(sentence):
        return _first_number(sentence) or sentence or None
    return sentence or None


def _bare(line: str) -> bool:
    """Whether a line reads as an answer by itself: math, a number, or at most two words."""
    if len(line) > BARE_ANSWER_CHARS:
        return False
    return len(_WORD.findall(_ENVIRONMENT.sub("", line.replace("\\text{", "{")))) <= 2


def _math_fallback(text: str) -> Found:
    """No marker: the response itself if it is a bare answer, else the last piece of math or the
    last number, whichever comes later; nothing for a response cut off mid-way (see
    `_last_number_fallback`)."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if not lines or _unfinished(lines):
        return Found("")
    if _looping(text, lines):
        return Found("", sure=False)
    return Found(_last_math_or_number(text, lines))


def _last_math_or_number(text: str, lines: list[str]) -> str:
    spans = math_spans(text)
    while len(spans) > 1 and _VARIABLE.fullmatch(spans[-1].content.rstrip(".,")) \
            and _MENTIONED.search(text, 0, spans[-1].start):   # "possible values of $x.$": a mention
        spans.pop()
    last = lines[-1].rstrip(".")
    if len(lines) == 1 and _bare(last) and not spans:
        return last
    line_start = text.rfind(lines[-1])
    if "$" not in last and "\\[" not in last and "\\(" not in last and _bare(last) \
            and any(ch.isdigit() or ch in "\\([" for ch in last) and not (spans and spans[-1].end > line_start):
        return last
    tail_from = spans[-1].end if spans else 0
    number = None
    for start, stop in _outside(spans, tail_from, len(text)):
        found = [m for m in numbers.STANDALONE_NUMBER.finditer(text, start, stop)]
        if found:
            number = _first_number(text[found[-1].start():stop])
    if number is not None:
        return number
    return spans[-1].content if spans else ""


def _unfinished(lines: list[str]) -> bool:
    """Whether the response ends mid-expression ("so 1650-10=")."""
    return _unbold(lines[-1]).rstrip(".").endswith(_UNFINISHED)


def _looping(text: str, lines: list[str]) -> bool:
    """Whether the response ends inside a generation loop: its last line repeats an earlier line,
    whole or in part."""
    last = _unbold(lines[-1]).rstrip(".")
    if len(lines) > 1 and any(line.startswith(last) for line in lines[:-1]):
        return True
    probe = last[-LOOP_PROBE_CHARS:]
    return len(probe) == LOOP_PROBE_CHARS and text.find(probe) != text.rfind(probe)


def _last_number_fallback(text: str) -> str:
    """The last standalone number of the last lines that hold one, unless the response is a
    generation loop cut off by the token limit (its last line repeats an earlier line, whole or
    in part): such a response states no answer, whatever numbers it repeats."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if not lines or _unfinished(lines) or _looping(text, lines):
        return ""
    for line in reversed(lines[-FALLBACK_LINES:]):
        number = numbers.last_standalone_number(line)
        if number is not None:
            return number if len(number) <= numbers.MAX_NUMBER_CHARS else ""
    return ""
