"""Plain numbers, parsed and compared exactly, without sympy.

Almost every GSM8K answer, and a good share of MATH answers, is a plain number. Sending those
through a symbolic library costs about a millisecond each; parsing them into a `Fraction` costs
microseconds and is exact, so `0.50` = `0.5`, `1,000` = `1000`, `$5` = `5`, `\\frac{1}{2}` = `0.5`.

Percentages and rounding are where tasks differ. GSM8K golds never carry `%` (a question asking
for a percentage has gold `50`), so for numeric tasks a `%` is dropped: `50%` = `50`, and `0.5` is
not `50`; a rounded decimal of a repeating value counts (`2/3` = `0.67`). For MATH and custom
tasks a percentage may stand for its value too (`50\\%` = `50` = `0.5`), and a decimal equals a
fraction only to 6 places (`0.333333` = `\\frac13`, `0.33` is not): MATH asks for exact answers.

Separators. A comma is a thousands separator when each group after it has three digits
(`1,000`, `12,345.5`); a single comma followed by one or two digits is a decimal comma, as in
much of Europe (`1000,99` is 1000.99, `2,74 $` is 2.74); anything else with a comma is not one
number (`1,2345`, `64, 82`). Spaces group thousands the same way (`1 000`); between a whole
number and a fraction they make a mixed number (`2 1/2` and `2\\frac{1}{2}` are 5/2, not 21/2 or
1). MATH answers also use the comma for lists (`1,-2`): `normalise.math_number` keeps `1,5` a
list, and `compare.py` reads it as 1.5 only against a gold that is one number.

Every regex here is anchored or linear, and inputs longer than `MAX_NUMBER_CHARS` are not
numbers, so parsing is bounded by design.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

MAX_NUMBER_CHARS = 64
MATH_DECIMAL_PLACES = 6
_DIGITS = r"(?:\d{1,3}(?:,\d{3})+|\d+)"
_DECIMAL_COMMA = r"\d+,\d{1,2}(?![\d,])"
_PLAIN_DECIMAL = re.compile(r"-?\d+(?:\.\d+)?")
_NUMBER = r"(?:" + _DECIMAL_COMMA + "|" + _DIGITS + r"(?:\.\d+)?|\.\d+)"
# One number in running text: thousands groups or digits, optional decimals; or a bare ".5"; or
# a mixed number. A clock time ("6:25") is one token, so that it is never read as the number 6.
NUMBER_IN_TEXT = re.compile(r"-?\d+ \d+/\d+(?![\d/])|\d{1,2}:\d{2}(?!\d)|-?" + _NUMBER)
# A number standing alone: not part of a word ("4x", "3rd") or of a fraction or time.
STANDALONE_NUMBER = re.compile(r"(?<![\w.,/:])-?" + _NUMBER + r"(?:/\d+)?(?![\w/:]|[.,]\d)")
DECIMAL_COMMA = re.compile(r"[-+]?" + _DECIMAL_COMMA)
_DECIMAL = re.compile(r"([-+]?)(" + _DIGITS + r"(?:\.\d*)?|\.\d+|\d+,\d{1,2})")
_LATEX_FRAC = re.compile(r"([-+]?)\\[dt]?frac\{([-+]?\d+)\}\{([-+]?\d+)\}")
_SLASH_FRAC = re.compile(r"([-+]?)(\d+)/(\d+)")
_MIXED = re.compile(r"([-+]?)(\d+)(?: +(\d+)/(\d+)| *\\[dt]?frac\{(\d+)\}\{(\d+)\})")
_SPACE_GROUPS = re.compile(r"[-+]?\d{1,3}(?: \d{3})+(?:\.\d+)?")
_LONE_SPACE = re.compile(r"(?<!\d) +| +(?!\d)")   # any space but one between two digits
_CURRENCY = ("\\$", "$", "US$", "USD", "€", "£", "¥", "Rs.")
_CURRENCY_AFTER = ("\\$", "$", "USD", "EUR", "€", "£", "¥")
_NOISE = ("\\!", "\\,", "\\;", "\\:", "{,}")
_SPACES = ("\\ ", "~", "\u00a0")


@dataclass(frozen=True)
class Number:
    value: Fraction
    percent: bool = False
    decimal: bool = False   # written with a decimal point (MATH compares such values at 6 places)


def _strip_wrappers(s: str) -> str:
    s = s.strip().rstrip(".").strip()
    if s.startswith("\\boxed{") and s.endswith("}"):
        s = s[7:-1]
    for left, right in (("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"), ("{", "}"), ("(", ")")):
        if len(s) > len(left) + len(right) and s.startswith(left) and s.endswith(right):
            s = s[len(left):-len(right)].strip()
    return s


def parse_number(text: str) -> Number | None:
    """`text` as an exact number if it is a plain number, else None.

    Accepts signs, thousands separators and decimal commas (see the module docstring), decimals,
    `a/b`, `\\frac{a}{b}`, mixed numbers, currency signs and a trailing `%`; rejects anything else
    (units, words, expressions) so that callers can compare it otherwise.
    """
    if len(text) > MAX_NUMBER_CHARS:
        return None
    return _parse_short(text)


@lru_cache(maxsize=8192)   # answers repeat (golds, common numbers); a Number is immutable
def _parse_short(text: str) -> Number | None:
    if text.isascii() and text.isdigit():   # the common case, ~10x cheaper than the general one
        return Number(Fraction(int(text)))
    if _PLAIN_DECIMAL.fullmatch(text):       # the next most common: -3, 0.5
        return Number(Fraction(text), decimal="." in text)
    s = _strip_wrappers(text)
    for noise in _NOISE:
        s = s.replace(noise, "")
    for space in _SPACES:
        s = s.replace(space, " ")
    mixed = _MIXED.fullmatch(s)
    if mixed:
        return _mixed(mixed)
    if " " in s:
        s = _LONE_SPACE.sub("", s)
        if " " in s:   # between digits: thousands groups, or not one number ("12 34")
            if not _SPACE_GROUPS.fullmatch(s):
                return None
            s = s.replace(" ", "")
    percent = False
    if s.endswith(("\\%", "%")):
        percent, s = True, s[:-2] if s.endswith("\\%") else s[:-1]
    sign = ""
    if s[:1] in "-+" and s[1:2] in tuple(c[0] for c in _CURRENCY):   # -$5
        sign, s = s[0], s[1:]
    for mark in _CURRENCY:
        if s.startswith(mark):
            s = s[len(mark):]
            break
    else:
        for mark in _CURRENCY_AFTER:   # 2,74 $, 5€
            if s.endswith(mark):
                s = s[:-len(mark)]
                break
    s = sign + s
    if not s:
        return None
    m = _DECIMAL.fullmatch(s)
    if m:
        body = m.group(2)
        body = body.replace(",", ".") if DECIMAL_COMMA.fullmatch(body) else body.replace(",", "")
        value = Fraction(body.rstrip(".") if body.endswith(".") else body)
        return Number(-value if m.group(1) == "-" else value, percent, "." in body)
    m = _LATEX_FRAC.fullmatch(s) or _SLASH_FRAC.fullmatch(s)
    if m:
        num, den = int(m.group(2)), int(m.group(3))
        if den == 0:
            return None
        value = Fraction(num, den)
        return Number(-value if m.group(1) == "-" else value, percent)
    return None


def _mixed(m: re.Match) -> Number | None:
    """A whole number and a proper fraction: `2 1/2` is 5/2 (`2 3/2` is not a number)."""
    whole = int(m.group(2))
    num, den = (int(m.group(3)), int(m.group(4))) if m.group(3) else (int(m.group(5)), int(m.group(6)))
    if not 0 < num < den:
        return None
    value = whole + Fraction(num, den)
    return Number(-value if m.group(1) == "-" else value)


def format_number(number: Number) -> str:
    """Canonical text: integers plainly, terminating decimals without trailing zeros, else a/b."""
    v = number.value
    if v.denominator == 1:
        text = str(v.numerator)
    else:
        den = v.denominator
        while den % 2 == 0:
            den //= 2
        while den % 5 == 0:
            den //= 5
        if den == 1:   # terminates: exact decimal
            places = 0
            while (v * 10 ** places).denominator != 1:
                places += 1
            scaled = abs(v.numerator * 10 ** places // v.denominator)
            digits = str(scaled).rjust(places + 1, "0")
            text = ("-" if v < 0 else "") + digits[:-places] + "." + digits[-places:]
        else:
            text = f"{v.numerator}/{v.denominator}"
    return text + ("%" if number.percent else "")


def _decimal_places(v: Fraction) -> int | None:
    """Places of a terminating decimal whose denominator is a power of ten, else None."""
    den, places = v.denominator, 0
    while den % 10 == 0:
        den //= 10
        places += 1
    return places if den == 1 else None


def _close(a: Fraction, b: Fraction) -> bool:
    """Exact, or a rounded decimal (2+ places) of a repeating value: 2/3 = 0.67 = 0.6666666666666666.

    The longer side must be a repeating fraction or a float-length decimal (6+ places), so 1.334
    is not 1.33: only a value that cannot be written exactly may be rounded.
    """
    if a == b:
        return True
    for exact, shown in ((a, b), (b, a)):
        places = _decimal_places(shown)
        if places is None or places < 2:
            continue
        exact_places = _decimal_places(exact)
        repeating = exact_places is None and not _terminates(exact)
        if (repeating or (exact_places or 0) >= 6) and round(exact, places) == shown:
            return True
    return False


def _terminates(v: Fraction) -> bool:
    den = v.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    return den == 1


def _same_at_six(a: Fraction, b: Fraction, decimal: bool) -> bool:
    """MATH's rule (math-verify's too): exact, or the same to 6 places when one side is written
    as a decimal, so `0.333333` is 1/3 but `0.33` is not (MATH asks for exact answers)."""
    return a == b or (decimal and round(a, MATH_DECIMAL_PLACES) == round(b, MATH_DECIMAL_PLACES))


def numbers_equal(pred: Number, gold: Number, numeric_task: bool) -> bool:
    """Equality under the task's rounding and percentage rules (see module docstring)."""
    if numeric_task:
        return _close(pred.value, gold.value)
    decimal = pred.decimal or gold.decimal
    if _same_at_six(pred.value, gold.value, decimal):
        return True
    if pred.percent == gold.percent:
        return False
    pct, plain = (pred, gold) if pred.percent else (gold, pred)
    return _same_at_six(pct.value / 100, plain.value, decimal)


# What after a number makes it part of a list or an expression: a letter (`4x`), `, 5`, an
# operator and an operand (`+ 3`, `^{10}`, `**3`), or a fraction (`2 1/2`: a mixed number).
_NOT_ALONE = re.compile(r"[A-Za-z]|[ \t]?,[ \t]?-?\d|[ \t]?(?:\*\*|[-+*/×^])[ \t]?[\w({]| \d+/\d")


def single_number(text: str) -> str | None:
    """The first number of `text` if nothing marks it as part of a list or an expression."""
    m = NUMBER_IN_TEXT.search(text)
    return None if m is None or _NOT_ALONE.match(text, m.end()) else m.group(0)


def last_standalone_number(text: str) -> str | None:
    last = None
    for last in STANDALONE_NUMBER.finditer(text):
        pass
    return last.group(0) if last else None
