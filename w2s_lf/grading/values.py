"""The MATH fast path: answers parsed into exact or numeric values by a small safe parser.

Most MATH answers are constants: `\\frac{3}{56}`, `3\\sqrt{13}`, `\\frac{9\\pi}{4}`, `(3, \\frac{\\pi}{2})`,
`[-1, 0) \\cup (1, \\infty)`, `\\{1, -2\\}`, a matrix. Their values decide equivalence in microseconds,
where sympy needs milliseconds. This module reads an answer's structure (tuple, interval, set,
union, matrix, `a \\pm b`, mixed number, repeating decimal, ratio, base-n numeral, percentage)
from a token list; each scalar goes to the safe expression evaluator of `evaluate.py`. Nothing
is ever evaluated as code. An item that cannot be read stays `Opaque`: the shape of its group
may still decide (a 4-item list is not a number).

Answers with variables are compared at three sets of exact rational probe points: different at
one point means not equivalent (`3y` is not `108`, `x^2+4x+5` is not `x^2+4x+9`); equal at
all of them means equivalent (`19x(x^2+4)` is `19x^3+76x`), except when a function occurs,
whose branches a few points can miss (`\\arcsin(\\sin x)` is not `x`): that goes to math-verify.

`fast_equal` answers True or False when it can tell, and None otherwise (relations, `|x|`,
set operations other than a union, a set against a same-size tuple, unreadable items): the
caller then asks the symbolic layer. The rules follow math-verify's, so that the fast path
and the symbolic layer agree:

- a value written as a decimal equals another when both round to the same 6 decimals
  (`0.333333` is `\\frac13`, `0.33` is not); other values must agree to 1e-9 (relative), and
  differ by more than 1e-6 to be different (in between: undecided);
- a percentage equals its number and its fraction: `28\\%` is `28` and `0.28`;
- tuples and intervals are ordered and keep their brackets (`(0,1)` is not `[0,1]`); sets and
  bare lists (`-2, 1`) are unordered; unions of intervals are compared as sets of numbers;
  matrices compare entry by entry;
- a mixed number is a sum: `2\\frac{1}{2}` is `\\frac52`; `204_5` against `204` compares digits.

Bounded: inputs pass `bounded.check_expression` (length, nesting, powers, factorials), groups
and matrices hold at most `MAX_ITEMS` items, and `evaluate.py` caps every power, root and
exact value; `robust.py` also runs this under a deadline.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from fractions import Fraction

from w2s_lf.grading.bounded import Rejected, check_expression
from w2s_lf.grading.evaluate import Expression, Undecided, VariableFound, divide

MAX_ITEMS = 32
REL_TOL = 1e-9          # floats this close are equal
REL_APART = 1e-6        # ... this far apart, different; in between, undecided
DECIMAL_PLACES = 6
PROBE_ROUNDS = 3
_TOKEN = re.compile(r"\d+(?:\.\d*)?|\.\d+|\\[A-Za-z]+|\\[{}]|\\\\|[A-Za-z]|[-+*/^_!(),\[\]{}&%|]|\S")
_MIXED = re.compile(r"(-?)(\d+)\\frac\{(\d+)\}\{(\d+)\}")
_BASED = re.compile(r"(-?\d+)_\{?(\d+)\}?")
_REPEATING = re.compile(r"(-?)(\d*)\.(\d*)\\overline\{(\d+)\}")
_MATRIX = re.compile(r"\\begin\{([pbBv]?matrix|array)\}(.*)\\end\{\1\}", re.DOTALL)
_FUNCTION = re.compile(r"\\(?:sin|cos|tan|sec|csc|cot|arc|ln|log|exp)")
# Relations, gaps and set operations other than a union: the symbolic layer's business.
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


def value_of(text: str, env=None):
    """The value of a canonical answer (`mathtext.canonical_math`), or raise Undecided."""
    return _Reader(env).answer(text)


# ---- comparison ----------------------------------------------------------------------------------

def _rounded(x) -> Fraction:
    return round(Fraction(x), DECIMAL_PLACES)


def _numbers_equal(a, b, decimal: bool) -> bool | None:
    if isinstance(a, Fraction) and isinstance(b, Fraction) and a == b:
        return True
    if isinstance(a, complex) or isinstance(b, complex):
        a, b = complex(a), complex(b)
    elif (isinstance(a, float) and math.isinf(a)) or (isinstance(b, float) and math.isinf(b)):
        return a == b
    elif decimal:
        return _rounded(a) == _rounded(b)
    elif isinstance(a, Fraction) and isinstance(b, Fraction):
        return False
    gap, scale = abs(a - b), max(1.0, abs(a), abs(b))
    if gap <= REL_TOL * scale:
        return True
    return False if gap > REL_APART * scale else None


def _reals_equal(a: Real, b: Real) -> bool | None:
    decimal = a.decimal or b.decimal
    same = _numbers_equal(a.value, b.value, decimal)
    if same is not False or a.percent == b.percent:
        return same
    pct, plain = (a, b) if a.percent else (b, a)
    return _numbers_equal(divide(pct.value, Fraction(100)), plain.value, decimal)


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


def _has_duplicates(*groups: Group) -> bool:
    return any(len(set(g.items)) != len(g.items) or any(isinstance(x, Opaque) for x in g.items) for g in groups)


def _exact_endpoint(item) -> bool:
    return isinstance(item, Real) and not item.percent and (
        isinstance(item.value, Fraction) or (isinstance(item.value, float) and math.isinf(item.value)))


def _interval_set(value) -> list[tuple] | None:
    """A union of intervals and points with exact endpoints as sorted disjoint pieces
    (lo, lo_closed, hi, hi_closed), or None when it is not one."""
    pieces = []
    for part in value.parts if isinstance(value, Union) else (value,):
        if not isinstance(part, Group) or not all(_exact_endpoint(x) for x in part.items):
            return None
        if part.ordered and len(part.items) == 2:
            (lo, hi), closed = (x.value for x in part.items), (part.left == "[", part.right == "]")
            if lo < hi or (lo == hi and all(closed)):
                pieces.append((lo, closed[0], hi, closed[1]))
        elif not part.ordered:
            pieces.extend((x.value, True, x.value, True) for x in part.items)
        else:
            return None
    pieces.sort(key=lambda p: (p[0], not p[1]))
    merged: list[list] = []
    for lo, lo_closed, hi, hi_closed in pieces:
        if merged and (lo < merged[-1][2] or (lo == merged[-1][2] and (lo_closed or merged[-1][3]))):
            last = merged[-1]
            if hi > last[2] or (hi == last[2] and hi_closed):
                last[2], last[3] = hi, hi_closed
        else:
            merged.append([lo, lo_closed, hi, hi_closed])
    return [tuple(p) for p in merged]


def _equal(a, b) -> bool | None:
    if isinstance(a, Opaque) or isinstance(b, Opaque):
        return None
    if isinstance(a, Real) and isinstance(b, Real):
        return _reals_equal(a, b)
    if isinstance(a, Union) or isinstance(b, Union):
        if isinstance(a, (Union, Group)) and isinstance(b, (Union, Group)):
            sa, sb = _interval_set(a), _interval_set(b)
            if sa is not None and sb is not None:
                return sa == sb
            if isinstance(a, Union) and isinstance(b, Union) and len(a.parts) == len(b.parts) \
                    and _all_equal(zip(a.parts, b.parts)):
                return True
            return None
        return False if isinstance(a, (Real, Matrix)) or isinstance(b, (Real, Matrix)) else None
    if isinstance(a, Group) and isinstance(b, Group):
        if a.ordered and b.ordered:
            if (a.left, a.right) != (b.left, b.right) or len(a.items) != len(b.items):
                return False
            return _all_equal(zip(a.items, b.items))
        if not a.ordered and not b.ordered:
            return _sets_equal(a.items, b.items)
        # A set against a tuple: of different sizes, or against an interval with a closed end,
        # different; else math-verify has its own rules (it reads `(1,2)` as a tuple or an interval).
        ordered = a if a.ordered else b
        if (len(a.items) != len(b.items) and not _has_duplicates(a, b)) \
                or (len(ordered.items) == 2 and (ordered.left, ordered.right) != ("(", ")")):
            return False
        return None
    if isinstance(a, Matrix) and isinstance(b, Matrix):
        if len(a.rows) != len(b.rows) or len(a.rows[0]) != len(b.rows[0]):
            return False
        return _all_equal((x, y) for ra, rb in zip(a.rows, b.rows) for x, y in zip(ra, rb))
    if isinstance(a, Based) and isinstance(b, Based):
        return (a.digits, a.base) == (b.digits, b.base)
    for x, y in ((a, b), (b, a)):
        if isinstance(x, Based) and isinstance(y, Real):   # math-verify reads 204_5 as 204
            return _reals_equal(Real(Fraction(int(x.digits))), y)
        if isinstance(x, Real) and isinstance(y, Group):
            if not y.ordered and len(y.items) == 1:
                return _equal(x, y.items[0])
            return False
        if isinstance(x, Matrix) and isinstance(y, (Real, Group)):
            return False
    return None


# ---- deciding ------------------------------------------------------------------------------------

def _probe(round_: int):
    """Values for variables in one probe round: exact rationals in (1, 2) (round 0), in (-2, -1)
    (round 1, so that sqrt(x^2) is not x), of mixed signs (round 2); one per name and round."""
    def env(name: str) -> Fraction:
        h = zlib.crc32(f"{round_}:{name}".encode())
        value = Fraction(1009 + h % 1000, 1009)
        return -value if round_ == 1 or (round_ == 2 and h & 1024) else value
    return env


def _read(text: str, env=None):
    """(value, failures): the value of the answer, Opaque if unreadable, and why items were not read."""
    reader = _Reader(env)
    try:
        return reader.answer(text), reader.failures
    except Undecided as why:
        return Opaque(why), [*reader.failures, why]


def _probed(pred: str, gold: str) -> bool | None:
    """Compare answers with variables at probe points: different at one point is False; the
    same at every point is True, unless a function (whose branches a few points can miss) occurs."""
    verdict = True
    for round_ in range(PROBE_ROUNDS):
        env = _probe(round_)
        try:
            same = _equal(_read(pred, env)[0], _read(gold, env)[0])
        except (Undecided, ValueError, ZeroDivisionError, OverflowError, RecursionError):
            same = None
        if same is False:
            return False
        if same is None:
            verdict = None
    if verdict and (_FUNCTION.search(pred) or _FUNCTION.search(gold)):
        return None
    return verdict


def fast_equal(pred: str, gold: str) -> bool | None:
    """True or False when both canonical answers are understood, else None (see module docstring)."""
    try:
        (p, p_failures), (g, g_failures) = _read(pred), _read(gold)
        same = _equal(p, g)
        if same is not None:
            return same
        failures = p_failures + g_failures
        if failures and all(isinstance(why, VariableFound) for why in failures):
            return _probed(pred, gold)
        return None
    except (ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return None
