"""The MATH fast path: answers parsed into exact or numeric values by a small safe parser.

Most MATH answers are constants: `\\frac{3}{56}`, `3\\sqrt{13}`, `\\frac{9\\pi}{4}`, `(3, \\frac{\\pi}{2})`,
`[-1, 0) \\cup (1, \\infty)`, `\\{1, -2\\}`, a matrix. Their values decide equivalence in microseconds,
where sympy needs milliseconds. This module reads an answer's structure (tuple, interval, set,
union, matrix, mixed number, base-n numeral, percentage) from a token list; each scalar goes to
the safe expression evaluator of `evaluate.py`. Nothing is ever evaluated as code.

`fast_equal` answers True or False only when both sides are fully understood constants of
comparable kinds, and None otherwise (variables, functions, relations, `\\pm`, a set against a
tuple): the caller then asks the symbolic layer. The rules follow math-verify's, so that the
fast path and the symbolic layer agree:

- a value written as a decimal equals another when both round to the same 6 decimals
  (`0.333333` is `\\frac13`, `0.33` is not); other constants must agree to 1e-9 (relative);
- a percentage equals its number and its fraction: `28\\%` is `28` and `0.28`;
- tuples and intervals are ordered and keep their brackets (`(0,1)` is not `[0,1]`); sets and
  bare lists (`-2, 1`) are unordered; matrices compare entry by entry;
- a mixed number is a sum: `2\\frac{1}{2}` is `\\frac52`.

Bounded: inputs pass `bounded.check_expression` (length, nesting, powers, factorials), groups
and matrices hold at most `MAX_ITEMS` items, and `evaluate.py` caps every power and root.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from w2s_lf.grading.bounded import Rejected, check_expression
from w2s_lf.grading.evaluate import Expression, Undecided, divide

MAX_ITEMS = 32
REL_TOL = 1e-9
DECIMAL_PLACES = 6
_TOKEN = re.compile(r"\d+(?:\.\d*)?|\.\d+|\\[A-Za-z]+|\\[{}]|\\\\|[A-Za-z]|[-+*/^_!(),\[\]{}&%|]|\S")
_MIXED = re.compile(r"(-?)(\d+)\\frac\{(\d+)\}\{(\d+)\}")
_BASED = re.compile(r"(\d+)_\{?(\d+)\}?")
_MATRIX = re.compile(r"\\begin\{([pbBv]?matrix|array)\}(.*)\\end\{\1\}", re.DOTALL)
# Relations, `\pm`, gaps and set operations other than a union: the symbolic layer's business.
_UNDECIDED_TOKENS = frozenset((
    "=", "<", ">", "|", ":", ".", "\\le", "\\ge", "\\ne", "\\lt", "\\gt", "\\pm", "\\mp", "\\approx",
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
class Based:
    digits: str
    base: str


# ---- answers: values, groups, matrices ----------------------------------------------------------

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


def _scalar(tokens: list[str]) -> Real:
    percent = bool(tokens) and tokens[-1] == "%"
    if percent:
        tokens = tokens[:-1]
    body = [t for t in tokens if t not in ("+",)] if tokens[:1] == ["+"] else tokens
    decimal = len(body) in (1, 2) and "." in body[-1] and body[-1][0] in "0123456789." and (
        len(body) == 1 or body[0] == "-")
    value = Expression(tokens).parse()
    return Real(value, decimal, percent)


def _item(tokens: list[str]):
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
    if _wrapped(tokens) and len(tokens) > 2 and (
            (tokens[0] == "\\{" and tokens[-1] == "\\}")
            or (tokens[0] in ("(", "[") and tokens[-1] in (")", "]") and len(_split_top(tokens[1:-1], (",",))) > 1)):
        return _group(tokens)
    return _scalar(tokens)


def _group(tokens: list[str]) -> Group:
    left, right = tokens[0], tokens[-1]
    if left == "\\{":
        if right != "\\}":
            raise Undecided("unclosed set")
        left, right = "{", "}"
    elif left not in ("(", "[") or right not in (")", "]"):
        raise Undecided("not a tuple or interval")
    parts = _split_top(tokens[1:-1], (",",))
    if len(parts) > MAX_ITEMS:
        raise Undecided("too many items")
    return Group(tuple(_item(p) for p in parts), left, right)


def _matrix(text: str) -> Matrix:
    m = _MATRIX.fullmatch(text)
    if m is None or m.group(1) == "vmatrix":
        raise Undecided("not a matrix")
    body = m.group(2)
    if m.group(1) == "array":
        body = re.sub(r"^\{[lcr|]*\}", "", body)
    tokens = _TOKEN.findall(body)
    rows = [row for row in _split_top(tokens, ("\\\\",)) if row]
    cells = tuple(tuple(_item(cell) for cell in _split_top(row, ("&",))) for row in rows)
    if not cells or len({len(row) for row in cells}) != 1 or len(cells) * len(cells[0]) > MAX_ITEMS:
        raise Undecided("ragged or large matrix")
    return Matrix(cells)


def value_of(text: str):
    """The value of a canonical answer (`mathtext.canonical_math`), or raise Undecided."""
    try:
        check_expression(text)
    except Rejected as e:
        raise Undecided(str(e)) from None
    if text.startswith(("\\begin{", "[\\begin{array}")):
        return _matrix(text[1:-1] if text.startswith("[") and text.endswith("]") else text)
    tokens = _TOKEN.findall(text)
    if not _UNDECIDED_TOKENS.isdisjoint(tokens):
        raise Undecided("a relation, a gap or a set operation")
    if "\\cup" in tokens:
        parts = _split_top(tokens, ("\\cup",))
        groups = tuple(_item(p) for p in parts)
        if not all(isinstance(g, Group) for g in groups):
            raise Undecided("a union of non-intervals")
        return Union(groups)
    items = _split_top(tokens, (",",))
    if len(items) > 1:
        if len(items) > MAX_ITEMS:
            raise Undecided("too many items")
        return Group(tuple(_item(p) for p in items), "", "")
    return _item(tokens)


# ---- comparison ----------------------------------------------------------------------------------

def _rounded(x) -> Fraction:
    return round(Fraction(x), DECIMAL_PLACES)


def _numbers_equal(a, b, decimal: bool) -> bool:
    if isinstance(a, Fraction) and isinstance(b, Fraction) and a == b:
        return True
    if (isinstance(a, float) and math.isinf(a)) or (isinstance(b, float) and math.isinf(b)):
        return a == b
    if decimal:
        return _rounded(a) == _rounded(b)
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return False
    a, b = float(a), float(b)
    return abs(a - b) <= REL_TOL * max(1.0, abs(a), abs(b))


def _reals_equal(a: Real, b: Real) -> bool:
    decimal = a.decimal or b.decimal
    if _numbers_equal(a.value, b.value, decimal):
        return True
    if a.percent != b.percent:
        pct, plain = (a, b) if a.percent else (b, a)
        return _numbers_equal(divide(pct.value, Fraction(100)), plain.value, decimal)
    return False


def _all_equal(pairs) -> bool | None:
    verdict = True
    for a, b in pairs:
        same = _equal(a, b)
        if same is False:
            return False
        if same is None:
            verdict = None
    return verdict


def _sets_equal(a: tuple, b: tuple) -> bool | None:
    """Each item of either side equals some item of the other (duplicates allowed, like sets)."""
    def covered(xs, ys):
        verdict = True
        for x in xs:
            found = [_equal(x, y) for y in ys]
            if True in found:
                continue
            if None in found:
                verdict = None
            else:
                return False
        return verdict
    first = covered(a, b)
    if first is False:
        return False
    second = covered(b, a)
    if second is False:
        return False
    return True if first and second else None


def _equal(a, b) -> bool | None:
    if isinstance(a, Real) and isinstance(b, Real):
        return _reals_equal(a, b)
    if isinstance(a, Group) and isinstance(b, Group):
        if a.ordered and b.ordered:
            if (a.left, a.right) != (b.left, b.right) or len(a.items) != len(b.items):
                return False
            return _all_equal(zip(a.items, b.items))
        if not a.ordered and not b.ordered:
            return _sets_equal(a.items, b.items)
        return None
    if isinstance(a, Matrix) and isinstance(b, Matrix):
        if len(a.rows) != len(b.rows) or len(a.rows[0]) != len(b.rows[0]):
            return False
        return _all_equal((x, y) for ra, rb in zip(a.rows, b.rows) for x, y in zip(ra, rb))
    if isinstance(a, Union) and isinstance(b, Union):
        if len(a.parts) == len(b.parts) and _all_equal(zip(a.parts, b.parts)):
            return True
        return None   # the same set may be written as other pieces
    if isinstance(a, Based) and isinstance(b, Based):
        return (a.digits, a.base) == (b.digits, b.base)
    for x, y in ((a, b), (b, a)):
        if isinstance(x, Real) and isinstance(y, Group):
            if not y.ordered and len(y.items) == 1:
                return _equal(x, y.items[0])
            return False
        if isinstance(x, Real) and isinstance(y, (Matrix, Union)):
            return False
    return None


def fast_equal(pred: str, gold: str) -> bool | None:
    """True or False when both canonical answers are understood constants, else None."""
    try:
        return _equal(value_of(pred), value_of(gold))
    except Undecided:
        return None
    except (ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return None
