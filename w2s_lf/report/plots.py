"""The report's PNG plots: accuracy with intervals, PGR with intervals, wall time per stage, and
the methods compared (accuracy and difference against full weak, one point per model).

Each takes the rows of `w2s_lf.report.markdown.model_rows` (or the manifest's stages) and writes one PNG
with no clock or software version in it, so the same run gives the same bytes: Agg writes no
timestamp, and we drop the "Software" text chunk that names the matplotlib version. No pyplot:
no global state and no GUI backend.
"""

from __future__ import annotations

import io
from pathlib import Path

from w2s_lf.io import atomic_open
from w2s_lf.report.formatting import COLORS, fmt_seconds

STATUS_COLORS = {"done": "#1f77b4", "failed": "#d62728", "running": "#ff7f0e"}
PGR_AXIS = (-2.0, 3.0)   # PGR intervals of a tiny gap can span +-20; beyond this they are clipped


def _png(fig, path: Path) -> None:
    buffer = io.BytesIO()
    # metadata Software=None drops the only varying text chunk; Agg writes no tIME chunk.
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    with atomic_open(path, "wb") as f:
        f.write(buffer.getvalue())


def _tidy(ax, grid_axis: str) -> None:
    ax.grid(axis=grid_axis, alpha=0.3, zorder=0)
    ax.spines[["top", "right"]].set_visible(False)


def _xticks(ax, labels: list[str]) -> None:
    tilted = len(labels) > 5
    ax.set_xticks(list(range(len(labels))), labels, rotation=20 if tilted else 0,
                  ha="right" if tilted else "center")


def plot_accuracy(rows: list[dict], path: Path) -> None:
    """Bars of test accuracy with their 95% intervals as error bars, floor and ceiling lines."""
    from matplotlib.figure import Figure

    rows = [r for r in rows if r["accuracy"] is not None]
    fig = Figure(figsize=(max(5.5, 1.15 * len(rows) + 2), 4.4), layout="constrained")
    ax = fig.add_subplot()
    accs = [100 * r["accuracy"] for r in rows]
    # error bars need distances below and above the bar; a row without an interval gets none
    cis = [r.get("accuracy_ci") or [r["accuracy"]] * 2 for r in rows]
    below = [a - 100 * ci[0] for a, ci in zip(accs, cis)]
    above = [100 * ci[1] - a for a, ci in zip(accs, cis)]
    ax.bar(range(len(rows)), accs, color=[r["color"] for r in rows], width=0.65, zorder=2)
    ax.errorbar(range(len(rows)), accs, yerr=[below, above], fmt="none", ecolor="#333333",
                elinewidth=1.1, capsize=4, zorder=3)
    for x, (acc, top, r) in enumerate(zip(accs, above, rows)):
        text = f"{acc:.1f}%"
        if r["key"] not in ("weak", "strong_gold"):
            text += "\nPGR " + ("n/a" if r["pgr"] is None else f"{r['pgr']:.2f}")
        ax.annotate(text, (x, acc + top), xytext=(0, 3), textcoords="offset points",
                    ha="center", va="bottom", fontsize=8.5)
    for r, label in ((r, {"weak": "weak floor", "strong_gold": "gold ceiling"}.get(r["key"])) for r in rows):
        if label:
            ax.axhline(100 * r["accuracy"], color=r["color"], linestyle="--", linewidth=1.2, zorder=1, label=label)
    _xticks(ax, [r["label"] for r in rows])
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, min(118, max(a + t for a, t in zip(accs, above)) * 1.25 + 4 if rows else 1))
    ax.set_title("Greedy zero-shot test accuracy (error bars: 95% bootstrap intervals)")
    _tidy(ax, "y")
    if any(r["key"] in ("weak", "strong_gold") for r in rows):
        # outside the axes, so it can never cover a bar's label
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    _png(fig, path)


def plot_pgr(rows: list[dict], path: Path, gap_resolved: bool = True) -> None:
    """PGR of each model between floor and ceiling, with its 95% interval and lines at 0 and 1;
    when the ceiling is not clearly above the floor (``gap_resolved`` false) the title says so.

    Intervals reaching past `PGR_AXIS` are drawn to the edge and end in an arrow; the numbers
    printed next to each point are never clipped.
    """
    from matplotlib.figure import Figure

    rows = [r for r in rows if r["pgr"] is not None]
    low, high = PGR_AXIS
    fig = Figure(figsize=(max(5.5, 1.3 * len(rows) + 2.5), 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.axhline(0, color=COLORS["weak"], linestyle="--", linewidth=1.2, label="weak floor (PGR 0)", zorder=1)
    ax.axhline(1, color=COLORS["strong_gold"], linestyle="--", linewidth=1.2, label="gold ceiling (PGR 1)", zorder=1)
    reach_low, reach_high = -0.25, 1.25
    for x, r in enumerate(rows):
        value, ci = r["pgr"], r.get("pgr_ci")
        shown = min(max(value, low), high)
        ax.plot([x], [shown], "o", color=r["color"], markersize=7, zorder=3)
        text = f"{value:.2f}"
        if ci:
            lo, hi = max(ci[0], low), min(ci[1], high)
            ax.vlines(x, lo, hi, color=r["color"], linewidth=2, zorder=2)
            for end, clipped, marker in ((lo, ci[0] < low, "v"), (hi, ci[1] > high, "^")):
                ax.plot([x], [end], marker if clipped else "_", color=r["color"], markersize=8, zorder=3)
            reach_low, reach_high = min(reach_low, lo), max(reach_high, hi)
            text += f"\n[{ci[0]:.2f}, {ci[1]:.2f}]"
        ax.annotate(text, (x, shown), xytext=(9, 0), textcoords="offset points", va="center", fontsize=8)
    _xticks(ax, [r["label"] for r in rows])
    ax.set_xlim(-0.6, len(rows) - 0.1)
    ax.set_ylim(reach_low - 0.1, reach_high + 0.1)
    ax.set_ylabel("PGR")
    ax.set_title("Performance gap recovered (lines: 95% bootstrap intervals)" + (
        "" if gap_resolved else "\nnot meaningful: gold ceiling not clearly above weak floor"))
    _tidy(ax, "y")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    _png(fig, path)


def plot_wall_time(stages: dict, path: Path) -> None:
    """Horizontal bars of wall time per stage, in pipeline order from the top."""
    from matplotlib.figure import Figure

    items = [(s, v) for s, v in stages.items() if isinstance(v, dict) and isinstance(v.get("wall_s"), (int, float))]
    fig = Figure(figsize=(7, 0.38 * len(items) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    ys = range(len(items))
    seconds = [float(v["wall_s"]) for _, v in items]
    unit, scale = next((u, d) for u, d in (("h", 3600), ("min", 60), ("s", 1)) if max(seconds) >= 2 * d or d == 1)
    times = [t / scale for t in seconds]
    statuses = [v.get("status", "n/a") for _, v in items]
    ax.barh(ys, times, color=[STATUS_COLORS.get(s, "#8c8c8c") for s in statuses], height=0.6, zorder=2)
    for y, t, raw in zip(ys, times, seconds):
        ax.annotate(fmt_seconds(raw), (t, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(list(ys), [s for s, _ in items])
    ax.invert_yaxis()
    ax.set_xlim(0, max(times) * 1.18 or 1)
    ax.set_xlabel(f"wall time ({unit})")
    if set(statuses) != {"done"}:   # colour means status only when some stage did not finish
        from matplotlib.patches import Patch
        present = list(dict.fromkeys(statuses))
        ax.legend([Patch(color=STATUS_COLORS.get(s, "#8c8c8c")) for s in present], present,
                  loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_title(f"Wall time per stage (total {fmt_seconds(sum(seconds))})")
    ax.grid(axis="x", alpha=0.3, zorder=0)
    ax.spines[["top", "right"]].set_visible(False)
    _png(fig, path)


def plot_comparison(rows: list[dict], path: Path) -> None:
    """One point and its 95% interval per row of `w2s_lf.report.comparison.method_rows` (several
    runs: labelled `run: model`): test accuracy, and the paired difference against the full-weak
    baseline (0 marked), side by side."""
    from matplotlib.figure import Figure

    rows = [r for r in rows if r["accuracy"] is not None]
    labels = [f"{r['run']}: {r['label']}" if "run" in r else r["label"] for r in rows]
    fig = Figure(figsize=(10, 0.42 * len(rows) + 1.6), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    ys = list(range(len(rows)))[::-1]
    for ax, value, ci, title in ((left, "accuracy", "accuracy_ci", "test accuracy (%)"),
                                 (right, "vs_full_weak", "vs_full_weak_ci", "difference vs full weak (points)")):
        for y, r in zip(ys, rows):
            if r[value] is None:
                continue
            bounds = r[ci] or [r[value]] * 2
            ax.errorbar([100 * r[value]], [y], xerr=[[100 * (r[value] - bounds[0])], [100 * (bounds[1] - r[value])]],
                        fmt="o", color=r["color"], ecolor=r["color"], capsize=3, zorder=3)
        ax.set_xlabel(title)
        _tidy(ax, "x")
    right.axvline(0, color="#555555", linestyle="--", linewidth=1, zorder=1)
    left.set_yticks(ys, labels)
    _png(fig, path)
