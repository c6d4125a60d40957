"""The paper's grading rules ("seed" mode), reproduced exactly and in linear time.

Yang et al. grade a response in three steps (docs/method.md, "Grading: seed and robust"): take the text after the
task's answer key on the last line (else the first number after the last "The answer is"),
normalise prediction and gold with the Minerva normaliser (Lewkowycz et al. 2022, appendix,
plus the paper's `.0`/`.00`/`%`/single-letter additions), and compare. The paper's comparison
tries sympy `parse_latex` first, but in its released results parsing always failed, so every
released `result` equals normalised string equality; that is what we implement. It marks
`0.50` vs `0.5` wrong on purpose: seed mode exists to reproduce the paper, not to be right.

Why the code does not use the paper's regexes verbatim: `(.*?)\\$(.*?)\\$(.*)`, `\\text\\{(.*?)\\}`,
`\\boxed\\{(.*)\\}` and `<key> (.*)$` backtrack quadratically on long lines without the closing
token (a 1 MB line takes hours). Each is replaced by a scan that provably yields the same
string; the tests check this against the regexes on random inputs.
"""

from __future__ import annotations

import re

SUBSTITUTIONS = (
    ("an ", ""), ("a ", ""), (".$", "$"), ("\\$", ""), ("\\ ", ""), ("\\%", "%"),
    (" ", ""), ("mbox", "text"), (",\\text{and}", ","),
    ("\\text{and}", ","), ("\\text{m}", "\\text{}"),
)
REMOVED_EXPRESSIONS = (
    "square", "ways", "integers", "dollars", "mph", "inches", "ft",
    "hours", "km", "units", "\\ldots", "sue", "points", "feet",
    "minutes", "digits", "cents", "degrees", "cm", "gm", "pounds",
    "meters", "meals", "edges", "students", "childrentickets", "multiples",
    "\\text{s}", "\\text{.}", "\\text{\ns}", "\\text{}^2",
    "\\text{}^3", "\\text{\n}", "\\text{}", "\\mathrm{th}",
    "^\\circ", "^{\\circ}", "\\;", ",\\!", "{,}", '"', "\\dots",
)
_FIRST_NUMBER = re.compile(r"-?\d+\.?\d*")
_FRAC_SHORTHAND = re.compile(r"(frac)([^{])(.)")
_SQRT_SHORTHAND = re.compile(r"(sqrt)([^{])")


# ---- extraction -------------------------------------------------------------------------------

def _after_key_on_last_line(text: str, key: str) -> str | None:
    """The last match of ``re.findall(key + ' (.*)$', text)`` for a stripped ``text``.

    Without MULTILINE, `$` is the end of the text, and `.` stops at newlines, so a match lies on
    the last line; the earliest `key + ' '` there swallows the rest, so there is exactly one.
    """
    last_line = text[text.rfind("\n") + 1:]
    at = last_line.find(key + " ")
    return None if at < 0 else last_line[at + len(key) + 1:]


def _answer_cleansing(text: str) -> str:
    """The paper's fallback: first number after the last-line `The answer is `, commas removed."""
    tail = _after_key_on_last_line(text, "The answer is")
    if tail is None:
        return ""
    number = _FIRST_NUMBER.search(tail.replace(",", ""))
    if number is None:
        return ""
    pred = number.group(0)
    return pred.removesuffix(".")


def extract_raw(response: str, answer_key: str) -> str:
    """The prediction before normalisation (docs/method.md, "Grading: seed and robust", steps 1-4)."""
    text = response.split("Question", 1)[0].strip()
    pred = _after_key_on_last_line(text, answer_key)
    if not pred:  # None or "": the paper falls back on an empty match too
        pred = _answer_cleansing(text)
    if "</s>" in pred:
        pred = pred[:-4]
    return pred


# ---- Minerva normalisation ---------------------------------------------------------------------

def _per_line(text: str, fn) -> str:
    return "\n".join(fn(line) for line in text.split("\n")) if "\n" in text else fn(text)


def _first_math(line: str) -> str:
    """``re.sub(r'(.*?)(\\$)(.*?)(\\$)(.*)', '$\\3$', line)`` on one line."""
    first = line.find("$")
    second = line.find("$", first + 1) if first >= 0 else -1
    return line if second < 0 else "$" + line[first + 1:second] + "$"


def _unwrap_lazy(command: str):
    """``re.sub(command + r'\\{(.*?)\\}', r'\\1', line)`` on one line: each `\\cmd{` up to the next `}`."""
    opener = command + "{"

    def unwrap(line: str) -> str:
        out, pos = [], 0
        while True:
            start = line.find(opener, pos)
            if start < 0:
                break
            end = line.find("}", start + len(opener))
            if end < 0:   # no closing brace on this line: no later opener can match either
                break
            out.append(line[pos:start])
            out.append(line[start + len(opener):end])
            pos = end + 1
        out.append(line[pos:])
        return "".join(out)
    return unwrap


def _unwrap_boxed(line: str) -> str:
    """``re.sub(r'(\\\\boxed\\{)(.*)(\\})', r'\\2', line)`` on one line: first `\\boxed{` to the last `}`."""
    start = line.find("\\boxed{")
    if start < 0:
        return line
    end = line.rfind("}")
    if end < start + 7:
        return line
    return line[:start] + line[start + 7:end] + line[end + 1:]


_UNWRAPPERS = (_first_math, _unwrap_lazy("\\text"), _unwrap_lazy("\\textbf"),
               _unwrap_lazy("\\overline"), _unwrap_boxed)


def normalize_final_answer(answer: str) -> str:
    """The paper's Minerva normaliser (docs/method.md, "Grading: seed and robust", step 5), string in, string out."""
    answer = str(answer).split("=")[-1]
    for before, after in SUBSTITUTIONS:
        answer = answer.replace(before, after)
    for expr in REMOVED_EXPRESSIONS:
        answer = answer.replace(expr, "")
    for unwrap in _UNWRAPPERS:
        answer = _per_line(answer, unwrap)
    answer = _FRAC_SHORTHAND.sub("frac{\\2}{\\3}", answer)
    answer = _SQRT_SHORTHAND.sub("sqrt{\\2}", answer)
    answer = answer.replace("$", "")
    if answer.replace(",", "").isdigit():
        answer = answer.replace(",", "")
    if answer.endswith(".0") and answer[:-2].isdigit():
        answer = answer[:-2]
    if answer.endswith(".00") and answer[:-3].isdigit():
        answer = answer[:-3]
    if answer.endswith("%") and answer[:-1].isdigit():
        answer = answer[:-1]
    if answer.lower() in ("a", "b", "c", "d", "e", "f", "g"):
        answer = answer.lower()
    return answer


# ---- the three steps ---------------------------------------------------------------------------

def extract(response: str, answer_key: str) -> str:
    """The normalised prediction, as the paper's results store it in `pred`."""
    return normalize_final_answer(extract_raw(response, answer_key))


def equivalent(pred: str, gold: str) -> bool:
    """Normalised string equality: what the paper's check reduced to in its released results.

    Both arguments are normalised (idempotently enough for the paper's answers) before comparing.
    """
    return normalize_final_answer(pred) == normalize_final_answer(gold)
