"""Symbolic equivalence through math-verify, behind guards and a thread-safe deadline.

math-verify (Hugging Face) is the field's standard for LaTeX answers: intervals, tuples, sets,
matrices, equations and expressions. We use only its LaTeX parser (latex2sympy, a grammar, no
`eval`): its `ExprExtractionConfig` runs sympy's `parse_expr`, which evaluates Python, so model
text never reaches it. Its signal-based timeouts are switched off (they fail outside the main
thread); `bounded.py` supplies ours. It is imported on first use, so importing w2s_lf.grading
and grading GSM8K stay fast.
"""

from __future__ import annotations

from w2s_lf.grading.bounded import GradingTimeout, Rejected, check_expression, deadline

SYMBOLIC_SECONDS = 1.0
_CONFIG = None


def _math_verify():
    global _CONFIG
    import math_verify
    from math_verify import grader, parser
    if _CONFIG is None:
        parser.TIMEOUT_WARNING_SHOWN = grader.TIMEOUT_WARNING_SHOWN = True   # we bound time ourselves
        config = (math_verify.LatexExtractionConfig(boxed_match_priority=0),)
        # The first parse builds the LaTeX grammar (~0.3 s): do it here, outside any deadline.
        math_verify.verify(math_verify.parse("$x+1$", config, parsing_timeout=None),
                           math_verify.parse("$1+x$", config, parsing_timeout=None), timeout_seconds=None)
        _CONFIG = config
    return math_verify


def warm_up() -> None:
    """Import math-verify and build its parser now, so that no item's deadline pays for it
    (about a second, cold). Worker pools call this before forking."""
    _math_verify()


def verify(pred: str, gold: str, seconds: float = SYMBOLIC_SECONDS) -> tuple[bool, str | None]:
    """(equal, reason): reason is None when the check ran, else why it could not decide."""
    try:
        check_expression(pred)
        check_expression(gold)
    except Rejected as e:
        return False, f"not checked symbolically: {e}"
    mv = _math_verify()
    try:
        with deadline(seconds):
            gold_parsed = mv.parse("$" + gold + "$", _CONFIG, parsing_timeout=None)
            pred_parsed = mv.parse("$" + pred + "$", _CONFIG, parsing_timeout=None)
            if not gold_parsed or not pred_parsed:
                return False, "could not parse"
            return bool(mv.verify(gold_parsed, pred_parsed, timeout_seconds=None)), None
    except GradingTimeout:
        return False, "timeout"
    except Exception as e:   # noqa: BLE001 - a library failure marks this item wrong, never the batch
        return False, f"error: {type(e).__name__}"
