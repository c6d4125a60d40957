"""Every model of a run (or of several runs) on one table: test accuracy, PGR and the paired
difference against the full-weak baseline, each with its 95% interval, and the size and label
precision of the data the model was trained on.

The intervals are those `w2s_lf.report.metrics.evaluate_run` stores in eval/metrics.json: one
paired bootstrap over the test questions (`w2s_lf.report.stats.paired_intervals`), every model
on the same resamples. The training data's size and precision are the statistics the manifest
stores for the stage that built that model's data (precision: the share of its labels that agree
with train_2 gold, which is read only to describe the data, never to build it).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from w2s_lf.report.formatting import (
    fmt_interval,
    fmt_pgr,
    fmt_pgr_interval,
    fmt_points,
    fmt_points_interval,
    fmt_rate,
    model_info,
)
from w2s_lf.report.metrics import BASELINE, CEILING, FLOOR

COMPARISON_PNG = "comparison.png"
HEADER = ["model", "accuracy", "95% CI", "PGR", "PGR 95% CI", "vs full weak (points)", "95% CI",
          "training examples", "label precision", "data"]


def training_data(key: str, stages: dict) -> tuple[int | None, float | None, str]:
    """(examples, label precision, what they are) of the data `key` was trained on, from the stats
    of the stage that built it; (None, None, "") for a model that was not trained here."""
    def stats(stage: str) -> dict:
        entry = stages.get(stage)
        return entry.get("stats") or {} if isinstance(entry, dict) else {}

    if key == BASELINE:
        s = stats("full_weak")
        return s.get("kept"), s.get("accuracy"), "every weak label (full_weak)"
    if key == "strong_confident_weak":
        s = stats("confident_weak")
        return s.get("kept"), s.get("accuracy_kept"), "weak labels its samples agree with (confident_weak)"
    if key == CEILING:
        return stats("full_weak").get("questions"), 1.0, "train_2 gold"
    if key.startswith("mplus_iter"):
        stage = "stage1" if key == "mplus_iter1" else f"stage1_{key.removeprefix('mplus_')}"
        s = stats(stage)
        halves = [s.get("accuracy_weak_kept"), s.get("accuracy_icl_kept")]   # weak and ICL labels, as many each
        precision = sum(halves) / 2 if None not in halves else None
        return s.get("hybrid"), precision, f"weak + ICL labels ({stage})"
    if key.startswith("mpro_"):
        method, _, rnd = key.removeprefix("mpro_").partition("_")
        stage = f"pairs_{method}_{rnd}" if rnd else "pairs"
        s = stats(stage)
        return s.get("pairs"), s.get("chosen_accuracy"), f"preference pairs, chosen labels ({stage})"
    return None, None, ""


def method_rows(metrics: dict, stages: dict, run: str | None = None) -> list[dict]:
    """One plain record per evaluated model, in report order."""
    rows = []
    for key in sorted(metrics, key=lambda k: (model_info(k)[2], k)):
        entry = metrics[key]
        diff = (entry.get("difference") or {}).get(BASELINE) or {}
        size, precision, data = training_data(key, stages)
        rows.append({**({"run": run} if run is not None else {}), "model": key, "label": model_info(key)[0],
                     "accuracy": entry.get("accuracy"), "accuracy_ci": entry.get("accuracy_ci"),
                     "pgr": entry.get("pgr"), "pgr_ci": entry.get("pgr_ci"),
                     "vs_full_weak": diff.get("estimate"), "vs_full_weak_ci": diff.get("ci"),
                     "training_examples": size, "label_precision": precision, "data": data,
                     "color": model_info(key)[3]})
    return rows


def compare_runs(run_dirs: list[str | Path]) -> list[dict]:
    """The rows of several run folders on one table, each row naming its run (the folder's
    name, or the path as given when two folders share a name). A run whose eval/metrics.json
    is missing is scored first (`evaluate_run`), as `w2s-lf report` does."""
    from w2s_lf.report.metrics import load_metrics, read_manifest
    names = [Path(d).name for d in run_dirs]
    rows = []
    for run_dir, name in zip(run_dirs, names):
        manifest = read_manifest(run_dir)
        label = name if names.count(name) == 1 else str(run_dir)
        rows += method_rows(load_metrics(run_dir), manifest.get("stages") or {}, run=label)
    return rows


def markdown_table(rows: list[dict]) -> list[str]:
    """The rows as a markdown table (a `run` column first when the rows carry one)."""
    runs = any("run" in r for r in rows)
    header = (["run"] if runs else []) + HEADER
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        cells = ([r.get("run", "")] if runs else []) + [
            r["label"], fmt_rate(r["accuracy"]), fmt_interval(r["accuracy_ci"]),
            "–" if r["model"] in (FLOOR, CEILING) else fmt_pgr(r["pgr"]),
            "–" if r["model"] in (FLOOR, CEILING) else fmt_pgr_interval(r["pgr_ci"]),
            "–" if r["vs_full_weak"] is None else fmt_points(r["vs_full_weak"]),
            "–" if not r["vs_full_weak_ci"] else fmt_points_interval(r["vs_full_weak_ci"]),
            "–" if r["training_examples"] is None else str(r["training_examples"]),
            fmt_rate(r["label_precision"]) if r["label_precision"] is not None else "n/a" if r["data"] else "–",
            r["data"] or "–"]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return lines


def table_text(rows: list[dict], fmt: str) -> str:
    """The rows as `markdown`, `jsonl` (one plain record a line) or `csv`."""
    plain = [{k: v for k, v in r.items() if k != "color"} for r in rows]
    if fmt == "jsonl":
        return "".join(json.dumps(r, sort_keys=False) + "\n" for r in plain)
    if fmt == "csv":
        out = io.StringIO()
        fields = list(plain[0]) if plain else []
        writer = csv.DictWriter(out, fields, lineterminator="\n")
        writer.writeheader()
        for r in plain:
            writer.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()})
        return out.getvalue()
    return "\n".join(markdown_table(rows)) + "\n"
