"""A held-out sample of MATH equivalence cases, built from the paper's released data by a seeded rule.

Why: `math_grading_table.py` was written next to the code it tests. This sample is written from
real answers instead: the MATH-500 gold answers (with their reference solutions) and the golds of
the paper's released MATH model outputs (with those outputs), each rewritten in other notations
and put back into a real response. Whether a rewrite is equal is known by construction, from
exact arithmetic on the value the gold states, under the MATH answer conventions:

- a value's notation does not matter: `\\frac{1}{2}`, `\\dfrac12`, `1/2`, `0.5`, `\\frac{2}{4}`;
  `\\text{}` and `\\left`/`\\right` wrappers, spacing, thousands separators (`1,000`, `1{,}000`),
  units and degree signs (`90^\\circ`, `5\\text{ cm}`), an assignment (`x = 3`), and a chain
  whose last side is the answer (`x = 5 + 6 = 11`) do not change an answer;
- a decimal equals a fraction only when exact, or written to 6+ places (`0.33` is not 1/3);
- a percentage stands for its number and its value (`28\\%` is `28` and `0.28`);
- a mixed number is a sum (`2\\frac{1}{2}` is 5/2);
- a decimal comma in running text (`The answer is 2,74.`, `2,74 $`) is a decimal point;
- tuples and intervals are ordered, brackets included; sets and bare lists are not; several
  boxed answers (`$x = \\boxed{3}$ and $y = \\boxed{4}$`) state one tuple, in order;
- a stated answer need not be boxed: a worked solution whose last math is the answer states it.

Golds the paper's normaliser visibly damaged (`\\le(` left of `\\left(`, `\\iny` of `\\infty`,
`\\0` of a matrix row break) are left out: their truth is not known by construction.

    cases(data_dir, seed=0, per_family=None) -> [Case(kind, response, gold, equal), ...]

Run as a script to print, per kind, how often robust and math-verify (its defaults) are right:

    python tests/grading/heldout.py [--data ../shared/data/gair-w2s] [--per-family N] [--show N]
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

RELEASED_OUTPUTS = ("gemma_2b_iter1_weak", "gemma_2b_iter1_icl", "mistral_7b_iter1_weak",
                    "mistral_7b_iter1_icl", "llama2_7b_iter1_weak", "llama2_7b_iter1_icl")
DAMAGED = re.compile(r"\\le[(\[]|\\iny|(?<!\\)\\(?=[\d-])|\{\}|\\(?:sin|cos|tan|sec|csc|cot|ln|log)(?!h)[a-zA-Z]")
EQUAL_PER_GOLD = 3
UNEQUAL_PER_GOLD = 2


@dataclass(frozen=True)
class Case:
    kind: str          # what was rewritten, and where it stands: "fraction/boxed in a solution"
    response: str
    gold: str
    equal: bool


# ---- values: reading a gold, writing a value --------------------------------------------------

_INT = re.compile(r"-?\d{1,3}(?:(?:,|,\\!|\{,\})\d{3})+|-?\d+")
_DEC = re.compile(r"-?\d*\.\d+")
_FRAC = re.compile(r"(-?)\\[dt]?frac\s*(?:\{(-?\d+)\}|(\d))\s*(?:\{(\d+)\}|(\d))")
_SLASH = re.compile(r"(-?\d+)/(\d+)")
_MIXED = re.compile(r"(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}")
_ROOT = re.compile(r"(\d*)\s*\\sqrt\{?(\d+)\}?")
_ROOT_OVER = re.compile(r"\\[dt]?frac\{(\d*)\\sqrt\{(\d+)\}\}\{(\d+)\}")
_PI = re.compile(r"(\d*)\s*\\pi")
_PI_OVER = re.compile(r"\\[dt]?frac\{(\d*)\s*\\pi\}\{(\d+)\}")
_DEGREES = re.compile(r"(\d+)\s*\^\s*\{?\\circ\}?")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*\\%")
_WORD = re.compile(r"(?:\\text\{\s*)?([A-Za-z]{3,}(?: [A-Za-z]+)?)\s*\}?")
_CHOICE = re.compile(r"(?:\\text\{)?\(([A-E])\)\}?")


def read_scalar(text: str) -> Fraction | None:
    """A rational written plainly (integer, decimal, fraction, mixed number), or None."""
    t = text.strip()
    if _INT.fullmatch(t):
        return Fraction(int(t.replace("{,}", "").replace(",\\!", "").replace(",", "")))
    if _DEC.fullmatch(t):
        return Fraction(t)
    m = _FRAC.fullmatch(t)
    if m:
        num, den = int(m.group(2) or m.group(3)), int(m.group(4) or m.group(5))
        return None if den == 0 else Fraction(-num if m.group(1) else num, den)
    m = _SLASH.fullmatch(t)
    if m and int(m.group(2)):
        return Fraction(int(m.group(1)), int(m.group(2)))
    m = _MIXED.fullmatch(t)
    if m and int(m.group(2)) < int(m.group(3)):
        return int(m.group(1)) + Fraction(int(m.group(2)), int(m.group(3)))
    return None


# Written here, not imported from w2s_lf.grading.numbers: the truth of a case must not depend on
# the code under test.
def _terminates(v: Fraction) -> bool:
    den = v.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    return den == 1


def decimal(v: Fraction, places: int | None = None) -> str:
    """Exact decimal of a terminating value, or rounded to `places`."""
    if places is None:
        places = 0
        while (v * 10 ** places).denominator != 1:
            places += 1
    scaled = round(abs(v) * 10 ** places)
    digits = str(scaled).rjust(places + 1, "0")
    body = digits if places == 0 else digits[:-places] + "." + digits[-places:]
    return ("-" if v < 0 else "") + body


def equal_forms(v: Fraction, rng: random.Random) -> list[tuple[str, str]]:
    """(notation, text) writings of the rational v, all equal to it."""
    sign, a = ("-" if v < 0 else ""), abs(v)
    forms = []
    if a.denominator == 1:
        n = a.numerator
        forms += [("integer", f"{sign}{n}"), ("trailing zero", f"{sign}{n}.0"),
                  ("unreduced fraction", f"{sign}\\frac{{{2 * n}}}{{2}}")]
        if n >= 1000:
            grouped = f"{n:,}"
            forms += [("thousands comma", sign + grouped), ("thousands {,}", sign + grouped.replace(",", "{,}")),
                      ("thousands \\!", sign + grouped.replace(",", ",\\!"))]
    else:
        p, q = a.numerator, a.denominator
        forms += [("\\frac", f"{sign}\\frac{{{p}}}{{{q}}}"), ("\\dfrac", f"{sign}\\dfrac{{{p}}}{{{q}}}"),
                  ("slash", f"{sign}{p}/{q}"), ("unreduced fraction", f"{sign}\\frac{{{3 * p}}}{{{3 * q}}}"),
                  ("sign in numerator", f"\\frac{{{sign}{p}}}{{{q}}}")]
        if p < 10 and q < 10:
            forms.append(("\\frac12 shorthand", f"{sign}\\frac{p}{q}"))
        if _terminates(a):
            forms.append(("decimal", sign + decimal(a)))
        elif round(a, 6) == round(Fraction(decimal(a, 8)), 6):   # 8 places that round as the value does
            forms.append(("8-place decimal", sign + decimal(a, 8)))
        if p > q and not sign:
            whole, rest = divmod(p, q)
            forms.append(("mixed number", f"{whole}\\frac{{{rest}}}{{{q}}}"))
    return forms


def unequal_forms(v: Fraction, rng: random.Random) -> list[tuple[str, str]]:
    """(notation, text) of near misses: values that differ from v."""
    def plain(x: Fraction) -> str:
        if x.denominator == 1:
            return str(x.numerator)
        return ("-" if x < 0 else "") + f"\\frac{{{abs(x).numerator}}}{{{x.denominator}}}"
    forms = [("off by one", plain(v + 1)), ("doubled", plain(2 * v + 1) if v == 0 else plain(2 * v))]
    if v != 0:
        forms.append(("sign flipped", plain(-v)))
    if v not in (0, 1, -1):
        forms.append(("reciprocal", plain(1 / v)))
    if v.denominator != 1 and not _terminates(v):
        forms.append(("2-place decimal", decimal(v, 2)))
    return forms


# ---- rewrites of one gold: (kind, answer text, equal) ---------------------------------------------

def _pick(rng, items, k):
    return rng.sample(items, min(k, len(items)))


def _scalar_rewrites(v: Fraction, rng) -> list[tuple[str, str, bool]]:
    out = [(f"number/{name}", text, True) for name, text in _pick(rng, equal_forms(v, rng), EQUAL_PER_GOLD)]
    out += [(f"number/{name}", text, False) for name, text in _pick(rng, unequal_forms(v, rng), UNEQUAL_PER_GOLD)]
    extra = [("number/unit word", f"{_plain(v)}\\text{{ units}}", True),
             ("number/assignment", f"x = {_plain(v)}", True),
             ("chained relation", f"x = {_chain(v, rng)} = {_plain(v)}", True),
             ("chained relation", f"x = {_chain(v, rng)} = {_plain(v + 1)}", False)]
    if _terminates(v):   # text mode holds digits, not \\frac
        extra.append(("number/\\text{} wrapper", f"\\text{{{decimal(v)}}}", True))
    if v.denominator != 1 and _terminates(v) and v > 0:
        extra.append(("percent of a decimal", f"{decimal(100 * v)}\\%", True))
    return out + _pick(rng, extra, 2)


def _plain(v: Fraction) -> str:
    if v.denominator == 1:
        return str(v.numerator)
    return ("-" if v < 0 else "") + f"\\frac{{{abs(v).numerator}}}{{{v.denominator}}}"


def _chain(v: Fraction, rng) -> str:
    """A middle side of a chain of equalities; what it says does not matter (the last side is the
    answer), so it is a sum that is sometimes the value and sometimes not (`5+5+1 = 1/3`)."""
    a = rng.randint(1, 9)
    return f"{_plain(v - a)} + {a}" if rng.random() < 0.5 else f"{a} + {a} + 1"


def _items_rewrites(items: list[Fraction], left: str, right: str, ordered: bool, rng):
    """A tuple, interval or set of rationals: each item in another notation; near misses."""
    def join(texts, l=left, r=right):
        return f"{l}{', '.join(texts)}{r}"
    same = [rng.choice([t for _, t in equal_forms(x, rng)]) for x in items]
    out = [("group/items rewritten", join(same), True),
           ("group/\\left \\right", join([_plain(x) for x in items], "\\left" + left if left != "\\{" else "\\left\\{",
                                          "\\right" + right if right != "\\}" else "\\right\\}"), True)]
    if ordered and len(set(items)) == len(items):
        out.append(("group/order swapped", join([_plain(x) for x in reversed(items)]), False))
        if left == "(" and right == ")" and len(items) == 2:   # (a, b) is not the interval [a, b]
            out.append(("group/brackets changed", join([_plain(x) for x in items], "[", "]"), False))
    if not ordered:
        out.append(("set/order changed", join([_plain(x) for x in reversed(items)]), True))
        if len(set(items)) > 1:
            out.append(("set/item dropped", join([_plain(x) for x in items[1:]]), False))
    k = rng.randrange(len(items))
    out.append(("group/one item off", join([_plain(x + 1 if i == k else x) for i, x in enumerate(items)]), False))
    return out


def _group(gold: str):
    """(items, left, right) of a tuple, interval or set of plain rationals, or None."""
    g = gold.replace("\\left", "").replace("\\right", "").strip()
    m = re.fullmatch(r"([(\[]|\\\{)(.*)([)\]]|\\\})", g)
    if m is None or ("{" in m.group(1)) != ("}" in m.group(3)):
        return None
    parts = [p.strip() for p in m.group(2).split(",")]
    values = [read_scalar(p) for p in parts]
    if len(parts) < 2 or any(v is None for v in values):
        return None
    return values, m.group(1), m.group(3)


_INFINITY = {"\\infty": Fraction(10) ** 99, "-\\infty": -Fraction(10) ** 99}   # stand-ins, never written


def _intervals(gold: str):
    """[(left, lo, hi, right)] of an interval or a union of intervals with an infinite end or a
    `\\cup` (a finite `(a, b)` alone is read as a tuple), or None."""
    if "\\infty" not in gold and "\\cup" not in gold:
        return None
    pieces = []
    for part in gold.replace("\\left", "").replace("\\right", "").split("\\cup"):
        m = re.fullmatch(r"\s*([(\[])(.*),(.*)([)\]])\s*", part)
        if m is None:
            return None
        ends = [_INFINITY.get(e.strip(), None) or read_scalar(e) for e in (m.group(2), m.group(3))]
        if None in ends:
            return None
        pieces.append((m.group(1), ends[0], ends[1], m.group(4)))
    return pieces


def _end(v: Fraction, rng=None) -> str:
    for text, value in _INFINITY.items():
        if v == value:
            return text
    return rng.choice([t for _, t in equal_forms(v, rng)]) if rng else _plain(v)


def _interval_text(pieces, rng=None, sized=False) -> str:
    left, right = ("\\left", "\\right") if sized else ("", "")
    return " \\cup ".join(f"{left}{a}{_end(lo, rng)}, {_end(hi, rng)}{right}{b}" for a, lo, hi, b in pieces)


def _interval_rewrites(pieces, rng):
    out = [("interval/\\left \\right", _interval_text(pieces, sized=True), True),
           ("interval/x \\in", f"x \\in {_interval_text(pieces)}", True),
           ("interval/endpoints rewritten", _interval_text(pieces, rng), True)]
    if len(pieces) > 1:
        out.append(("interval/union reordered", _interval_text(list(reversed(pieces))), True))
    k = rng.randrange(len(pieces))
    a, lo, hi, b = pieces[k]
    flip = {"(": "[", "[": "(", ")": "]", "]": ")"}
    if lo not in _INFINITY.values():
        changed = (flip[a], lo, hi, b)
    else:
        changed = (a, lo, hi, flip[b])
    if not (changed[1] in _INFINITY.values() and changed[2] in _INFINITY.values()):
        out.append(("interval/bracket flipped", _interval_text(pieces[:k] + [changed] + pieces[k + 1:]), False))
    finite = lo if lo not in _INFINITY.values() else hi
    if finite not in _INFINITY.values():
        moved = (a, lo - 1 if finite == lo else lo, hi + 1 if finite == hi else hi, b)
        out.append(("interval/endpoint off", _interval_text(pieces[:k] + [moved] + pieces[k + 1:]), False))
    return out


def _matrix(gold: str):
    m = re.fullmatch(r"\\begin\{pmatrix\}(.*)\\end\{pmatrix\}", gold.strip(), re.DOTALL)
    if m is None:
        return None
    rows = [[read_scalar(c) for c in row.split("&")] for row in m.group(1).split("\\\\")]
    if any(v is None for row in rows for v in row) or len({len(r) for r in rows}) != 1:
        return None
    return rows


def _matrix_text(rows, multiline: bool, env: str = "pmatrix") -> str:
    cells = [" & ".join(_plain(v) for v in row) for row in rows]
    if multiline:
        return f"\\begin{{{env}}}\n" + " \\\\\n".join(cells) + f"\n\\end{{{env}}}"
    return f"\\begin{{{env}}} " + " \\\\ ".join(cells) + f" \\end{{{env}}}"


_TERM_SPLIT = re.compile(r"(?=[+-])")


def _terms(expr: str) -> list[str] | None:
    """Top-level summands of an expression with variables, each with its sign, or None."""
    terms, depth, current = [], 0, ""
    for i, ch in enumerate(expr):
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        if ch in "+-" and depth == 0 and current.strip() and expr[i - 1] not in "^_":
            terms.append(current.strip())
            current = ""
        current += ch
    terms.append(current.strip())
    return terms if len(terms) > 1 and all(terms) else None


def _expression_rewrites(gold: str, rng):
    out = [("expression/+1", f"{gold} + 1", False)]
    terms = _terms(gold)
    if terms:
        signed = [t if t[0] in "+-" else "+" + t for t in terms]
        swapped = " ".join(reversed(signed)).lstrip("+").strip()
        out.append(("expression/terms reordered", swapped, True))
    spaced = re.sub(r"\s*([+-])\s*", r" \1 ", gold).strip()
    out.append(("expression/spacing", gold.replace(" ", "") if " " in gold else spaced, True))
    out.append(("expression/\\left(\\right)", f"\\left({gold}\\right)", True))
    return out


def rewrites(gold: str, rng: random.Random) -> tuple[str, list[tuple[str, str, bool]]]:
    """(class of the gold, [(kind, rewritten answer, equal)]), or (class, []) if not understood."""
    g = gold.strip()
    v = read_scalar(g)
    if v is not None:
        return "number", _scalar_rewrites(v, rng)
    m = _DEGREES.fullmatch(g)
    if m:
        n = int(m.group(1))
        return "degrees", [("degrees/no sign", str(n), True), ("degrees/\\text{ degrees}", f"{n}\\text{{ degrees}}", True),
                           ("degrees/°", f"{n}°", True), ("degrees/off", f"{n + 10}^\\circ", False)]
    m = _PERCENT.fullmatch(g)
    if m:
        p = Fraction(m.group(1))
        return "percent", [("percent/number", m.group(1), True), ("percent/value", decimal(p / 100), True),
                           ("percent/word", f"{m.group(1)} percent", True), ("percent/off", f"{decimal(p + 1)}\\%", False)]
    m = _CHOICE.fullmatch(g)
    if m:
        letter = m.group(1)
        other = "ABCDE"[("ABCDE".index(letter) + 2) % 5]
        return "choice", [("choice/\\text{C}", f"\\text{{{letter}}}", True), ("choice/(C)", f"({letter})", True),
                          ("choice/bare", letter, True), ("choice/other letter", f"\\text{{({other})}}", False)]
    m = _ROOT.fullmatch(g)
    if m and int(m.group(2)) >= 2:
        k, n = int(m.group(1) or 1), int(m.group(2))
        return "root", [("root/inside", f"\\sqrt{{{k * k * n}}}", True), ("root/\\cdot", f"{k} \\cdot \\sqrt{{{n}}}", True),
                        ("root/dropped", str(k * n), False), ("root/off", f"{k + 1}\\sqrt{{{n}}}", False)]
    m = _ROOT_OVER.fullmatch(g)
    if m:
        k, n, d = int(m.group(1) or 1), int(m.group(2)), int(m.group(3))
        return "root", [("root/fraction split", f"\\frac{{{k}}}{{{d}}}\\sqrt{{{n}}}", True),
                        ("root/inside", f"\\frac{{\\sqrt{{{k * k * n}}}}}{{{d}}}", True),
                        ("root/off", f"\\frac{{{k}\\sqrt{{{n}}}}}{{{d + 1}}}", False)]
    m = _PI.fullmatch(g)
    if m:
        k = int(m.group(1) or 1)
        return "pi", [("pi/\\cdot", f"{k} \\cdot \\pi", True), ("pi/off", f"{k + 1}\\pi", False),
                      ("pi/3.14", decimal(Fraction(314, 100) * k), False)]
    m = _PI_OVER.fullmatch(g)
    if m:
        k, d = int(m.group(1) or 1), int(m.group(2))
        return "pi", [("pi/fraction split", f"\\frac{{{k}}}{{{d}}}\\pi", True), ("pi/slash", f"{k}\\pi/{d}", True),
                      ("pi/off", f"\\frac{{{k}\\pi}}{{{d + 1}}}", False)]
    pieces = _intervals(g)
    if pieces:
        return "interval", _interval_rewrites(pieces, rng)
    group = _group(g)
    if group:
        items, left, right = group
        ordered = left != "\\{"
        return ("tuple" if ordered else "set"), _items_rewrites(items, left, right, ordered, rng)
    if "," in g and "\\" not in g:
        items = [read_scalar(p) for p in g.split(",")]
        if all(x is not None for x in items):
            return "list", _items_rewrites(items, "", "", False, rng)
    rows = _matrix(g)
    if rows:
        changed = [row[:] for row in rows]
        changed[0][0] += 1
        return "matrix", [("matrix/spacing", _matrix_text(rows, False), True),
                          ("matrix/bmatrix", _matrix_text(rows, False, "bmatrix"), True),
                          ("matrix/one entry off", _matrix_text(changed, False), False)]
    m = _WORD.fullmatch(g)
    if m and (g.startswith("\\text") or len(g) >= 4):   # not a product of variables like `abc`
        word = m.group(1)
        return "words", [("words/bare", word, True), ("words/\\textbf", f"\\textbf{{{word}}}", True),
                         ("words/capitalised", word[0].swapcase() + word[1:], True),
                         ("words/another word", "Tuesday" if word.lower() != "tuesday" else "Monday", False)]
    if re.search(r"(?<![\\A-Za-z])[a-z](?![A-Za-z])", g) and not re.search(r"[=<>,]|\\(?:pm|le|ge|cup|in)\b", g):
        return "expression", _expression_rewrites(g, rng)
    return "other", []


# ---- contexts: where the answer stands in a response ---------------------------------------------

PHRASES = ("The answer is ${}$.", "Therefore, the final answer is ${}$.",
           "Final Answer: The final answer is ${}$. I hope it is correct.", "So the answer is $\\boxed{{{}}}$.")


def _box_span(text: str) -> tuple[int, int] | None:
    """(start of the last `\\boxed{` content, end of it) with nested braces, or None."""
    at = text.rfind("\\boxed{")
    if at < 0:
        return None
    depth, start = 0, at + len("\\boxed")
    for i in range(start, len(text)):
        depth += text[i] == "{"
        depth -= text[i] == "}"
        if depth == 0:
            return start + 1, i
    return None


def in_solution(solution: str, answer: str) -> str | None:
    """A real worked solution with its last boxed answer replaced."""
    span = _box_span(solution)
    return None if span is None else solution[:span[0]] + answer + solution[span[1]:]


def in_released_output(output: str, answer: str) -> str | None:
    """A released model output ("... $\\boxed{X}$. The answer is: X") with both X replaced."""
    head, key, _ = output.rpartition("The answer is: ")
    span = _box_span(head) if key else None
    return None if span is None else head[:span[0]] + answer + head[span[1]:] + key + answer


def unboxed(solution: str, answer: str) -> str | None:
    """A worked solution whose final answer is its last math, not boxed: kept only when the box
    ends its math (`$x = \\boxed{5}.$`, not `$\\boxed{17} = x$`) and no math or digit follows."""
    span = _box_span(solution)
    if span is None:
        return None
    after = solution[span[1] + 1:]
    if not re.fullmatch(r"\s*[.,;]?\s*(?:\$\$|\$|\\\]|\\\))?[^$\\\d]*", after):
        return None
    start = span[0] - len("\\boxed{")
    return solution[:start] + answer + after


def _contexts(answer: str, source: dict, rng) -> list[tuple[str, str]]:
    if re.fullmatch(r"[A-Za-z ]+", answer):   # words are text, not a product of variables in $..$
        out = [("phrase", f"The answer is {answer}.")]
    else:
        out = [("phrase", rng.choice(PHRASES).format(answer))]
    if "solution" in source and source["solution"].count("\\boxed") == 1:
        text = in_solution(source["solution"], answer)
        if text:
            out.append(("boxed in a solution", text))
        text = unboxed(source["solution"], answer)
        if text and "\\begin" not in answer:
            out.append(("unboxed solution", text))
    if "output" in source and source["output"].count("\\boxed") == 1:
        text = in_released_output(source["output"], answer)
        if text:
            out.append(("released output", text))
    return out


def _special(gold: str, cls: str, rng) -> list[Case]:
    """The layouts the grader once missed: decimal commas in text, boxes spanning lines, several
    boxes for one tuple."""
    out = []
    v = read_scalar(gold)
    if v is not None and v.denominator != 1 and _terminates(v) and 1 <= len(decimal(v).split(".")[1]) <= 2:
        comma = decimal(v).replace(".", ",")
        out.append(Case("decimal comma/in text", f"So the answer is {comma}.", gold, True))
        out.append(Case("decimal comma/with currency", f"The total is {comma} $.", gold, True))
        out.append(Case("decimal comma/off", f"So the answer is {decimal(v + 1).replace('.', ',')}.", gold, False))
    rows = _matrix(gold)
    if rows:
        for equal, m in ((True, rows), (False, [[x + 1 for x in row] for row in rows])):
            text = ("We have\n\\begin{align*}\nM &= \\boxed{\n" + _matrix_text(m, True) + "\n}\n\\end{align*}")
            out.append(Case("matrix box spanning lines", text, gold, equal))
    group = _group(gold)
    if group and group[1] == "(" and group[2] == ")" and 2 <= len(group[0]) <= 3:
        names = "xyz"
        for equal, items in ((True, group[0]), (False, list(reversed(group[0])))):
            if not equal and items == group[0]:   # a palindrome reversed is itself
                continue
            boxes = " and ".join(f"${names[i]} = \\boxed{{{_plain(x)}}}$" for i, x in enumerate(items))
            out.append(Case("several boxes for one tuple", f"Solving the system gives {boxes}.", gold, equal))
    return out


def _sources(data: Path):
    """(gold, source record) pairs: MATH-500 with its solutions, then released outputs with their golds."""
    with open(data / "data/test/math.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            yield row["answer"], {"solution": row["solution"]}
    seen = set()
    for run in RELEASED_OUTPUTS:
        with open(data / f"data/llama_factory/math/train_math_{run}.json", encoding="utf-8") as f:
            for record in json.load(f):
                gold = record.get("gold")
                if gold and gold not in seen and not DAMAGED.search(gold):
                    seen.add(gold)
                    yield gold, {"output": record["output"]}


def family(case: Case) -> str:
    """The kind of rewrite, without its details: "number", "interval", "decimal comma", ..."""
    return case.kind.split(" / ")[0].split("/")[0]


def cases(data: Path, seed: int = 0, per_family: int | None = None) -> list[Case]:
    """Every case, in a fixed order for a seed; `per_family` keeps a seeded sample of at most that
    many of each family (numbers would otherwise be two thirds of the sample)."""
    rng = random.Random(seed)
    out: list[Case] = []
    for gold, source in _sources(Path(data)):
        cls, rewritten = rewrites(gold, rng)
        for kind, answer, equal in rewritten:
            if answer.strip() != gold.strip():
                where, response = rng.choice(_contexts(answer, source, rng))
                out.append(Case(f"{kind} / {where}", response, gold, equal))
        out.extend(_special(gold, cls, rng))
    if per_family is not None:
        pick = random.Random(seed + 1)
        keep = set()
        for name in sorted({family(c) for c in out}):
            members = [i for i, c in enumerate(out) if family(c) == name]
            keep.update(pick.sample(members, min(per_family, len(members))))
        out = [c for i, c in enumerate(out) if i in keep]
    return out


def math_verify_verdict(case: Case) -> bool:
    """math-verify 0.9 with its defaults, as a user calls it: parse the response, parse `$gold$`."""
    from math_verify import parse, verify
    return bool(verify(parse("$" + case.gold + "$"), parse(case.response)))


def main() -> None:
    import argparse
    import logging
    import os
    import sys
    from collections import Counter
    parser = argparse.ArgumentParser(description="Agreement of robust and math-verify on the held-out sample.")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get(
        "W2S_SHARED", Path(__file__).resolve().parents[3] / "shared")) / "data" / "gair-w2s")
    parser.add_argument("--per-family", type=int, default=None, help="at most this many cases of each family")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=0, help="print this many cases robust gets wrong")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    sys.setrecursionlimit(10_000)
    from w2s_lf.grading import grade
    sample = cases(args.data, args.seed, args.per_family)
    right = Counter()
    wrong_robust = []
    for case in sample:
        mine = grade(case.response, case.gold, "math").correct == case.equal
        theirs = math_verify_verdict(case) == case.equal
        kind = family(case)
        right[kind, "n"] += 1
        right[kind, "robust"] += mine
        right[kind, "math-verify"] += theirs
        right[kind, "robust where math-verify right"] += mine and theirs
        right[kind, "math-verify right"] += theirs
        if theirs and not mine:
            wrong_robust.append(case)
    kinds = sorted({k for k, _ in right})
    print(f"{'kind':32} {'n':>5} {'robust':>7} {'math-verify':>12} {'robust|mv right':>16}")
    for kind in kinds + ["all"]:
        get = (lambda c: sum(right[k, c] for k in kinds)) if kind == "all" else (lambda c: right[kind, c])
        print(f"{kind:32} {get('n'):5} {get('robust'):7} {get('math-verify'):12} "
              f"{get('robust where math-verify right'):>8}/{get('math-verify right')}")
    for case in wrong_robust[:args.show]:
        print("\n---", case.kind, "| gold:", case.gold, "| equal:", case.equal, "\n", case.response[-300:])


if __name__ == "__main__":
    main()
