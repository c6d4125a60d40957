"""`w2s_lf.report.stats`: the paired bootstrap, Wilson intervals and PGR intervals on hand-checkable cases."""

from __future__ import annotations

import numpy as np
import pytest

from w2s_lf.report import stats


def _rows(*results: list[int]) -> tuple[np.ndarray, np.ndarray]:
    correct = np.array(results, dtype=bool)
    return correct, np.ones_like(correct)


def test_resample_counts_draw_n_questions_per_resample_and_repeat_with_the_seed():
    chunks = list(stats.resample_counts(7, resamples=1200, seed=3))
    counts = np.concatenate(chunks)
    assert counts.shape == (1200, 7) and (counts.sum(axis=1) == 7).all()
    assert abs(counts.mean() - 1.0) < 0.02                       # every question equally likely
    assert np.array_equal(counts, np.concatenate(list(stats.resample_counts(7, resamples=1200, seed=3))))
    assert not np.array_equal(counts, np.concatenate(list(stats.resample_counts(7, resamples=1200, seed=4))))


def test_two_questions_give_the_hand_computed_distribution():
    # One right, one wrong: a resample's accuracy is 0, 1/2 or 1 with probability 1/4, 1/2, 1/4,
    # so the 2.5% and 97.5% percentiles are 0 and 1.
    boot = stats.bootstrap_accuracies(*_rows([1, 0]))[0]
    shares = [np.mean(boot == v) for v in (0.0, 0.5, 1.0)]
    assert shares == pytest.approx([0.25, 0.5, 0.25], abs=0.015)
    assert stats.percentile_interval(boot) == (0.0, 1.0)


def test_accuracy_interval_matches_the_binomial_spread():
    # 50 of 100: the bootstrap mean is Binomial(100, 0.5)/100, 95% within about 0.5 +- 0.098.
    result = stats.paired_intervals(["m"], *_rows([1] * 50 + [0] * 50))["m"]
    lo, hi = result["accuracy_ci"]
    assert lo == pytest.approx(0.40, abs=0.011) and hi == pytest.approx(0.60, abs=0.011)
    assert result["accuracy_wilson"] == pytest.approx([0.403832, 0.596168], abs=1e-6)


@pytest.mark.parametrize("correct, n, expected", [
    (0, 10, (0.0, 0.277533)),          # z^2 / (n + z^2): not degenerate at 0%
    (10, 10, (0.722467, 1.0)),
    (50, 100, (0.403832, 0.596168)),
    (0, 0, None),
])
def test_wilson_interval_known_values(correct, n, expected):
    result = stats.wilson_interval(correct, n)
    assert result == (None if expected is None else pytest.approx(expected, abs=1e-6))


def test_identical_models_have_a_degenerate_difference_at_zero():
    same = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1] * 5
    result = stats.paired_intervals(["weak", "m"], *_rows(same, same), floor="weak")
    assert result["m"]["difference"] == {"weak": {"estimate": 0.0, "ci": [0.0, 0.0]}}


def test_clearly_different_models_exclude_zero():
    weak = [1] * 20 + [0] * 80
    strong = [1] * 80 + [0] * 20
    diff = stats.paired_intervals(["weak", "m"], *_rows(weak, strong), floor="weak")["m"]["difference"]["weak"]
    assert diff["estimate"] == pytest.approx(0.6) and diff["ci"][0] > 0.4


def test_pairing_narrows_the_difference_interval():
    # Two models that disagree on 2 of 200 questions: unpaired, their difference would spread about
    # +-10 points; paired, only the 2 disagreements vary.
    base = [1, 0] * 100
    other = list(base)
    other[1] = other[3] = 1
    diff = stats.paired_intervals(["weak", "m"], *_rows(base, other), floor="weak")["m"]["difference"]["weak"]
    assert diff["estimate"] == pytest.approx(0.01) and diff["ci"][0] >= 0 and diff["ci"][1] <= 0.025


def test_pgr_with_a_perfect_gap_is_the_models_accuracy():
    # weak always wrong, gold always right: the gap is 1 in every resample, so PGR = accuracy.
    n = 60
    model = [1] * 21 + [0] * 39
    result = stats.paired_intervals(["weak", "gold", "m"], *_rows([0] * n, [1] * n, model),
                                    floor="weak", ceiling="gold")
    m = result["m"]
    assert m["pgr"] == pytest.approx(0.35) and m["pgr_undefined"] == 0.0
    assert m["pgr_ci"] == m["accuracy_ci"]
    assert "pgr" not in result["weak"] and "pgr" not in result["gold"]


def test_pgr_undefined_share_matches_the_hand_computation():
    # weak and gold differ only on question 0 of 3: a resample has no gap when it misses question 0,
    # which happens with probability (2/3)^3 = 8/27.
    result = stats.paired_intervals(["weak", "gold", "m"], *_rows([0, 0, 0], [1, 0, 0], [1, 1, 0]),
                                    floor="weak", ceiling="gold")["m"]
    assert result["pgr_undefined"] == pytest.approx(8 / 27, abs=0.015)
    assert result["pgr"] == pytest.approx(2.0)


def test_pgr_is_undefined_when_ceiling_equals_floor():
    same = [1, 0, 0, 1]
    result = stats.paired_intervals(["weak", "gold", "m"], *_rows(same, same, [1, 1, 0, 0]),
                                    floor="weak", ceiling="gold")["m"]
    assert result["pgr"] is None and result["pgr_ci"] is None and result["pgr_undefined"] == 1.0


def test_ungraded_questions_stay_out_of_every_resample():
    correct = np.array([[1, 0, 1, 0]], dtype=bool)
    graded = np.array([[1, 1, 1, 0]], dtype=bool)      # the last question has no known gold
    result = stats.paired_intervals(["m"], correct, graded)["m"]
    boot = stats.bootstrap_accuracies(correct, graded)[0]
    assert np.nanmin(boot) == 0.0 and np.nanmax(boot) == 1.0
    assert set(np.round(boot[np.isfinite(boot)] * 3) / 3) <= {0.0, 1 / 3, 2 / 3, 1.0}
    assert result["accuracy_wilson"] == pytest.approx(list(stats.wilson_interval(2, 3)), abs=1e-6)
    # a model with nothing graded gets no intervals
    assert stats.paired_intervals(["m"], correct, np.zeros_like(graded)) == {}


def test_same_inputs_same_intervals_and_differences_against_every_reference():
    rows = _rows([0, 1, 0, 0, 1, 0], [1, 1, 0, 1, 1, 0], [1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 1])
    keys = ["weak", "full", "m", "gold"]
    first = stats.paired_intervals(keys, *rows, floor="weak", ceiling="gold", references=["full"])
    assert first == stats.paired_intervals(keys, *rows, floor="weak", ceiling="gold", references=["full"])
    assert set(first["m"]["difference"]) == {"weak", "full"}
    assert set(first["full"]["difference"]) == {"weak"} and first["weak"]["difference"] == {}
    assert first["m"]["difference"]["full"]["estimate"] == pytest.approx(1 / 6, abs=1e-6)
