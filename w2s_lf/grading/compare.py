"""Robust comparison: whether two canonical answers are the same answer (pure functions).

`compare` answers True or False when it can tell, and None when it cannot: the caller then asks
math-verify (`defer.py`). In order: canonical string equality; exact numbers (`numbers.py`); for
numeric tasks nothing else (an expression or a word is not a number); for MATH-style tasks, text
answers without case, then the values of constants, tuples, intervals, sets and matrices, and
expressions with variables at probe points. Values decide equivalence in microseconds, where
sympy needs milliseconds. The rules follow math-verify's, so that both layers agree:

- a value written as a decimal equals another when both round to the same 6 decimals
  (`0.333333` is `\\frac13`, `0.33` is not); other values must agree to 1e-9 (relative), and
  differ by more than 1e-6 to be different (in between: undecided);
- a percentage equals its number and its fraction: `28\\%` is `28` and `0.28`;
- tuples and intervals are ordered (brackets must match); sets and bare lists are unordered;
  unions of intervals with exact ends are compared as sets of numbers; matrices entry by entry;
- `204_5` against `204` compares the digits (math-verify drops the base).

Answers with variables are compared at three sets of exact rational probe points: different at
one point means not equivalent (`3y` is not `108`, `x^2+4x+5` is not `x^2+4x+9`); equal at
all of them means equivalent (`19x(x^2+4)` is `19x^3+76x`), except when a function occurs,
whose branches a few points can miss (`\\arcsin(\\sin x)` is not `x`): undecided. The points are
fixed (a hash of the variable's name), so verdicts are reproducible.

Undecided: relations, `|x|`, set operations other than a union, a set against a same-size tuple,
unreadable items.
"""

from __future__ import annotations

import math
import re
import zlib
from fractions import Fraction

from w2s_lf.grading import numbers
from w2s_lf.grading.bounded import GradingTimeout, deadline
from w2s_lf.grading.expr import Undecided, VariableFound, divide
from w2s_lf.grading.normalise import canonical_math, math_number, split_top
from w2s_lf.grading.values import Based, Group, Matrix, Opaque, Real, Union, read

REL_TOL = 1e-9          # floats this close are equal
REL_APART = 1e-6        # ... this far apart, different; in between, undecided
DECIMAL_PLACES = 6
PROBE_ROUNDS = 3
FAST_SECONDS = 0.5      # a safety net: the value path is bounded by construction
_FUNCTION = re.compile(r"\\(?:sin|cos|tan|sec|csc|cot|arc|ln|log|exp)")
_PLAIN_TEXT = re.compile(r"[A-Za-z][A-Za-z .,'()-]*")
_CHOICES = frozenset("ABCDE")
_LONG_WORD = re.compile(r"[A-Za-z]{3,}")
_INEQUALITY = re.compile(r"[<>]=|(?<![\d)}])!=|=[<>]")   # `5!=120` is a factorial, then =


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


# ---- probing answers with variables ----------------------------------------------------------

def _probe(round_: int):
    """Values for variables in one probe round: exact rationals in (1, 2) (round 0), in (-2, -1)
    (round 1, so that sqrt(x^2) is not x), of mixed signs (round 2); one per name and round."""
    def env(name: str) -> Fraction:
        h = zlib.crc32(f"{round_}:{name}".encode())
        value = Fraction(1009 + h % 1000, 1009)
        return -value if round_ == 1 or (round_ == 2 and h & 1024) else value
    return env


def _probed(pred: str, gold: str) -> bool | None:
    """Compare answers with variables at probe points: different at one point is False; the
    same at every point is True, unless a function (whose branches a few points can miss) occurs."""
    verdict = True
    for round_ in range(PROBE_ROUNDS):
        env = _probe(round_)
        try:
            same = _equal(read(pred, env)[0], read(gold, env)[0])
        except (Undecided, ValueError, ZeroDivisionError, OverflowError, RecursionError):
            same = None
        if same is False:
            return False
        if same is None:
            verdict = None
    if verdict and (_FUNCTION.search(pred) or _FUNCTION.search(gold)):
        return None
    return verdict


def values_equal(pred: str, gold: str) -> bool | None:
    """True or False when both canonical answers are understood as values, else None."""
    try:
        (p, p_failures), (g, g_failures) = read(pred), read(gold)
        same = _equal(p, g)
        if same is not None:
            return same
        failures = p_failures + g_failures
        if failures and all(isinstance(why, VariableFound) for why in failures):
            return _probed(pred, gold)
        return None
    except (ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return None


# ---- comparing canonical answers -------------------------------------------------------------

def compare(pred: str, gold: str, numeric: bool) -> tuple[bool | None, str | None]:
    """(verdict, reason) for two canonical answers: verdict None when undecided (math-verify's
    turn), reason why an answer is wrong without a real comparison ("no answer found")."""
    if not pred:
        return False, "no answer found"
    if pred == gold:
        return True, None
    if not numeric:
        return _compare_math(pred, gold)
    p, g = numbers.parse_number(pred), numbers.parse_number(gold)
    if p is not None and g is not None:
        return numbers.numbers_equal(p, g, numeric), None
    return False, None   # a number against a non-number (a clock time, a word): no symbolic meaning


def _decimal_comma(answer: str) -> numbers.Number | None:
    return numbers.parse_number(answer) if numbers.DECIMAL_COMMA.search(answer) else None


def _is_words(answer: str) -> bool:
    """Words ("even", "Devon"), or a choice letter ("C"): text, not a value."""
    return bool(_PLAIN_TEXT.fullmatch(answer) and (_LONG_WORD.search(answer) or answer in _CHOICES))


def _equation_sides(answer: str) -> list[str]:
    if "=" not in answer or _INEQUALITY.search(answer):
        return [answer]
    return split_top(answer, "=")


def _compare_math(pred: str, gold: str) -> tuple[bool | None, str | None]:
    """Exact numbers, then words, then values."""
    if not gold:
        return False, "empty gold answer"
    p, g = math_number(pred), math_number(gold)
    if (p is None) != (g is None):   # `1,5` is a list, or 1.5 against a gold that is one number
        p, g = p or _decimal_comma(pred), g or _decimal_comma(gold)
    if p is not None and g is not None:
        return numbers.numbers_equal(p, g, False), None
    if _PLAIN_TEXT.fullmatch(pred) and _PLAIN_TEXT.fullmatch(gold):   # words: no symbolic meaning
        return "".join(pred.split()).casefold() == "".join(gold.split()).casefold(), None
    if _is_words(pred) != _is_words(gold):   # "Infinite" is not 72, "even" is not \frac{1}{2}
        return False, None
    sides = _equation_sides(pred)
    if len(sides) > 1 and len(_equation_sides(gold)) == 1:
        # "\frac12 \cdot 3 = \frac32" against "\frac32": the prediction's result is its last side
        # (math-verify's rule too; a gold equation is never cut, so "2x+z=1" is not "1").
        return _compare_math(canonical_math(sides[-1]), gold) if sides[-1].strip() else (False, None)
    try:
        with deadline(FAST_SECONDS):
            return values_equal(pred, gold), None
    except GradingTimeout:
        return False, "timeout"
