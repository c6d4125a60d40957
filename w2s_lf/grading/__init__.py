"""Answer grading: extraction, normalisation and equivalence, one item or many.

    >>> from w2s_lf.grading import grade
    >>> g = grade("48 + 24 = 72\\n#### 72", "72", "gsm8k")
    >>> (g.pred, g.gold, g.correct)
    ('72', '72', True)

Modes: "robust" (default; right about numbers, LaTeX, chat phrasings) and "seed" (the paper's
rules exactly, for reproducing its results). See the module docstrings of `seed`, `robust`,
`numbers`, `spans`, `mathtext`, `values`, `evaluate`, `fastpath`, `symbolic`, `bounded` and
`batch` for the design and its known differences.
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
    extract_answer,
    grade,
    is_equivalent,
    normalize_answer,
)

# Bump when a change could alter any pred or verdict; runs and reports record it.
GRADER_VERSION = "2"   # 2: robust MATH grading (spans, canonical LaTeX, values, 6-place decimals)

__all__ = [
    "GRADER_VERSION", "MODES", "Grade", "GradingTimeout", "Rejected", "Vote", "check_expression", "deadline",
    "default_workers", "extract_answer", "grade", "grade_many", "is_equivalent", "majority_vote",
    "normalize_answer", "pass_at_k",
]
