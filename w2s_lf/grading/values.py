"""Reading MATH-style answers into values with a small safe parser (the fast path's first half).

Most MATH answers are constants: `\\frac{3}{56}`, `3\\sqrt{13}`, `\\frac{9\\pi}{4}`, `(3, \\frac{\\pi}{2})`,
`[-1, 0) \\cup (1, \\infty)`, `\\{1, -2\\}`, a matrix. This module reads an answer's structure
(tuple, interval, set, union, matrix, `a \\pm b`, mixed number, repeating decimal, ratio, base-n
numeral, percentage) from a token list; each scalar goes to the safe expression evaluator of
`expr.py`, with variables given values by `env` (or not read at all). Nothing is ever
evaluated as code. An item that cannot be read stays `Opaque`: the shape of its group may still
decide a comparison (a 4-item list is not a number). `compare.py` compares the values.

Conventions: tuples and intervals keep their brackets (`(0,1)` is not `[0,1]`); `\\{..\\}` and
bare lists (`-2, 1`) are sets; `a \\pm b` is the set {a+b, a-b}; `2\\frac{1}{2}` is a mixed number
(5/2); `0.1\\overline{6}` is 1/6; `3:4` is 3/4 (as math-verify reads them).

Bounded: inputs pass `bounded.check_expression` (length, nesting, powers, factorials), groups
and matrices hold at most `MAX_ITEMS` items, and `expr.py` caps every power, root and
exact value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from w2s_lf.grading.bounded import Rejected, check_expression
from w2s_lf.grading.expr import Expression, Undecided, divide

MAX_ITEMS = 32
_TOKEN = re.compile(r"\d+(?:\.\d*)?|\.\d+|\\[A-Za-z]+|\\[{}]|\\\\|[A-Za-z]|[-+*/^_!(),\[\]{}&%|]|\S")
_MIXED = re.compile(r"(-?)(\d+)\\frac\{(\d+)\}\{(\d+)\}")
_BASED = re.compile(r"(-?\d+)_\{?(\d+)\}?")
_REPEATING = re.compile(r"(-?)(\d*)\.(\d*)\\overline\{(\d+)\}")
_MATRIX = re.compile(r"\\begin\{([pbBv]?matrix|array)\}(.*)\\end\{\1\}", re.DOTALL)
# Relations, gaps and set operations other than a union: math-verify's business.
_UNDECIDED_TOKENS = frozenset((
    "=", "<", ">", "|", ".", "\\le", "\\ge", "\\ne", "\\lt", "\\gt", "\\approx",
    "\\in", "\\ldots", "\\to", "\\sim", "\\equiv", "\\cap", "\\setminus", "\\subset", "\\emptyset",
    "\\varnothing", "\\perp", "\\parallel"))


@dataclass(frozen=True)
class Real:
    value: Fraction | float
    decimal: bool = False    # written as one decimal literal: compared at DECIMAL_PLACES
    percent: bool = False


@dataclass(frozen=True)
class Group:
    items: tuple
    left: str                # "(" or "[" (ordered), "{" or "" (a set, a bare list)
    right: str

    @property
    def ordered(self) -> bool:
        return self.left in ("(", "[")


@dataclass(frozen=True)
class Matrix:
    rows: tuple


@dataclass(frozen=True)
class Union:
    parts: tuple


@dataclass(frozen=True)
class Opaque:
    """An item the reader could not evaluate; its group's shape may still decide a comparison."""
    why: Undecided


@dataclass(frozen=True)
class Based:
    digits: str
    base: str


# ---- reading answers: values, groups, matrices --------------------------------------------------

def _split_top(tokens: list[str], separators: tuple[str, ...]) -> list[list[str]]:
    parts, current, depth = [], [], 0
    for token in tokens:
        if token in ("(", "[", "{", "\\{", "\\begin"):
            depth += 1
        elif token in (")", "]", "}", "\\}", "\\end"):
            depth -= 1
        if depth == 0 and token in separators:
            parts.append(current)
            current = []
        else:
            current.append(token)
    parts.append(current)
    return parts


def _wrapped(tokens: list[str]) -> bool:
    """Whether the first token's bracket closes at the last token (`(1,2]` yes, `(1)(2)` no)."""
    depth = 0
    for k, token in enumerate(tokens):
        if token in ("(", "[", "{", "\\{"):
            depth += 1
        elif token in (")", "]", "}", "\\}"):
            depth -= 1
            if depth == 0 and k < len(tokens) - 1:
                return False
    return depth == 0


class _Reader:
    """Reads one canonical answer into a value; variables take `env`'s values (None: not read)."""

    def __init__(self, env=None):
        self.env = env
        self.failures: list[Undecided] = []   # why items are Opaque

    def answer(self, text: str):
        try:
            check_expression(text)
        except Rejected as e:
            raise Undecided(str(e)) from None
        if text.startswith(("\\begin{", "[\\begin{array}")):
            return self.matrix(text[1:-1] if text.startswith("[") and text.endswith("]") else text)
        tokens = _TOKEN.findall(text)
        if not _UNDECIDED_TOKENS.isdisjoint(tokens):
            raise Undecided("a relation, a gap or a set operation")
        if "\\cup" in tokens:
            parts = tuple(self.item(p) for p in _split_top(tokens, ("\\cup",)))
            if not all(isinstance(g, Group) for g in parts):
                raise Undecided("a union of non-intervals")
            return Union(parts)
        items = _split_top(tokens, (",",))
        if len(items) > 1:
            return self.collection(items, "", "")
        return self.item(tokens)

    def collection(self, parts: list[list[str]], left: str, right: str) -> Group:
        if len(parts) > MAX_ITEMS:
            raise Undecided("too many items")
        items = []
        for part in parts:
            item = self.opaque_or_item(part)
            if isinstance(item, Group) and item.left == "\\pm":
                if left in ("(", "["):
                    raise Undecided("\\pm inside a tuple")
                items.extend(item.items)   # {1 \pm \sqrt5, -2} holds three numbers
            else:
                items.append(item)
        return Group(tuple(items), left, right)

    def opaque_or_item(self, tokens: list[str]):
        try:
            return self.item(tokens)
        except Undecided as why:
            self.failures.append(why)
            return Opaque(why)

    def item(self, tokens: list[str]):
        if not tokens:
            raise Undecided("empty item")
        text = "".join(tokens)
        m = _MIXED.fullmatch(text)
        if m and int(m.group(3)) < int(m.group(4)):
            value = int(m.group(2)) + Fraction(int(m.group(3)), int(m.group(4)))
            return Real(-value if m.group(1) else value)
        m = _BASED.fullmatch(text)
        if m:
            return Based(m.group(1), m.group(2))
        m = _REPEATING.fullmatch(text)
        if m:   # 0.1\overline{6} = 1/6
            sign, whole, fixed, period = m.groups()
            value = int(whole or "0") + Fraction(int(fixed or "0"), 10 ** len(fixed)) \
                + Fraction(int(period), (10 ** len(period) - 1) * 10 ** len(fixed))
            return Real(-value if sign else value)
        ratio = _split_top(tokens, (":",))
        if len(ratio) == 2:   # 3:4 is the number 3/4 (as math-verify reads it)
            return Real(divide(self.scalar(ratio[0]).value, self.scalar(ratio[1]).value))
        if len(ratio) > 2:
            raise Undecided("a ratio of three")
        if _wrapped(tokens) and len(tokens) > 2:
            if tokens[0] == "\\{" and tokens[-1] == "\\}":
                return self.collection(_split_top(tokens[1:-1], (",",)), "{", "}")
            parts = _split_top(tokens[1:-1], (",",))
            if tokens[0] in ("(", "[") and tokens[-1] in (")", "]") and len(parts) > 1:
                return self.collection(parts, tokens[0], tokens[-1])
        if "\\pm" in tokens or "\\mp" in tokens:
            return self.plus_minus(tokens)
        return self.scalar(tokens)

    def plus_minus(self, tokens: list[str]) -> Group:
        """`a \\pm b` is the set {a + b, a - b} (as math-verify reads it)."""
        sides = _split_top(tokens, ("\\pm", "\\mp"))
        if len(sides) != 2:
            raise Undecided("\\pm inside brackets, or several")
        both = [sides[0] + [sign, "("] + sides[1] + [")"] for sign in ("+", "-")]
        return Group(tuple(self.scalar(t) for t in both), "\\pm", "")

    def scalar(self, tokens: list[str]) -> Real:
        percent = tokens[-1] == "%"
        if percent:
            tokens = tokens[:-1]
        body = tokens[1:] if tokens[:1] in (["-"], ["+"]) else tokens
        decimal = len(body) == 1 and "." in body[0] and body[0][0] in "0123456789."
        return Real(Expression(tokens, self.env).parse(), decimal, percent)

    def matrix(self, text: str) -> Matrix:
        m = _MATRIX.fullmatch(text)
        if m is None or m.group(1) == "vmatrix":
            raise Undecided("not a matrix")
        body = m.group(2)
        if m.group(1) == "array":
            body = re.sub(r"^\{[lcr|]*\}", "", body)
        rows = [row for row in _split_top(_TOKEN.findall(body), ("\\\\",)) if row]
        cells = tuple(tuple(self.opaque_or_item(cell) for cell in _split_top(row, ("&",))) for row in rows)
        if not cells or len({len(row) for row in cells}) != 1 or len(cells) * len(cells[0]) > MAX_ITEMS:
            raise Undecided("ragged or large matrix")
        return Matrix(cells)


def read(text: str, env=None):
    """(value, failures): the value of the answer, Opaque if unreadable, and why items were not read."""
    reader = _Reader(env)
    try:
        return reader.answer(text), reader.failures
    except Undecided as why:
        return Opaque(why), [*reader.failures, why]
