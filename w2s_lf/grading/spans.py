"""Where the math is in a response: delimited spans and runs of `\\boxed{}` answers, in linear time.

A MATH response states its answer in `\\boxed{}`, after a phrase ("The answer is"), or only as
its last piece of math: display math (`\\[..\\]`, `$$..$$`, `\\begin{align*}..\\end{align*}` and the other display environments, multi-line
allowed) or inline math
(`$..$`, `\\(..\\)`, one line). `math_spans` finds every span in one left-to-right pass; an
opener without a closer is plain text. Each search for a closer either succeeds (and the scan
jumps past it) or fails once for good (no later opener of that kind can close either), so the
scan is linear even on adversarial input, unlike the lazy regexes (`\\$(.*?)\\$`) it replaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from w2s_lf.latex import last_boxed

MAX_JOINED_BOXES = 6
_BOX_COMMANDS = ("\\boxed", "\\fbox")
# What may stand between two boxed answers that state one answer together: "\boxed{-2} and \boxed{1}",
# "$x = \boxed{3}$, $y = \boxed{4}$" (spaces and `$` removed first).
_JOINER = re.compile(r"(?:,|;|and|,and|or|\\text\{and\}|\\quad|\\qquad)?([A-Za-z](?:_\{?\w{1,3}\}?)?=)?")


_DELIMITER_OR_ESCAPE = re.compile(r"[$\\]")
_DISPLAY_ENVIRONMENT = re.compile(r"\\begin\{((?:align|equation|gather|eqnarray|multline|displaymath)\*?)\}")


@dataclass(frozen=True)
class Span:
    start: int      # index of the opening delimiter
    end: int        # index just past the closing delimiter
    content: str
    display: bool


def _find_unescaped(text: str, token: str, start: int, stop: int) -> int:
    """First `token` in text[start:stop] not preceded by a backslash, or -1."""
    while True:
        at = text.find(token, start, stop)
        if at <= 0 or text[at - 1] != "\\":
            return at
        start = at + len(token)


def math_spans(text: str) -> list[Span]:
    """Every math span of `text`, in order."""
    spans: list[Span] = []
    closed_for_good: set[str] = set()   # closers already known to be absent from here on
    n, i = len(text), 0
    while i < n:
        found = _DELIMITER_OR_ESCAPE.search(text, i)
        if found is None:
            break
        i = found.start()
        ch = text[i]
        if ch == "$":   # an escaped `\$` was skipped with its backslash
            if text.startswith("$$", i):
                opener, closer, display, stop = "$$", "$$", True, n
            else:
                line_end = text.find("\n", i)
                opener, closer, display, stop = "$", "$", False, n if line_end < 0 else line_end
        elif ch == "\\" and i + 1 < n and text[i + 1] in "[(":
            opener = text[i:i + 2]
            closer = "\\]" if opener == "\\[" else "\\)"
            display = opener == "\\["
            line_end = -1 if display else text.find("\n", i)
            stop = n if line_end < 0 else line_end
        elif ch == "\\" and text.startswith("\\begin{", i) and _DISPLAY_ENVIRONMENT.match(text, i):
            opener = _DISPLAY_ENVIRONMENT.match(text, i).group(0)
            closer, display, stop = "\\end" + opener[len("\\begin"):], True, n
        elif ch == "\\":
            i += 2   # an escaped character (`\$`, `\\`) opens nothing
            continue
        key = closer if display else ""
        at = -1 if key in closed_for_good else _find_unescaped(text, closer, i + len(opener), stop)
        if at < 0:
            if display:
                closed_for_good.add(key)
            i += len(opener)
            continue
        spans.append(Span(i, at + len(closer), text[i + len(opener):at].strip(), display))
        i = at + len(closer)
    return spans


def _box_starts(text: str) -> list[int]:
    starts = []
    for command in _BOX_COMMANDS:
        at = text.find(command)
        while at >= 0:
            starts.append(at)
            at = text.find(command, at + 1)
    return sorted(starts)


def _box_extent(text: str, start: int) -> tuple[int, int] | None:
    """(index of the `{` of the box command at `start`, index just past its closing brace, or
    minus the depth still open when it never closes); None when `start` holds no box command."""
    brace = text.find("{", start)
    if brace < 0 or text[start:brace].strip() not in _BOX_COMMANDS:
        return None
    depth = 0
    for i in range(brace, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return brace, i + 1
    return brace, -depth


def box_end(text: str, start: int) -> int | None:
    """Index just past the closing brace of the box command at `start`, or None."""
    extent = _box_extent(text, start)
    return extent[1] if extent is not None and extent[1] > 0 else None


def unclosed_box(text: str, start: int) -> str | None:
    """The content of the box command at `start` when only its own closing brace is missing (the
    content's braces balance): `\\boxed{\\begin{pmatrix}..\\end{pmatrix}\\n\\end{align*}`. None
    otherwise (closed, or cut off inside the answer)."""
    extent = _box_extent(text, start)
    return text[extent[0] + 1:].strip() if extent is not None and extent[1] == -1 else None


def boxed_answer(text: str) -> str | None:
    """The content of the last `\\boxed{}`/`\\fbox{}`, joined with the boxes just before it that
    state the same answer ("\\boxed{-2} and \\boxed{1}" gives "-2, 1"), or None. Boxes that
    give variables their values in turn state a tuple, in order: "$x = \\boxed{3}$ and
    $y = \\boxed{4}$" gives "(3, 4)".

    Only the last few boxes are examined (so the cost stays linear): a box belongs to the answer
    when nothing but a joiner (",", "and", "or", `$`, spaces, and the next variable's `y =`)
    separates it from the next.
    """
    last = last_boxed(text, _BOX_COMMANDS)
    if last is None:
        return None
    starts = _box_starts(text)[-MAX_JOINED_BOXES:]
    parts, following, assigned = [last], starts[-1] if starts else -1, False
    for start in reversed(starts[:-1]):
        end = box_end(text, start)
        if end is None or end > following:
            break
        joiner = _JOINER.fullmatch("".join(text[end:following].replace("$", "").split()).rstrip(","))
        if not joiner:
            break
        assigned = assigned or bool(joiner.group(1))
        parts.append(text[text.find("{", start) + 1:end - 1])
        following = start
    joined = ", ".join(reversed(parts))
    return f"({joined})" if assigned else joined
