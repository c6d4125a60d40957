"""Uncertainty of test accuracies: a paired bootstrap over test questions, and Wilson intervals.

Every model of a run answers the same test questions, so the honest way to compare two models is
to resample *questions* and recompute every model's accuracy on the same resample: the question
difficulty they share cancels out of their difference, and PGR, a ratio of differences, is computed
per resample from the same resampled questions. Intervals are 95% percentile intervals.

Decisions:

- 10,000 resamples with a fixed seed, so a report is byte-identical when rerun (same numpy).
- A question a model did not grade (gold unknown) is left out of that model's accuracy in every
  resample, as it is in the point estimate, so a point estimate always equals the plain accuracy.
- A resample whose gold ceiling equals its weak floor has no PGR (0/0 or x/0). Such resamples are
  left out of the PGR interval and their share is reported as ``pgr_undefined``; when it is large
  the interval describes only the resamples where a gap exists.
- The percentile bootstrap collapses to a point at 0% or 100% accuracy; the Wilson score interval
  of each accuracy, which does not, is kept next to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

RESAMPLES = 10_000
SEED = 0
CONFIDENCE = 0.95
_CHUNK = 500          # resamples drawn at a time: bounds memory at 500 x questions integers
_DIGITS = 6           # JSON stays readable; far below the bootstrap's own noise (~1e-3)


def resample_counts(n: int, resamples: int = RESAMPLES, seed: int = SEED):
    """Yield ``(chunk, n)`` arrays: how often each of the n questions is drawn in each resample
    (n draws with replacement), ``resamples`` rows in all, from one seeded stream."""
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, _CHUNK):
        rows = min(_CHUNK, resamples - start)
        drawn = rng.integers(0, n, size=(rows, n))
        flat = (drawn + n * np.arange(rows)[:, None]).ravel()
        yield np.bincount(flat, minlength=rows * n).reshape(rows, n)


def bootstrap_accuracies(correct: np.ndarray, graded: np.ndarray, resamples: int = RESAMPLES,
                         seed: int = SEED) -> np.ndarray:
    """Per-model accuracy in each resample: ``(models, resamples)``, NaN where a resample holds
    no question the model graded. ``correct`` and ``graded`` are ``(models, questions)`` booleans."""
    correct = np.asarray(correct, dtype=float) * np.asarray(graded, dtype=float)
    graded = np.asarray(graded, dtype=float)
    if correct.ndim != 2 or correct.shape != graded.shape or correct.shape[1] == 0:
        raise ValueError(f"expected two equal (models, questions) arrays, got {correct.shape} and {graded.shape}")
    parts = []
    for counts in resample_counts(correct.shape[1], resamples, seed):
        hits, seen = counts @ correct.T, counts @ graded.T
        with np.errstate(invalid="ignore", divide="ignore"):
            parts.append(hits / seen)
    return np.concatenate(parts).T


def percentile_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The central ``confidence`` share of the finite values; None when there are none."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(values, [tail, 1 - tail])
    return float(lo), float(hi)


def wilson_interval(correct: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion correct/n; None when n is 0."""
    if n <= 0:
        return None
    from statistics import NormalDist
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def pgr_samples(model: np.ndarray, weak: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """PGR per resample, NaN where the resample's gold equals its weak (no gap) or is missing."""
    gap = gold - weak
    defined = np.isfinite(gap) & np.isfinite(model) & ~np.isclose(gap, 0.0, rtol=0.0, atol=1e-12)
    out = np.full(gap.shape, np.nan)
    out[defined] = (model[defined] - weak[defined]) / gap[defined]
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), _DIGITS)


def _interval(bounds: tuple[float, float] | None) -> list[float] | None:
    return None if bounds is None else [_round(bounds[0]), _round(bounds[1])]


def paired_intervals(keys: Sequence[str], correct: np.ndarray, graded: np.ndarray,
                     floor: str | None = None, ceiling: str | None = None,
                     references: Sequence[str] = (), resamples: int = RESAMPLES,
                     seed: int = SEED) -> dict[str, dict]:
    """Intervals for the models ``keys`` (rows of ``correct``/``graded``), from one set of resamples.

    Returns ``{key: {"accuracy_ci", "accuracy_wilson", "difference": {ref: {"estimate", "ci"}},
    and, when ``floor`` and ``ceiling`` are among the keys, "pgr", "pgr_ci", "pgr_undefined"}}``.
    ``difference`` holds ``key - ref`` for every reference model in ``references`` and the floor,
    other than the model itself (the floor is compared with nothing). Models with nothing graded
    get no entry.
    """
    correct = np.asarray(correct, dtype=bool)
    graded = np.asarray(graded, dtype=bool)
    boot = bootstrap_accuracies(correct, graded, resamples, seed)
    n = graded.sum(axis=1)
    point = {k: float((correct[i] & graded[i]).sum() / n[i]) for i, k in enumerate(keys) if n[i]}
    row = {k: boot[i] for i, k in enumerate(keys)}
    refs = [r for r in dict.fromkeys([*([floor] if floor else []), *references]) if r in point]
    out: dict[str, dict] = {}
    for i, key in enumerate(keys):
        if key not in point:
            continue
        entry = {"accuracy_ci": _interval(percentile_interval(row[key])),
                 "accuracy_wilson": _interval(wilson_interval(int((correct[i] & graded[i]).sum()), int(n[i])))}
        entry["difference"] = {
            ref: {"estimate": _round(point[key] - point[ref]),
                  "ci": _interval(percentile_interval(row[key] - row[ref]))}
            for ref in refs if key not in (ref, floor)}
        if floor in point and ceiling in point and key not in (floor, ceiling):
            entry.update(pgr_entry(point[key], point[floor], point[ceiling],
                                   pgr_samples(row[key], row[floor], row[ceiling])))
        out[key] = entry
    return out


def pgr_entry(model: float, weak: float, gold: float, samples: np.ndarray) -> dict:
    """``{"pgr", "pgr_ci", "pgr_undefined"}`` from the point accuracies and the per-resample PGRs."""
    no_gap = math.isclose(gold, weak, rel_tol=0.0, abs_tol=1e-12)
    return {"pgr": None if no_gap else _round((model - weak) / (gold - weak)),
            "pgr_ci": None if no_gap else _interval(percentile_interval(samples)),
            "pgr_undefined": _round(float(np.mean(~np.isfinite(samples))))}
