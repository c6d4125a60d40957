"""`w2s_lf.report.findings`: what the sentences claim, on hand-made metrics whose intervals are known."""

from __future__ import annotations

import pytest

from w2s_lf.report import findings as lib
from w2s_lf.report import formatting
from w2s_lf.report.formatting import model_info
from w2s_lf.report.markdown import render_report


def _model(acc: float, ci: list[float], n: int = 200, diffs: dict | None = None, pgr=None,
           pgr_ci=None, undefined: float = 0.0) -> dict:
    entry = {"accuracy": acc, "n": n, "correct": round(acc * n), "ungraded": 0, "accuracy_ci": ci,
             "accuracy_wilson": ci, "difference": {k: {"estimate": d, "ci": c} for k, (d, c) in (diffs or {}).items()}}
    if pgr is not None:
        entry.update(pgr=pgr, pgr_ci=pgr_ci, pgr_undefined=undefined)
    return entry


def _run(gold_ci=(0.34, 0.46), gap_ci=(0.14, 0.26), **models) -> dict:
    metrics = {"weak": _model(0.20, [0.15, 0.26]),
               "strong_full_weak": _model(0.25, [0.19, 0.31], diffs={"weak": (0.05, [0.01, 0.09])},
                                          pgr=0.25, pgr_ci=[0.05, 0.45]),
               "strong_gold": _model(0.40, list(gold_ci), diffs={"weak": (0.20, list(gap_ci))})}
    metrics.update(models)
    return metrics


def _said(metrics: dict) -> list[str]:
    return lib.findings(metrics, lambda k: model_info(k)[0])


def _w2s(acc, ci, vs_full, vs_full_ci, pgr=0.5, pgr_ci=(0.2, 0.8), undefined=0.0):
    return _model(acc, ci, diffs={"weak": (acc - 0.2, [0.0, 0.3]), "strong_full_weak": (vs_full, vs_full_ci)},
                  pgr=pgr, pgr_ci=list(pgr_ci), undefined=undefined)


def test_beat_did_not_beat_and_worse_are_told_apart():
    said = _said(_run(mplus_iter1=_w2s(0.31, [0.25, 0.37], 0.06, [0.02, 0.10]),
                      mpro_dpo=_w2s(0.27, [0.21, 0.33], 0.02, [-0.02, 0.06]),
                      mpro_orpo=_w2s(0.20, [0.15, 0.26], -0.05, [-0.09, -0.01])))
    assert said[0].startswith("The test set has 200 graded questions;") and "10,000 resamples" in said[0]
    assert said[1] == ("The gold ceiling, 40.0% [34.0, 46.0], is above the weak floor, 20.0% [15.0, 26.0], "
                       "with non-overlapping intervals (gap +20.0 points [+14.0, +26.0]): there is a gap for "
                       "weak-to-strong training to recover.")
    assert said[2].startswith("At this scale, weak-to-strong training beat the full-weak baseline with M_plus iter 1.")
    assert "with 3 models compared, one of them excluding 0 by chance is likelier than 5%" in said[2]
    assert said[3] == ("M_plus iter 1 (31.0% [25.0, 37.0]) beat the full-weak baseline (25.0% [19.0, 31.0]): "
                       "+6.0 points [+2.0, +10.0], an interval above 0.")
    assert "M_pro DPO (27.0% [21.0, 33.0]) did not beat the full-weak baseline" in said[4]
    assert "at this scale: +2.0 points [-2.0, +6.0], an interval that includes 0" in said[4]
    assert "M_pro ORPO (20.0% [15.0, 26.0]) did worse than the full-weak baseline" in said[5]
    assert said[6].startswith("PGR (0 = weak floor, 1 = gold ceiling): full weak 0.25 [0.05, 0.45]; M_plus iter 1 0.50")
    assert said[-1] == lib.SEED_CAVEAT


def test_nothing_beat_the_baseline_is_said_plainly():
    said = _said(_run(mpro_orpo=_w2s(0.27, [0.21, 0.33], 0.02, [-0.02, 0.06])))
    assert said[2] == ("At this scale, weak-to-strong training did not beat the full-weak baseline: "
                       "its model's difference interval does not lie above 0.")
    assert not any(") beat the full-weak baseline" in s for s in said)   # no claim of a win


def test_overlapping_floor_and_ceiling_make_pgr_imprecise():
    said = _said(_run(gold_ci=(0.24, 0.56), gap_ci=(0.02, 0.38),
                      mpro_dpo=_w2s(0.3, [0.2, 0.4], 0.05, [-0.05, 0.15])))
    assert "by +20.0 points [+2.0, +38.0], but their accuracy intervals overlap" in said[1]
    assert any(s.startswith("PGR (0 = weak floor, 1 = gold ceiling), imprecise here") for s in said)


def test_a_gap_that_includes_zero_makes_pgr_meaningless():
    said = _said(_run(gold_ci=(0.14, 0.36), gap_ci=(-0.04, 0.12),
                      mpro_dpo=_w2s(0.3, [0.2, 0.4], 0.05, [-0.05, 0.15], undefined=0.123)))
    assert "is not clearly above the weak floor, 20.0% [15.0, 26.0]: the gap, +20.0 points [-4.0, +12.0]" in said[1]
    pgr = next(s for s in said if s.startswith("PGR"))
    assert pgr.startswith("PGR (0 = weak floor, 1 = gold ceiling), not meaningful here")
    # full weak has no undefined resamples here and M_pro DPO has, so each says its own share
    assert "M_pro DPO 0.50 [0.20, 0.80] (ceiling equalled floor in 12.3% of its resamples, left out)" in pgr


@pytest.mark.parametrize("drop, expected", [
    ("strong_full_weak", "This run has no full-weak baseline, so whether weak-to-strong training beat it is not measured."),
    ("strong_gold", "This run has no gold ceiling, so PGR is not measured."),
])
def test_missing_reference_models_are_said_not_guessed(drop, expected):
    metrics = _run(mpro_dpo=_w2s(0.3, [0.2, 0.4], 0.05, [0.01, 0.09]))
    del metrics[drop]
    assert expected in _said(metrics)


def test_metrics_without_intervals_ask_for_a_recompute():
    assert _said({"weak": {"accuracy": 0.2, "n": 5}}) == [
        "eval/metrics.json has no intervals (written by an older w2s-lf); `w2s-lf report RUN --recompute` adds them."]
    assert _said({}) == [] and _said({"mplus_iter1": {"accuracy": None, "n": 0}}) == []


@pytest.mark.parametrize("value, text", [(0.0349, "+3.5"), (-0.012, "-1.2"), (0.0004, "0.0"), (-0.0004, "0.0")])
def test_points_are_signed(value, text):
    assert formatting.fmt_points(value) == text


def test_report_gives_wilson_where_the_bootstrap_is_a_point():
    metrics = _run(mplus_iter1=_w2s(0.0, [0.0, 0.0], -0.25, [-0.31, -0.19]))
    metrics["mplus_iter1"]["accuracy_wilson"] = [0.0, 0.018845]
    text = render_report({"name": "t"}, metrics)
    assert "the bootstrap interval is a single point; the Wilson 95% interval is wider: M_plus iter 1 [0.0, 1.9]." in text


def _stage1(kept: int, weak_kept: float, weak_all: float, icl_all: float | None = None) -> dict:
    stats = {"questions": 400, "kept": kept, "accuracy_weak_kept": weak_kept, "accuracy_weak_all": weak_all}
    return stats if icl_all is None else {**stats, "accuracy_icl_all": icl_all}


def test_stage1_filter_that_selects_better_labels_is_said_so():
    # 90% of 150 kept vs 40% of 400: Wilson intervals [84, 94] and [35, 45] do not overlap.
    said = lib.data_findings({"stage1": {"stats": _stage1(150, 0.90, 0.40, icl_all=0.60)}})
    assert len(said) == 1
    assert "kept 150 of 400 train_2 questions (37.5%)" in said[0]
    assert "selected better labels" in said[0] and "below the weak labels" not in said[0]


def test_stage1_with_a_strong_model_worse_than_its_weak_labels_explains_why():
    said = lib.data_findings({"stage1": {"stats": _stage1(7, 0.1429, 0.156, icl_all=0.025)},
                              "stage1_iter2": {"stats": _stage1(7, 0.1429, 0.156)}})
    assert said[0].startswith("Stage I (iteration 1) kept 7 of 400")
    assert "no difference from the full weak set is shown" in said[0]
    assert "below the weak labels themselves" in said[0]
    assert said[1].startswith("Stage I (iteration 2)")


@pytest.mark.parametrize("chosen, rejected, verdict", [
    (0.80, 0.20, "mostly prefer right answers"),
    (0.093, 0.40, "push"),
    (0.30, 0.25, "no clear direction"),
])
def test_pairs_direction_follows_the_intervals(chosen, rejected, verdict):
    said = lib.data_findings({"pairs": {"stats": {"pairs": 100, "chosen_accuracy": chosen,
                                                  "rejected_accuracy": rejected}}})
    assert len(said) == 1 and verdict in said[0]


def test_data_without_gold_gives_counts_only():
    said = lib.data_findings({"stage1": {"stats": {"questions": 50, "kept": 10}}, "pairs": {"stats": {"pairs": 9}},
                              "vote": {"stats": {"questions": 50}}, "weak_sft": {"status": "done"}})
    assert said == ["Stage I (iteration 1) kept 10 of 50 train_2 questions (20.0%), those whose weak "
                    "and strong answers agree."]


def test_splits_that_are_not_the_papers_are_said_first_and_kept_out_of_the_stats_cell():
    from w2s_lf.report.formatting import fmt_stats
    stats = {"train_1": 3736, "train_2": 3737, "test": 1319, "paper": {"train_1": 7000, "train_2": 7000, "test": 1319},
             "warning": "these splits are not the paper's (train_1 3,736 vs 7,000; train_2 3,737 vs 7,000): why; how"}
    said = lib.data_findings({"prepare": {"stats": stats}, "stage1": {"stats": {"questions": 50, "kept": 10}}})
    assert said[0] == "Warning (prepare): " + stats["warning"] + "."
    assert fmt_stats(stats) == "train 1 3736; train 2 3737; test 1319; paper: train 1 7000, train 2 7000, test 1319"
