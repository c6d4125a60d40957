"""What a run's numbers do and do not show, in sentences, from eval/metrics.json's intervals.

Every claim rests on a 95% interval from `w2s_lf.report.stats`: a model "beat" the full-weak baseline
only when its paired difference interval lies above 0, the ceiling is "above the floor" only when
their accuracy intervals do not overlap, and everything else is said to be unresolved at this
scale. The sentences never go beyond the intervals, and always end with the one-seed caveat.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from w2s_lf.report import stats
from w2s_lf.report.formatting import (
    fmt_interval,
    fmt_pgr,
    fmt_points,
    fmt_points_interval,
    fmt_rate,
)
from w2s_lf.report.metrics import BASELINE, CEILING, FLOOR

W2S_MODEL = re.compile(r"(mplus_iter\d+|mpro_\w+)$")   # the models weak-to-strong training produces
SEED_CAVEAT = ("These numbers come from one training seed and one test set: the intervals cover "
               "which test questions were drawn, not training randomness (seed, data order), so "
               "another seed could move each number by more than its interval shows.")


def is_w2s_model(key: str) -> bool:
    return bool(W2S_MODEL.match(key))


def side_of_zero(bounds: list[float] | None) -> str | None:
    """"above" or "below" when an interval excludes 0, else None (it includes 0, or is missing)."""
    if not bounds:
        return None
    return "above" if bounds[0] > 0 else "below" if bounds[1] < 0 else None


def _accuracy(entry: dict) -> str:
    return f"{fmt_rate(entry['accuracy'])} {fmt_interval(entry.get('accuracy_ci'))}"


def _difference(entry: dict, ref: str) -> dict | None:
    diff = (entry.get("difference") or {}).get(ref)
    return diff if diff and diff.get("ci") else None


def size_sentence(metrics: dict) -> str:
    graded = sorted({e["n"] for e in metrics.values() if e.get("accuracy") is not None})
    ungraded = max((e.get("ungraded") or 0) for e in metrics.values())
    size = f"{graded[0]}" if len(graded) == 1 else f"{graded[0]} to {graded[-1]}"
    return (f"The test set has {size} graded questions" + (f" ({ungraded} with unknown gold left out)" if ungraded else "")
            + f"; every bracket is a 95% interval from a paired bootstrap over those questions "
            f"({stats.RESAMPLES:,} resamples, seed {stats.SEED}), the same resamples for every model.")


def gap_resolved(metrics: dict) -> bool:
    """The gold ceiling's accuracy interval lies wholly above the weak floor's."""
    w_ci = (metrics.get(FLOOR) or {}).get("accuracy_ci")
    g_ci = (metrics.get(CEILING) or {}).get("accuracy_ci")
    return bool(w_ci and g_ci and g_ci[0] > w_ci[1])


def gap_sentence(metrics: dict, label: Callable[[str], str]) -> str:
    """The ceiling against the floor: is there a gap to recover, beyond the intervals?"""
    weak, gold = metrics.get(FLOOR), metrics.get(CEILING)
    missing = [name for name, e in (("weak floor", weak), ("gold ceiling", gold)) if not e or e.get("accuracy") is None]
    if missing:
        return f"This run has no {' and no '.join(missing)}, so PGR is not measured."
    gap = _difference(gold, FLOOR)
    ceiling, floor = f"The {label(CEILING)} ceiling, {_accuracy(gold)},", f"the {label(FLOOR)} floor, {_accuracy(weak)}"
    by = f"{fmt_points(gap['estimate'])} points {fmt_points_interval(gap['ci'])}" if gap else "an unknown margin"
    if gap_resolved(metrics):
        return (f"{ceiling} is above {floor}, with non-overlapping intervals (gap {by}): "
                "there is a gap for weak-to-strong training to recover.")
    if gap and side_of_zero(gap["ci"]) == "above":
        return (f"{ceiling} is above {floor}, by {by}, but their accuracy intervals overlap: the gap "
                "is small for this test set, so PGR intervals are wide.")
    return (f"{ceiling} is not clearly above {floor}: the gap, {by}, does not lie above 0, so this "
            "run cannot measure how much of it weak-to-strong training recovers, and its PGR values "
            "are not meaningful.")


def baseline_sentences(metrics: dict, label: Callable[[str], str]) -> list[str]:
    """Whether each weak-to-strong model beat the full-weak baseline, and a verdict first."""
    models = [k for k in metrics if is_w2s_model(k) and metrics[k].get("accuracy") is not None]
    if not models:
        return []
    if BASELINE not in metrics or metrics[BASELINE].get("accuracy") is None:
        return ["This run has no full-weak baseline, so whether weak-to-strong training beat it is not measured."]
    details, beat = [], []
    base = f"the full-weak baseline ({_accuracy(metrics[BASELINE])})"
    for key in models:
        diff = _difference(metrics[key], BASELINE)
        if not diff:
            details.append(f"{label(key)} has no difference interval against the full-weak baseline.")
            continue
        numbers = f"{fmt_points(diff['estimate'])} points {fmt_points_interval(diff['ci'])}"
        side = side_of_zero(diff["ci"])
        if side == "above":
            beat.append(label(key))
            details.append(f"{label(key)} ({_accuracy(metrics[key])}) beat {base}: {numbers}, an interval above 0.")
        elif side == "below":
            details.append(f"{label(key)} ({_accuracy(metrics[key])}) did worse than {base}: {numbers}, "
                           "an interval below 0.")
        else:
            details.append(f"{label(key)} ({_accuracy(metrics[key])}) did not beat {base} at this scale: "
                           f"{numbers}, an interval that includes 0, so no difference either way is shown.")
    if beat:
        names = ", ".join(beat[:-1]) + " and " + beat[-1] if len(beat) > 1 else beat[0]
        verdict = f"At this scale, weak-to-strong training beat the full-weak baseline with {names}."
        if len(models) > 1:
            verdict += (f" Each interval covers one comparison; with {len(models)} models compared, "
                        "one of them excluding 0 by chance is likelier than 5%.")
    else:
        verdict = ("At this scale, weak-to-strong training did not beat the full-weak baseline: "
                   + ("its model's difference interval does not lie above 0." if len(models) == 1 else
                      f"none of its {len(models)} models has a difference interval above 0."))
    return [verdict, *details]


def pgr_sentence(metrics: dict, label: Callable[[str], str]) -> str | None:
    keys = [k for k in metrics if (is_w2s_model(k) or k == BASELINE) and metrics[k].get("pgr") is not None]
    keys.sort(key=lambda k: k != BASELINE)   # the baseline's PGR first, to compare the others with
    if not keys:
        return None
    undefined = {k: metrics[k].get("pgr_undefined") or 0 for k in keys}
    shared = len(set(undefined.values())) == 1   # the usual case: it depends on floor and ceiling only
    parts = []
    for key in keys:
        part = f"{label(key)} {fmt_pgr(metrics[key]['pgr'], metrics[key].get('pgr_ci'))}"
        if undefined[key] and not shared:
            part += f" (ceiling equalled floor in {100 * undefined[key]:.1f}% of its resamples, left out)"
        parts.append(part)
    gap = _difference(metrics.get(CEILING) or {}, FLOOR)
    head = "PGR (0 = weak floor, 1 = gold ceiling)" + (
        "" if gap_resolved(metrics) else ", imprecise here (see above)"
        if gap and side_of_zero(gap["ci"]) == "above" else ", not meaningful here (see above)")
    text = f"{head}: " + "; ".join(parts) + "."
    if shared and undefined[keys[0]]:
        text += (f" The ceiling equalled the floor in {100 * undefined[keys[0]]:.1f}% of resamples, "
                 "which have no PGR and are left out of these intervals.")
    return text


def findings(metrics: dict, label: Callable[[str], str] = str) -> list[str]:
    """Sentences on what the run shows; ``label`` names a model key for readers."""
    scored = {k: e for k, e in metrics.items() if e.get("accuracy") is not None}
    if not scored:
        return []
    if any("accuracy_ci" not in e for e in scored.values()):
        return ["eval/metrics.json has no intervals (written by an older w2s-lf); "
                "`w2s-lf report RUN --recompute` adds them."]
    out = [size_sentence(scored), gap_sentence(scored, label), *baseline_sentences(scored, label)]
    pgr = pgr_sentence(scored, label)
    if pgr:
        out.append(pgr)
    return [*out, SEED_CAVEAT]


def _rate_with_interval(rate: float, n: int) -> tuple[str, tuple[float, float] | None]:
    """``25.0% [19.0, 31.0]`` for a rate over n items, with its 95% Wilson interval."""
    bounds = stats.wilson_interval(round(rate * n), n)
    return f"{fmt_rate(rate)} {fmt_interval(list(bounds) if bounds else None)}", bounds


def _compare(a: tuple[float, float] | None, b: tuple[float, float] | None) -> str | None:
    """"above"/"below" when interval a lies wholly on one side of interval b."""
    if not a or not b:
        return None
    return "above" if a[0] > b[1] else "below" if a[1] < b[0] else None


def stage1_sentence(name: str, s: dict) -> str | None:
    """What stage I selected, against train_2 gold the strong model never saw (when it is known)."""
    n, kept = s.get("questions"), s.get("kept")
    if not n or kept is None:
        return None
    text = (f"{name} kept {kept} of {n} train_2 questions ({100 * kept / n:.1f}%), those whose weak "
            "and strong answers agree")
    if s.get("accuracy_weak_kept") is None or s.get("accuracy_weak_all") is None or not kept:
        return text + "."
    kept_text, kept_ci = _rate_with_interval(s["accuracy_weak_kept"], kept)
    all_text, all_ci = _rate_with_interval(s["accuracy_weak_all"], n)
    side = _compare(kept_ci, all_ci)
    verdict = {"above": "the filter selected better labels than the full weak set",
               "below": "the filter selected worse labels than the full weak set"}.get(
        side, "no difference from the full weak set is shown at this size")
    text += f"; their weak labels are {kept_text} correct against gold, all weak labels {all_text}: {verdict}."
    icl = s.get("accuracy_icl_all")
    if icl is not None:
        icl_text, icl_ci = _rate_with_interval(icl, n)
        text += f" The strong model's answers it compared with were {icl_text} correct"
        if _compare(icl_ci, all_ci) == "below":
            text += (", below the weak labels themselves: agreement is then rare and mostly on shared "
                     "mistakes. The recipe assumes a strong model whose few-shot answers are at least "
                     "as good as the weak labels (the paper's 70B models were)")
        text += "."
    return text


def pairs_sentence(s: dict) -> str | None:
    """Whether stage II's preference pairs point the right way, against train_2 gold."""
    pairs, chosen, rejected = s.get("pairs"), s.get("chosen_accuracy"), s.get("rejected_accuracy")
    if not pairs or chosen is None or rejected is None:
        return None
    chosen_text, chosen_ci = _rate_with_interval(chosen, pairs)
    rejected_text, rejected_ci = _rate_with_interval(rejected, pairs)
    side = _compare(chosen_ci, rejected_ci)
    verdict = {"above": "the pairs mostly prefer right answers to wrong ones",
               "below": "the pairs prefer wrong answers more often than right ones, so preference "
                        "training pushes the wrong way"}.get(side, "the pairs show no clear direction at this size")
    return (f"Stage II built {pairs} preference pairs; their chosen responses are {chosen_text} correct "
            f"against gold, the rejected ones {rejected_text}: {verdict}.")


def data_findings(stages: dict) -> list[str]:
    """Sentences on the training data each stage built (manifest `stages` with their stats);
    intervals are 95% Wilson intervals over the questions or pairs counted."""
    out = []
    for stage, entry in stages.items():
        s = entry.get("stats") if isinstance(entry, dict) else None
        if not isinstance(s, dict):
            continue
        if s.get("warning"):
            out.append(f"Warning ({stage}): {s['warning']}.")
        if stage.startswith("stage1"):
            iteration = stage.removeprefix("stage1").lstrip("_") or "iter1"
            out.append(stage1_sentence(f"Stage I ({iteration.replace('iter', 'iteration ')})", s))
        elif stage == "pairs":
            out.append(pairs_sentence(s))
    return [sentence for sentence in out if sentence]
