"""Robust normalisation: the canonical text of an answer, what two writings of one answer share.

Majority voting compares answers as strings, so the canonical text removes what does not change
an answer. Numeric tasks (GSM8K): a plain number gets one spelling (`1,000`, `1000.00`, `$1000`
and `1000 dollars` are `1000`), anything else is tidied text. MATH-style (LaTeX) answers follow
the MATH answer conventions: delimiters and spacing (`$`, `\\left`, `\\!`, `~`), fraction styles
(`\\dfrac`, `\\tfrac`, `\\cfrac`, `\\frac12`), degree signs, units (`5\\text{ cm}^2`,
`125 miles`), a variable being assigned (`x = 3`, `k \\approx 3`, `x \\in [0,1)`), words for
percent, "and" between answers, `\\text{}` wrappers, choice letters (`(C)`, `C)`), the layout of
a display (`&=`, `\\end{align*}`, a trailing row break), a chain's steps before its constant last
side. Plain numbers get one spelling (`1,000.0` and `1000` are `1000`; `\\frac{10}{9}` is `10/9`;
`2 1/2` is `2.5`).

What it keeps: a comma followed by a space is a list separator, never a thousands separator
(`32, 349` is two numbers, `32,349` is one), a MATH `1,5` stays a list (see `numbers.py`), and
the order of items.

Every step is a replacement, a split or an anchored regex on input capped at `MAX_CHARS`.
"""

from __future__ import annotations

import re

from w2s_lf.grading import numbers

MAX_CHARS = 2000
_REPLACEMENTS = (
    ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\cfrac", "\\frac"), ("\\displaystyle", ""),
    ("\\!", ""), ("\\,", ""), ("\\;", ""), ("\\:", ""), ("~", " "), ("\u00a0", " "),
    ("\\qquad", " "), ("\\quad", " "), ("\\textnormal{", "\\text{"), ("\\textrm{", "\\text{"),
    ("\\mbox{", "\\text{"), ("\\mathrm{", "\\text{"), ("\\textbf{", "\\text{"), ("\\textit{", "\\text{"),
    ("\\mathbf{", "\\text{"), ("\\%", "%"), ("\\$", ""), ("$", ""), ("{,}", ""), ("∞", "\\infty"), ("\\infin", "\\infty"),
    ("\\dots", "\\ldots"), ("\\cdots", "\\ldots"), ("…", "\\ldots"), ("\\geq", "\\ge"), ("\\leq", "\\le"),
    ("\\neq", "\\ne"), ("−", "-"), ("–", "-"), ("π", "\\pi "), ("⋅", "\\cdot "), ("·", "\\cdot "),
    ("×", "\\times "), ("÷", "\\div "), ("∪", "\\cup "), ("≤", "\\le "), ("≥", "\\ge "), ("≠", "\\ne "),
)
# A degree sign where a value ends (`90^\circ`, `(30^\circ, 60^\circ)`); with `\sin 30^\circ` it stays.
_DEGREES = re.compile(r"(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°|\\degree)(?=\s*(?:\.?$|[,)\]]|\\\}|\\text))")
_TRIGONOMETRY = re.compile(r"\\(?:sin|cos|tan|sec|csc|cot)")
_UNICODE_ROOT = re.compile(r"√\s*(\d+(?:\.\d+)?|[A-Za-z])")
_PLAIN_NAMES = re.compile(r"(?<![\\A-Za-z])(sqrt|pi)(?![A-Za-z])")
_SIZING = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![A-Za-z])\.?")
_SIZED = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)\s*(\\?[()\[\]{}|])")
_LAYOUT = re.compile(r"\\(?:begin|end)\{(?!(?:[pbBvV]?matrix|smallmatrix|array|cases)\})[A-Za-z]+\*?\}"
                     r"|\\\[|\\\]|\\(?:nonumber|notag)\b|\\label\{[^{}]*\}")
_ALIGNMENT = re.compile(r"&\s*(?==|<|>|\\(?:le|ge|ne|approx|equiv)\b)")
_TRAILING_ROW_BREAK = re.compile(r"(?:\\\\\s*)+$")
_ESCAPED_SPACE = re.compile(r"(?<!\\)\\ ")   # `\ ` but not the row break in `1 \\ 2`
_TEXT = re.compile(r"\\text\{([^{}]*)\}")
_TRAILING_TEXT = re.compile(r"\\text\{[^{}]*[A-Za-z][^{}]*\}(?:\^\{?[23]\}?)?$")   # a unit, not \text{34}
_AND = re.compile(r"\\text\{\s*(?:,\s*)?(?:and|or)\s*\}|,?\s+(?:and|or)\s+")
_PERCENT_WORD = re.compile(r"(?<=[\d}])\s*(?:percent(?:age)?|pct)\b", re.IGNORECASE)
_ASSIGNED = re.compile(r"[A-Za-z](?:_\{?\w{1,3}\}?)?|\\(?:alpha|beta|gamma|theta|lambda|mu)"
                       r"|\([A-Za-z](?:,[A-Za-z])*\)")
_INEQUALITY_SIGN = re.compile(r"[<>]|\\(?:le|ge|lt|gt|ne)\b")
_LETTER_OUTSIDE_COMMAND = re.compile(r"(?<![\\A-Za-z])[A-Za-z]")
_SUBSCRIPT_DIGIT = re.compile(r"_(\d)(?=\s+\d)")
_FRAC_DIGITS = re.compile(r"\\frac(\d)(\d)")
_FRAC_DIGIT_FIRST = re.compile(r"\\frac(\d)\{")
_FRAC_DIGIT_SECOND = re.compile(r"\\frac\{([^{}]*)\}(\d)")
_SQRT_DIGIT = re.compile(r"\\sqrt(\d)")
_SPACE_AFTER_COMMAND = re.compile(r"(\\[A-Za-z]+)\s+(?=[A-Za-z])")
_LIST_COMMA = re.compile(r"(?<=\d),\s+(?=\d{3}(?![\d.]))")   # "32, 349": not 32349
_PLAIN_WORDS = re.compile(r"[A-Za-z][A-Za-z .,'()-]*")
_UNIT_WORD = re.compile(r"[A-Za-z]{2,}[23]?")                  # miles, cm2
_GLUED_UNIT = re.compile(r"(?<=\d)(?:cm|mm|km|min|mins|hrs?|sec|kg|ft|miles)(?:\^?\{?[23]\}?)?$")   # 40min
_NOT_UNITS = frozenset(("pi", "and", "or", "i", "e"))


def _layout_removed(s: str) -> str:
    """What lays out a display, not the answer: environments other than matrices and cases
    (`\\end{align*}` left in a box, `\\begin{equation}`), alignment `&` before a relation, a
    trailing row break, `\\[`, `\\]`, `\\nonumber`, `\\label{..}`."""
    s = _LAYOUT.sub("", s)
    s = _ALIGNMENT.sub("", s)
    return _TRAILING_ROW_BREAK.sub("", s.strip())


def _unit_words_removed(s: str) -> str:
    """`125 miles` -> `125`, `4 square units` -> `4`: trailing words after a number or a group."""
    tokens = s.split()
    keep = len(tokens)
    while keep > 1:
        word = tokens[keep - 1].rstrip(".")
        if word in ("^2", "^3", "²", "³"):
            keep -= 1
            continue
        if not _UNIT_WORD.fullmatch(word) or word.lower() in _NOT_UNITS:
            break
        keep -= 1
    if keep == len(tokens) or not tokens[keep - 1][-1:] in "0123456789})]%":
        return s
    return " ".join(tokens[:keep])


def _units_removed(s: str) -> str:
    for _ in range(2):
        m = _TRAILING_TEXT.search(s)
        if m is None or not s[:m.start()].strip():
            break
        s = s[:m.start()].rstrip()
    s = _unit_words_removed(s)
    return _GLUED_UNIT.sub("", s)


def split_top(s: str, separator: str) -> list[str]:
    parts, depth, start, i = [], 0, 0, 0
    while i < len(s):
        ch = s[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and s.startswith(separator, i) and not (
                separator[-1].isalpha() and s[i + len(separator):i + len(separator) + 1].isalpha()):
            parts.append(s[start:i])
            start = i + len(separator)
            i = start
            continue
        i += 1
    parts.append(s[start:])
    return parts


def _assignment_removed(s: str) -> str:
    """`x = 3` -> `3`, `x = 5+5+1 = 11` -> `11`, `(a,b) = (1,2)` -> `(1,2)`, `x \\in [0,1)` -> `[0,1)`,
    and a chain ending in a constant is that constant (`a+b = 49-15 = 34` -> `34`); an equation
    whose left side is not one variable (`2x + z = 1`) stays whole."""
    if len(split_top(s, ",")) > 1:   # "x = 2, y = 3" is a system's solution, not 3
        return s
    sides = split_top(s, "=")
    if len(sides) > 2 and sides[-1].strip() and not _LETTER_OUTSIDE_COMMAND.search(sides[-1]) \
            and not _INEQUALITY_SIGN.search(s):
        return sides[-1].strip()
    for relation in ("=", "\\approx", "\\in"):
        parts = split_top(s, relation)
        if len(parts) > 1 and _ASSIGNED.fullmatch(parts[0].replace(" ", "")):
            tail = parts[-1]
            for other in ("=", "\\approx"):   # "k = 5 \approx 5.0": the last side of the chain
                tail = split_top(tail, other)[-1]
            if _LETTER_OUTSIDE_COMMAND.search(tail):   # "y = 2x + 3" is a line, not the value 2x + 3
                return s
            return tail.strip()
    return s


def _spacing_removed(s: str) -> str:
    if _PLAIN_WORDS.fullmatch(s) and " " in s:   # words keep their spaces
        return " ".join(s.split())
    s = _LIST_COMMA.sub(",\x00", s)               # keep the space of a list separator
    s = _SPACE_AFTER_COMMAND.sub("\\1\x01", s)     # `\cos a` is not `\cosa`
    s = "".join(s.split())
    return s.replace("\x00", " ").replace("\x01", " ")


def math_number(s: str) -> numbers.Number | None:
    """`s` as a plain number, unless a comma makes it a list: `1, 2`, and in MATH `1,5` too (a
    decimal comma only against a gold that is one number, `compare.py`)."""
    if ", " in s or numbers.DECIMAL_COMMA.search(s):
        return None
    return numbers.parse_number(s)


def canonical_math(answer: str) -> str:
    """The canonical text of a LaTeX answer (see the module docstring)."""
    s = str(answer).strip()[:MAX_CHARS]
    number = math_number(s)
    if number is not None:
        return numbers.format_number(number)
    if not s.isascii():
        s = _UNICODE_ROOT.sub(r"\\sqrt{\1}", s).replace("√", "\\sqrt")
    s = _PLAIN_NAMES.sub(r"\\\1", s)   # sqrt(3), 4/pi
    for before, after in _REPLACEMENTS:
        if before in s:
            s = s.replace(before, after)
    if ("circ" in s or "°" in s or "degree" in s) and not _TRIGONOMETRY.search(s):
        s = _DEGREES.sub("", s)
    if "\\" in s or "&" in s:
        s = _layout_removed(s)
    if "\\" in s:
        s = _ESCAPED_SPACE.sub(" ", s)
        s = _SIZED.sub(r"\1", s)
        s = _SIZING.sub("", s)
    for box in ("\\boxed{", "\\fbox{"):
        if s.startswith(box) and s.endswith("}"):
            s = s[len(box):-1]
    s = s.strip().rstrip(".").strip()
    s = _PERCENT_WORD.sub("%", s)
    s = _units_removed(s)
    s = _AND.sub(", ", s)
    for _ in range(3):
        if "\\text{" not in s:
            break
        s = _TEXT.sub(r"\1", s)
    s = _assignment_removed(s.strip())
    s = _SUBSCRIPT_DIGIT.sub(r"_{\1}", s)   # `\log_3 27` is not `\log_327`
    s = _spacing_removed(s.strip()).rstrip(".,").strip()
    if "\\frac" in s:
        s = _FRAC_DIGITS.sub(r"\\frac{\1}{\2}", s)
        s = _FRAC_DIGIT_FIRST.sub(r"\\frac{\1}{", s)
        s = _FRAC_DIGIT_SECOND.sub(r"\\frac{\1}{\2}", s)
    if "\\sqrt" in s:
        s = _SQRT_DIGIT.sub(r"\\sqrt{\1}", s)
    s = _choice_letter(s)
    s = _outer_parentheses_removed(s)
    number = math_number(s)
    return numbers.format_number(number) if number is not None else s


def _choice_letter(s: str) -> str:
    """`(C)` and `C)` are the choice C."""
    if 2 <= len(s) <= 3 and s[-1] == ")" and s[-2].isalpha() and s[:-2] in ("", "("):
        return s[-2]
    return s


def _outer_parentheses_removed(s: str) -> str:
    """`(\\sin^2 t)` -> `\\sin^2 t`: parentheses around a whole answer that is not a tuple."""
    if len(s) < 3 or s[0] != "(" or s[-1] != ")" or len(split_top(s[1:-1], ",")) > 1:
        return s
    depth = 0
    for i, ch in enumerate(s):
        depth += (ch in "([{") - (ch in ")]}")
        if depth == 0:   # the first ( closes here: `(x+1)(x-1)` keeps its parentheses
            return s[1:-1] if i == len(s) - 1 else s
    return s


_TEXT_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox|textit|operatorname)\{([^{}]*)\}")
_NUMBER_NOISE = ("\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\displaystyle", "^\\circ", "^{\\circ}",
                 "\\$", "\u00a0")


def canonical_number(answer: str) -> str:
    """The canonical text of a numeric task's answer: the number, exactly formatted (a `%` is
    dropped: GSM8K golds never carry one), else the answer as tidied text."""
    s = str(answer).strip()[:MAX_CHARS]
    number = numbers.parse_number(s)
    if number is None:   # "72 clips", "$1,000.00 dollars", "2 1/2 cups"
        rest = s.replace("$", "").lstrip()
        first = numbers.single_number(rest)
        if first is not None and rest.startswith(first):
            number = numbers.parse_number(first)
    if number is not None:
        return numbers.format_number(numbers.Number(number.value))
    s = s.replace("$", "").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    for noise in _NUMBER_NOISE:
        s = s.replace(noise, "")
    for _ in range(3):
        s = _TEXT_WRAPPERS.sub(r"\1", s)
    if s.startswith("\\boxed{") and s.endswith("}"):
        s = s[7:-1]
    s = s.strip().rstrip(".").strip()
    s = _choice_letter(s)
    if _PLAIN_WORDS.fullmatch(s) and " " in s:
        s = " ".join(s.split())
    else:
        s = "".join(s.split())
    number = numbers.parse_number(s)   # numbers that were wrapped: \text{5}, 5\,\%
    return numbers.format_number(number) if number is not None else s


def canonical(answer: str, numeric: bool) -> str:
    """The canonical text of an answer of a numeric or a MATH-style task."""
    return canonical_number(answer) if numeric else canonical_math(answer)
