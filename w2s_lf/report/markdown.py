"""The run report: `report.md` and PNG plots (`w2s_lf.report.plots`) written into a run folder.

The report is a pure function of the run's manifest.json and eval/metrics.json, with no clock
in it, so the same run gives the same bytes, PNGs included. Its intervals and findings come from
the paired bootstrap that `evaluate_run` stores in metrics.json (`w2s_lf.report.stats`, `w2s_lf.report.findings`).
"""

from __future__ import annotations

import math
from pathlib import Path

from w2s_lf.io import write_text
from w2s_lf.report.findings import (
    data_findings,
    findings,
    gap_resolved,
    is_w2s_model,
    side_of_zero,
)
from w2s_lf.report.formatting import (
    fmt_interval,
    fmt_pgr,
    fmt_pgr_interval,
    fmt_points,
    fmt_points_interval,
    fmt_rate,
    fmt_seconds,
    fmt_stats,
    model_info,
)
from w2s_lf.report.metrics import (
    BASELINE,
    CEILING,
    FLOOR,
    load_metrics,
    read_manifest,
)

REPORT_FILE = "report.md"
ACCURACY_PNG = "accuracy.png"
PGR_PNG = "pgr.png"
WALL_TIME_PNG = "wall_time.png"


def pgr(acc: float | None, weak: float | None, ceiling: float | None) -> float | None:
    """Performance gap recovered, ``(acc - weak) / (ceiling - weak)``; None when undefined
    (a missing accuracy, or ceiling == weak: there is no gap to recover)."""
    if acc is None or weak is None or ceiling is None or math.isclose(ceiling, weak, abs_tol=1e-12):
        return None
    return (acc - weak) / (ceiling - weak)


# ----------------------------------------------------------------------------- loading

# ----------------------------------------------------------------------------- formatting

def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]


# ----------------------------------------------------------------------------- rendering

def model_rows(metrics: dict) -> list[dict]:
    """The models of a run in report order, each with its PGR against the run's floor and ceiling."""
    weak = metrics.get(FLOOR, {}).get("accuracy")
    ceiling = metrics.get(CEILING, {}).get("accuracy")
    rows = []
    for key in sorted(metrics, key=lambda k: (model_info(k)[2], k)):
        label, role, _, color = model_info(key)
        entry = metrics[key]
        acc = entry.get("accuracy")
        gap = None if key in (FLOOR, CEILING) else pgr(acc, weak, ceiling)
        rows.append({"key": key, "label": label, "role": role, "color": color, "accuracy": acc,
                     "accuracy_ci": entry.get("accuracy_ci"), "correct": entry.get("correct"),
                     "n": entry.get("n"), "pgr": gap, "pgr_ci": entry.get("pgr_ci") if gap is not None else None,
                     "pass@k": entry.get("pass@k") or {}, "maj@k": entry.get("maj@k") or {}})
    return rows


def comparison_rows(metrics: dict) -> list[list[str]]:
    """Paired differences worth reading: the ceiling and the baseline against the floor, and each
    weak-to-strong model against the full-weak baseline."""
    w2s = sorted((k for k in metrics if is_w2s_model(k)), key=lambda k: (model_info(k)[2], k))
    rows = []
    for key, ref in [(CEILING, FLOOR), (BASELINE, FLOOR)] + [(k, BASELINE) for k in w2s]:
        diff = (metrics.get(key, {}).get("difference") or {}).get(ref)
        if diff and diff.get("ci"):
            side = side_of_zero(diff["ci"])
            rows.append([f"{model_info(key)[0]} − {model_info(ref)[0]}", f"{fmt_points(diff['estimate'])} points",
                         fmt_points_interval(diff["ci"]), f"{side} 0" if side else "includes 0"])
    return rows


def _pgr_note(metrics: dict) -> str:
    weak = metrics.get(FLOOR, {}).get("accuracy")
    ceiling = metrics.get(CEILING, {}).get("accuracy")
    note = "PGR = (acc − acc_weak) / (acc_gold − acc_weak), the share of the floor-to-ceiling gap recovered."
    if weak is None or ceiling is None:
        missing = " and ".join(n for n, a in (("weak floor", weak), ("gold ceiling", ceiling)) if a is None)
        return note + f" PGR is n/a: the {missing} accuracy is missing from this run."
    if math.isclose(ceiling, weak, abs_tol=1e-12):
        return note + " PGR is n/a: the gold ceiling equals the weak floor, so there is no gap to recover."
    if ceiling < weak:
        return note + " Note: the gold ceiling is below the weak floor here, so PGR signs are inverted."
    return note


def _degenerate_note(metrics: dict, rows: list[dict]) -> list[str]:
    """At 0% or 100% the bootstrap interval is a single point; say so and give Wilson's instead."""
    flat = [f"{r['label']} {fmt_interval(metrics[r['key']].get('accuracy_wilson'))}" for r in rows
            if r["accuracy"] in (0, 1) and metrics[r["key"]].get("accuracy_wilson")]
    if not flat:
        return []
    return ["", ("At 0% or 100% accuracy every resample gives the same accuracy, so the bootstrap "
                 "interval is a single point; the Wilson 95% interval is wider: " + "; ".join(flat) + ".")]


def _model_name(spec) -> str:
    if isinstance(spec, list):   # several weak supervisors, combined by majority in this order
        return "majority of " + "; ".join(f"{w.get('name')}: {_model_name(w)}" for w in spec if isinstance(w, dict))
    if not isinstance(spec, dict) or not spec.get("model"):
        return "n/a"
    return str(spec["model"]) + (f" + adapter {spec['adapter']}" if spec.get("adapter") else "")


GRADER_NOTES = {"seed": "the paper's rules, comparable with the paper", "robust": "correct"}


def _grader_table(metrics: dict, rows: list[dict]) -> list[str]:
    """Each model's accuracy under both graders (`by_grader` in metrics.json), side by side; the
    run's own grader is the one without a `differ` count."""
    both = [r for r in rows if metrics[r["key"]].get("by_grader")]
    modes = ("seed", "robust")
    if not both or not all(set(metrics[r["key"]]["by_grader"]) == set(modes) for r in both):
        return []
    first = metrics[both[0]["key"]]["by_grader"]
    other = next(m for m in modes if "differ" in first[m])
    mode = next(m for m in modes if m != other)
    lines = ["", "### Under both graders", "",
             f"The same answers graded by both graders ({'; '.join(f'{m}: {GRADER_NOTES[m]}' for m in modes)}). "
             f"The training data (stage I, votes, pairs) was chosen with the {mode} grader's answers; "
             f"\"differ\" counts the questions whose verdict the {other} grader changes.", ""]
    header = ["model"] + [h for m in modes for h in (f"{m}", f"{m} 95% CI")] + ["differ"]
    table = []
    for r in both:
        graders = metrics[r["key"]]["by_grader"]
        table.append([r["label"]] + [c for m in modes for c in (fmt_rate(graders[m]["accuracy"]),
                                                               fmt_interval(graders[m].get("accuracy_ci")))]
                     + [str(graders[other].get("differ", "n/a"))])
    return lines + _table(header, table)


def _methods_section(metrics: dict, stages: dict, plots: dict) -> list[str]:
    """Every model on one table (`w2s_lf.report.comparison`); `w2s-lf compare` puts several runs on it."""
    from w2s_lf.report.comparison import markdown_table, method_rows
    rows = method_rows(metrics, stages)
    if not rows:
        return []
    lines = ["", "## Methods compared", "",
             "Every model on one table: test accuracy, PGR and the paired difference against the full-weak "
             "baseline (percentage points), each with its 95% interval from the same bootstrap resamples as "
             "above; the examples each model was trained on and the share of their labels that agree with "
             "train_2 gold (label precision; for pairs, of the chosen responses). `w2s-lf compare RUN...` "
             "puts several runs on this table.", ""] + markdown_table(rows)
    if "comparison" in plots:
        lines += ["", f"![methods compared]({plots['comparison']})"]
    return lines


def render_report(manifest: dict, metrics: dict, plots: dict[str, str] | None = None) -> str:
    """report.md from a manifest and metrics; ``plots`` maps "accuracy"/"pgr"/"wall_time" to PNG names."""
    from w2s_lf import __version__

    plots = plots or {}
    recipe = manifest.get("recipe") if isinstance(manifest.get("recipe"), dict) else {}
    name = manifest.get("name") or "unnamed run"
    mode = manifest.get("grader_mode")
    grader = mode or "n/a"
    if manifest.get("grader_version"):
        grader += f" (version {manifest['grader_version']})"
    run_version = manifest.get("w2s_lf_version") or "n/a"
    lines = [f"# Run report: {name}", ""]
    lines += _table(["", ""], [
        ["recipe", recipe.get("name") or "n/a"],
        ["recipe hash", f"`{manifest.get('recipe_hash') or 'n/a'}`"],
        ["task", manifest.get("task") or recipe.get("task") or "n/a"],
        ["weak model", _model_name(recipe.get("weak"))],
        ["strong model", _model_name(recipe.get("strong"))],
        ["grader mode (chose the training data)", grader],
        ["w2s-lf version", run_version + ("" if run_version == __version__ else
                                          f" (report written by {__version__})")],
        ["git revision", f"`{manifest.get('git_revision') or 'n/a'}`"],
    ])

    lines += ["", "## Test accuracy", ""]
    rows = model_rows(metrics)
    if not rows:
        lines.append("No evaluation results in this run yet (eval/ is empty).")
    else:
        lines += ["Greedy zero-shot accuracy on the test split" + (f" under the {mode} grader" if mode else "")
                  + "; questions with unknown gold are left out. 95% CI: percentile interval of a paired "
                  "bootstrap over test questions (every model on the same resamples), in percent.", ""]
        lines += _table(["model", "role", "accuracy", "95% CI", "correct / n", "PGR", "PGR 95% CI"], [
            [r["label"], r["role"], fmt_rate(r["accuracy"]), fmt_interval(r["accuracy_ci"]),
             f"{r['correct']} / {r['n']}"] + (["–", "–"] if r["key"] in (FLOOR, CEILING) else [
                fmt_pgr(r["pgr"]), fmt_pgr_interval(r["pgr_ci"])])
            for r in rows])
        lines += ["", _pgr_note(metrics)] + _degenerate_note(metrics, rows) + _grader_table(metrics, rows)
        if "accuracy" in plots:
            lines += ["", f"![test accuracy]({plots['accuracy']})"]
        comparisons = comparison_rows(metrics)
        if comparisons:
            lines += ["", "## Differences between models", "",
                      "Paired differences in accuracy (percentage points) on the same test questions; "
                      "an interval that includes 0 shows no difference either way. Pairing cancels the "
                      "question difficulty two models share, so a paired interval can exclude 0 while "
                      "the two accuracy intervals above overlap.", ""]
            lines += _table(["comparison", "difference", "95% CI", "interval"], comparisons)
        if "pgr" in plots:
            lines += ["", f"![performance gap recovered]({plots['pgr']})"]
        lines += _methods_section(metrics, manifest.get("stages") or {}, plots)
        said = findings({r["key"]: metrics[r["key"]] for r in rows}, lambda k: model_info(k)[0])
        if said:
            lines += ["", "## Findings", ""] + [f"- {sentence}" for sentence in said]
        sampled = [r for r in rows if r["pass@k"]]
        if sampled:
            ks = sorted({int(k) for r in sampled for k in r["pass@k"]})
            lines += ["", "## Sampling on test", "",
                      "pass@k: unbiased estimator over all samples; maj@k: majority vote of the first k.", ""]
            lines += _table(["model"] + [f"{m}@{k}" for k in ks for m in ("pass", "maj")], [
                [r["label"]] + [fmt_rate(r[f"{m}@k"].get(str(k))) for k in ks for m in ("pass", "maj")]
                for r in sampled])

    stages = manifest.get("stages") or {}
    with_stats = [(s, v) for s, v in stages.items() if isinstance(v, dict) and v.get("stats")]
    if with_stats:
        lines += ["", "## Data per stage", "",
                  ("Accuracies here are against train_2 gold, which the strong model never sees; "
                   "n/a when gold is unknown."), ""]
        lines += _table(["stage", "status", "statistics"],
                        [[s, v.get("status", "n/a"), fmt_stats(v["stats"])] for s, v in with_stats])
        said = data_findings(dict(with_stats))
        if said:
            lines += ["", "What the training data shows (95% Wilson intervals; gold is used here only to "
                      "describe the data, never to build it):", ""] + [f"- {sentence}" for sentence in said]

    if stages:
        timed = [v.get("wall_s") for v in stages.values() if isinstance(v, dict)]
        total = sum(t for t in timed if isinstance(t, (int, float)))
        lines += ["", "## Wall time per stage", ""]
        lines += _table(["stage", "status", "wall time"],
                        [[s, v.get("status", "n/a") if isinstance(v, dict) else "n/a",
                          fmt_seconds(v.get("wall_s") if isinstance(v, dict) else None)]
                         for s, v in stages.items()] + [["**total**", "", f"**{fmt_seconds(total)}**"]])
        if manifest.get("machine"):
            lines += ["", f"Measured on: {manifest['machine']} (the latest invocation of the run)."]
        if "wall_time" in plots:
            lines += ["", f"![wall time per stage]({plots['wall_time']})"]
    return "\n".join(lines) + "\n"


def write_report(run_dir: str | Path, recompute: bool = False) -> Path:
    """Write report.md, accuracy.png, pgr.png, comparison.png and wall_time.png into the run folder; return
    report.md's path.

    A plot with nothing to show is not drawn, and a stale one from an earlier report is removed,
    so the folder always matches report.md.
    """
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    # The pipeline's own `report` stage is running while it writes this; it cannot time itself.
    manifest["stages"] = {k: v for k, v in (manifest.get("stages") or {}).items() if k != "report"}
    metrics = load_metrics(run_dir, recompute)
    rows = model_rows(metrics)
    plots = {}
    from w2s_lf.report import plots as draw  # matplotlib only when a report is written

    if any(r["accuracy"] is not None for r in rows):
        draw.plot_accuracy(rows, run_dir / ACCURACY_PNG)
        plots["accuracy"] = ACCURACY_PNG
    if any(r["pgr"] is not None for r in rows):
        draw.plot_pgr(rows, run_dir / PGR_PNG, gap_resolved(metrics))
        plots["pgr"] = PGR_PNG
    from w2s_lf.report.comparison import COMPARISON_PNG, method_rows
    compared = method_rows(metrics, manifest["stages"])
    if any(r["accuracy"] is not None for r in compared):
        draw.plot_comparison(compared, run_dir / COMPARISON_PNG)
        plots["comparison"] = COMPARISON_PNG
    stages = manifest.get("stages") or {}
    if any(isinstance(v, dict) and isinstance(v.get("wall_s"), (int, float)) for v in stages.values()):
        draw.plot_wall_time(stages, run_dir / WALL_TIME_PNG)
        plots["wall_time"] = WALL_TIME_PNG
    for name in {ACCURACY_PNG, PGR_PNG, WALL_TIME_PNG, COMPARISON_PNG} - set(plots.values()):
        (run_dir / name).unlink(missing_ok=True)
    path = run_dir / REPORT_FILE
    write_text(path, render_report(manifest, metrics, plots))
    return path
