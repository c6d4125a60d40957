"""Stage I and stage II dataset builders: pure functions over records (docs/method.md rules).

    from w2s_lf.builders import build_full_weak, build_stage1, vote, build_pairs
"""

from w2s_lf.builders.gold import load_gold
from w2s_lf.builders.stage1 import Stage1Result, build_full_weak, build_stage1
from w2s_lf.builders.stage2 import (
           PAIR_LIMITS,
           PairsResult,
           QuestionVote,
           build_pairs,
           vote,
)
from w2s_lf.generation.results import check_aligned, load_results, load_samples

__all__ = ["PAIR_LIMITS", "PairsResult", "QuestionVote", "Stage1Result", "build_full_weak", "build_pairs",
           "build_stage1", "check_aligned", "load_gold", "load_results", "load_samples", "vote"]
