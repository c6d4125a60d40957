"""Answer grading: extraction, normalisation and equivalence, one item or many.

    >>> from w2s_lf.grading import grade
    >>> g = grade("48 + 24 = 72\\n#### 72", "72", "gsm8k")
    >>> (g.pred, g.gold, g.correct)
    ('72', '72', True)

Modes: "robust" (default; right about numbers, LaTeX, chat phrasings) and "seed" (the paper's
rules exactly, for reproducing its results; `seed`). Robust grading is three steps, each a
module of pure functions: `extract` (where the answer is; `spans` finds math and boxes),
`normalise` (its canonical text; `numbers` for plain numbers) and `compare` (are two answers the
same; `values` reads answers into values, `expr` evaluates LaTeX expressions). What `compare`
cannot decide goes to math-verify, bounded in time (`defer`). `core` runs one item, `batch` many,
`bounded` keeps every step bounded in time.
"""

from w2s_lf.grading.batch import (
    Vote,
    default_workers,
    grade_many,
    majority_vote,
    pass_at_k,
)
from w2s_lf.grading.bounded import GradingTimeout, Rejected, check_expression, deadline
from w2s_lf.grading.core import (
    MODES,
    Grade,
    check_mode,
    extract_answer,
    grade,
    is_equivalent,
    normalize_answer,
)

# Bump when a change could alter any pred or verdict; runs and reports record it.
# 2: robust MATH grading (spans, canonical LaTeX, values, 6-place decimals).
# 3: robust preds and verdicts change: mixed numbers (`2 1/2` was 21/2) and decimal commas
#    (`1000,99`); GSM8K `2^{10}` and `2**3` are no numbers (they were 2 and 23); MATH boxes left
#    open or around environment ends, boxes assigned in turn as one tuple, `C)`, chains, display
#    environments; math-verify's verdicts now come from a killed-on-overrun worker (2 s, was 1 s).
#    Seed mode is unchanged.
GRADER_VERSION = "3"

__all__ = [
    "GRADER_VERSION", "MODES", "Grade", "GradingTimeout", "Rejected", "Vote", "check_expression", "check_mode",
    "deadline",
    "default_workers", "extract_answer", "grade", "grade_many", "is_equivalent", "majority_vote",
    "normalize_answer", "pass_at_k",
]
