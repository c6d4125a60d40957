"""Robust grading against math-verify on a held-out sample written from the released data.

`heldout.py` rewrites MATH-500 gold answers and the golds of the paper's released MATH outputs in
other notations, inside real solutions and outputs; whether each rewrite is equal is known by
construction. Wherever math-verify (0.9, its defaults) gets a case right, robust must too.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter

import pytest
from heldout import cases, family, math_verify_verdict

from w2s_lf.grading import grade

PER_FAMILY = 100   # a seeded sample of each family of rewrites (all of them: `python tests/grading/heldout.py`)


@pytest.mark.shared
@pytest.mark.timeout(600)
def test_robust_is_right_wherever_math_verify_is(gair):
    sample = cases(gair, seed=0, per_family=PER_FAMILY)
    assert len(sample) >= 1000 and len({family(c) for c in sample}) >= 15
    logging.disable(logging.WARNING)   # math-verify logs each expression it cannot parse
    right, missed = Counter(), []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # sympy deprecation warnings from latex2sympy
            for case in sample:
                ours = grade(case.response, case.gold, "math").correct == case.equal
                theirs = math_verify_verdict(case) == case.equal
                right["robust"] += ours
                right["math-verify"] += theirs
                if theirs and not ours:
                    missed.append((case.kind, case.gold, case.response[-200:]))
    finally:
        logging.disable(logging.NOTSET)
    print(f"\nheld-out sample of {len(sample)}: robust right on {right['robust']}, "
          f"math-verify's defaults on {right['math-verify']}")
    assert missed == []
