"""How the report names models and writes numbers: labels, roles, order and colours of the
models a run trains, and the formats of rates, intervals, differences, PGR and durations. The
markdown report, the findings and the plots all write them the same way."""

from __future__ import annotations

import re

# Fixed model keys of a run: (label, role, rank); ranks order the table and the bar chart.
MODELS = {
    "weak": ("weak", "weak floor", 0),
    "strong_base": ("strong base", "strong model zero-shot", 1),
    "strong_full_weak": ("full weak", "naive baseline: strong on full weak data", 2),
    "strong_confident_weak": ("confident weak", "baseline: strong on the weak labels its own samples agree with", 2.5),
    "mpro_dpo": ("M_pro DPO", "stage II: DPO from M_plus", 4),
    "mpro_orpo": ("M_pro ORPO", "stage II: ORPO from M_plus", 4.1),
    "strong_gold": ("gold", "gold ceiling: strong on train_2 gold", 9),
}


MPLUS = re.compile(r"mplus_iter(\d+)$")
# Beyond the paper: any preference method, later rounds (`mpro_dpo_r2`), named weak models.
MPRO = re.compile(r"mpro_([a-z]+)(?:_r(\d+))?$")
WEAK = re.compile(r"weak_(\w+)$")
METHOD_NAMES = {"dpo": "DPO", "ipo": "IPO", "hinge": "hinge", "orpo": "ORPO", "simpo": "SimPO", "kto": "KTO"}


COLORS = {"weak": "#8c8c8c", "strong_base": "#bcbd22", "strong_full_weak": "#ff7f0e", "strong_confident_weak": "#e377c2",
          "mplus": "#1f77b4", "mpro": "#2ca02c", "strong_gold": "#d4a017", "other": "#9467bd"}


def model_info(key: str) -> tuple[str, str, float, str]:
    """``(label, role, rank, color)`` of a model key; unknown keys sort before the ceiling."""
    if key in MODELS:
        label, role, rank = MODELS[key]
        color = COLORS["mpro"] if key.startswith("mpro") else COLORS[key]
        return label, role, rank, color
    m = MPLUS.match(key)
    if m:   # any number of stage-I iterations, in order
        i = int(m.group(1))
        return f"M_plus iter {i}", f"stage I: SFT on weak-ICL consistent data, iteration {i}", 3 + i / 1000, COLORS["mplus"]
    m = MPRO.match(key)
    if m and m.group(1) in METHOD_NAMES:
        method, r = METHOD_NAMES[m.group(1)], int(m.group(2) or 1)
        order = list(METHOD_NAMES).index(m.group(1))
        return (f"M_pro {method}" + (f" round {r}" if r > 1 else ""),
                f"stage II: {method} from " + ("M_plus" if r == 1 else f"round {r - 1}"), 4 + r / 10 + order / 1000,
                COLORS["mpro"])
    m = WEAK.match(key)
    if m:
        return f"weak {m.group(1)}", f"one weak supervisor: {m.group(1)}", 0.5, COLORS["weak"]
    return key, "other", 5, COLORS["other"]


def fmt_rate(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def fmt_interval(bounds: list[float] | None) -> str:
    """A rate interval as ``[12.3, 45.6]`` (percent), or "n/a"."""
    return "n/a" if not bounds else f"[{100 * bounds[0]:.1f}, {100 * bounds[1]:.1f}]"


def fmt_points(value: float) -> str:
    """A difference of rates in percentage points, signed: ``+3.5``, ``-1.2``, ``0.0``."""
    points = round(100 * value, 1)
    return "0.0" if points == 0 else f"{points:+.1f}"


def fmt_points_interval(bounds: list[float]) -> str:
    return f"[{fmt_points(bounds[0])}, {fmt_points(bounds[1])}]"


def fmt_pgr_interval(bounds: list[float] | None) -> str:
    return "n/a" if not bounds else f"[{bounds[0]:.2f}, {bounds[1]:.2f}]"


def fmt_pgr(value: float | None, bounds: list[float] | None = None) -> str:
    """``0.45`` or, with its interval, ``0.45 [0.12, 0.80]``; "n/a" when undefined."""
    if value is None:
        return "n/a"
    return f"{value:.2f}" + (f" {fmt_pgr_interval(bounds)}" if bounds else "")


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m {int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h {int(seconds % 3600 // 60):02d}m"


def fmt_stats(stats: dict) -> str:
    """One line of stage statistics; fractions of accuracy-like keys as percentages."""
    stats = dict(stats)
    parts = []
    if isinstance(stats.get("kept"), int) and isinstance(stats.get("total"), int):
        kept, total = stats.pop("kept"), stats.pop("total")
        parts.append(f"kept {kept} of {total}" + (f" ({fmt_rate(kept / total)})" if total else ""))
    stats.pop("inputs", None)   # provenance paths: in manifest.json, not worth a table cell
    stats.pop("warning", None)  # said in words by the findings
    for key, value in stats.items():
        label = key.replace("_", " ")
        if isinstance(value, dict):
            text = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in value.items())
            parts.append(f"{label}: {text}")
            continue
        if value is None:
            text = "n/a"
        elif isinstance(value, float) and any(w in key for w in ("accuracy", "confidence", "rate", "fraction")):
            text = fmt_rate(value)
        elif isinstance(value, float):
            text = f"{value:.4g}"
        else:
            text = str(value)
        parts.append(f"{label} {text}")
    return "; ".join(parts)
