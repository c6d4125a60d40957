"""Evaluation metrics: greedy accuracy, pass@k and majority@k, per file and per run folder.

Library functions take and return plain records and dicts; the readers here check records and
locate bad input as ``file:line``. Judging (equivalence, voting, the pass@k estimator) lives in
`w2s_lf.grading`, so a metric here means the same as everywhere else in the pipeline.

Decisions (also stated in `w2s-lf evaluate --help`):

- A greedy record whose ``result`` is null (gold unknown) is *ungraded*: it is left out of the
  denominator and counted separately, rather than counted as wrong, so accuracy is over questions
  we can judge. With nothing graded, accuracy is ``None`` ("n/a").
- Greedy accuracy trusts the stored ``result``, which generation graded under the run's grader
  mode; sample files carry no verdicts, so their preds are judged here with ``is_equivalent``.
- A run with raw prompts is also scored under the other grader (``by_grader``): the greedy
  responses are graded again against test gold with `w2s_lf.grading.grade_many`, so a run that
  chose its data with the paper's `seed` rules still reports what `robust` (correct) says, and
  the other way round. Chat answers are in ``\\boxed{}``, which `seed` cannot read: robust only.
- majority@k votes over the first k preds exactly as the pipeline's vote stage does (empty preds
  take part; ties go to the pred seen first). A majority pred that is empty counts as wrong.
- A run's greedy files must cover the same question ids (joined by id, in any order): accuracy
  intervals, differences and PGR come from one paired bootstrap over those questions
  (`w2s_lf.report.stats`), which is only fair when every model answered the same test.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from w2s_lf.errors import InputError, W2SError
from w2s_lf.generation.results import check_aligned, load_results, load_samples
from w2s_lf.io import iter_jsonl, read_json, write_json
from w2s_lf.report.formatting import fmt_interval, fmt_rate

DEFAULT_KS = (1, 5, 10)
SAMPLES_SUFFIX = ".samples.jsonl"
METRICS_FILE = "metrics.json"
# Model keys with a fixed meaning in a run: PGR is measured from the floor to the ceiling, and
# every model is compared with the floor and with the naive baseline.
FLOOR, CEILING, BASELINE = "weak", "strong_gold", "strong_full_weak"


# ----------------------------------------------------------------------------- readers

def read_results(path: str | Path) -> list[dict]:
    """A greedy result file; `result` must be present (true, false or null)."""
    return load_results(path, require=("result",))


def read_samples(path: str | Path) -> list[dict]:
    """A sample file; `gold` must be present (null when unknown)."""
    records = load_samples(path, require=("gold",))
    for number, record in enumerate(records, start=1):
        gold = record["gold"]
        if gold is not None and not isinstance(gold, (str, int, float)):
            raise InputError(f"expected a string or null, got {type(gold).__name__}", path, number, "gold")
    return records


def is_sample_file(path: str | Path) -> bool:
    """A sample file by name, or by content (its first record has ``samples``)."""
    path = Path(path)
    if path.name.endswith(SAMPLES_SUFFIX):
        return True
    for _, record in iter_jsonl(path):
        return "samples" in record
    return False


# ----------------------------------------------------------------------------- metrics

def score_results(records: Iterable[dict]) -> dict:
    """Greedy accuracy: ``{"accuracy", "n", "correct", "ungraded"}``; null results are ungraded."""
    n = correct = ungraded = 0
    for record in records:
        result = record.get("result")
        if result is None:
            ungraded += 1
            continue
        n += 1
        correct += bool(result)
    return {"accuracy": correct / n if n else None, "n": n, "correct": correct, "ungraded": ungraded}


def default_ks(min_samples: int) -> list[int]:
    """1, 5, 10 as far as the samples reach, plus the sample count itself (pass@n, maj@n)."""
    return sorted({k for k in DEFAULT_KS if k <= min_samples} | {min_samples})


def score_samples(records: Sequence[dict], task, ks: Sequence[int] | None = None,
                  mode: str = "robust") -> dict:
    """pass@k (unbiased estimator over all n samples) and majority@k (vote over the first k).

    Returns ``{"n", "ungraded", "samples", "pass@k": {"k": float}, "maj@k": {"k": float}}`` with
    string keys (JSON objects), ``samples`` = the fewest samples any graded question has.
    """
    from w2s_lf import grading

    graded = [r for r in records if r.get("gold") is not None]
    ungraded = len(records) - len(graded)
    if not graded:
        return {"n": 0, "ungraded": ungraded, "samples": 0, "pass@k": {}, "maj@k": {}}
    fewest = min(len(r["samples"]) for r in graded)
    ks = sorted(set(ks)) if ks else default_ks(fewest)
    if ks[0] < 1:
        raise W2SError(f"k must be at least 1, got {ks[0]}")
    if ks[-1] > fewest:
        short = next(r for r in graded if len(r["samples"]) == fewest)
        raise W2SError(f"k={ks[-1]} exceeds the {fewest} samples of question {short['id']!r}")

    pass_sum = dict.fromkeys(ks, 0.0)
    maj_sum = dict.fromkeys(ks, 0)
    for record in graded:
        gold = str(record["gold"])
        preds = [s["pred"] for s in record["samples"]]
        # Equivalence can be slow (sympy), and samples repeat: judge each distinct pred once.
        # An empty pred (nothing extracted) is never right, whatever the grader would say.
        verdicts = {p: bool(p) and bool(grading.is_equivalent(p, gold, task, mode=mode)) for p in set(preds)}
        c = sum(verdicts[p] for p in preds)
        for k in ks:
            pass_sum[k] += grading.pass_at_k(len(preds), c, k)
            maj_sum[k] += verdicts[grading.majority_vote(preds[:k]).pred]
    n = len(graded)
    return {"n": n, "ungraded": ungraded, "samples": fewest,
            "pass@k": {str(k): pass_sum[k] / n for k in ks},
            "maj@k": {str(k): maj_sum[k] / n for k in ks}}


# ----------------------------------------------------------------------------- run folders

def read_manifest(run_dir: str | Path) -> dict:
    """The run's manifest.json; a folder without one is not a run folder."""
    run_dir = Path(run_dir)
    path = run_dir / "manifest.json"
    if not run_dir.is_dir():
        raise W2SError(f"{run_dir}: no such run folder")
    if not path.is_file():
        raise W2SError(f"{run_dir}: not a run folder (no manifest.json); "
                       "run folders are written by `w2s-lf run`")
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise InputError("expected a JSON object", path)
    if not isinstance(manifest.get("stages", {}), dict):
        raise InputError("expected an object of stages", path, field="stages")
    return manifest


def asked_evaluations(manifest: dict) -> set[str] | None:
    """The eval keys the run's recipe (as its manifest records it) asks for; None when the
    manifest holds no recipe we can read (a folder put together by hand: score every file)."""
    from w2s_lf.run.recipe import parse_recipe
    recipe = manifest.get("recipe")
    if not isinstance(recipe, dict):
        return None
    try:
        return parse_recipe(recipe).evaluations()
    except W2SError:
        return None


def eval_files(run_dir: str | Path, keys: set[str] | None = None) -> dict[str, dict[str, Path]]:
    """``{model_key: {"results": path, "samples": path}}`` from ``eval/*.jsonl`` (either may be
    absent), only for `keys` when given: a file an earlier recipe of the same run folder left
    there (a weak model since replaced, say) is kept but not scored."""
    found: dict[str, dict[str, Path]] = {}
    for path in sorted((Path(run_dir) / "eval").glob("*.jsonl")):
        if path.name.endswith(SAMPLES_SUFFIX):
            found.setdefault(path.name[: -len(SAMPLES_SUFFIX)], {})["samples"] = path
        else:
            found.setdefault(path.stem, {})["results"] = path
    return {k: v for k, v in found.items() if keys is None or k in keys}


def other_grader(manifest: dict, mode: str) -> str | None:
    """The grader a run is scored under besides its own: the other mode, for raw prompts only."""
    recipe = manifest.get("recipe") if isinstance(manifest.get("recipe"), dict) else {}
    generation = recipe.get("generation") if isinstance(recipe.get("generation"), dict) else {}
    if generation.get("prompt_style", "raw") != "raw":
        return None
    return {"seed": "robust", "robust": "seed"}.get(mode)


def regrade(path: Path, records: list[dict], golds: Sequence[str], task: str, mode: str) -> list[dict]:
    """Greedy records (of ``path``) graded again under ``mode`` from their ``response`` against the
    raw test gold of their id (``golds[id]``); a record with unknown gold stays ungraded."""
    from w2s_lf.grading import grade_many

    graded = [r for r in records if r.get("result") is not None]
    for r in graded:
        if not isinstance(r.get("response"), str):
            raise InputError("expected a string (the answer, to grade it again)", path, field="response")
        if not isinstance(r.get("id"), int) or not 0 <= r["id"] < len(golds):
            raise InputError(f"question id {r.get('id')!r} is not a line of the test split "
                             f"({len(golds)} questions)", path, field="id")
    verdicts = iter(grade_many([r["response"] for r in graded], [golds[r["id"]] for r in graded], task, mode=mode))
    return [{"id": r["id"], "result": None if r.get("result") is None else bool(next(verdicts).correct)}
            for r in records]


def by_grader(run_dir: Path, greedy: dict[str, tuple[Path, list[dict]]], intervals: dict[str, dict],
              task: str, mode: str, other: str) -> dict[str, dict]:
    """``{model_key: {mode: {accuracy, n, correct, ungraded, accuracy_ci}, other: {..., differ}}}``:
    each model's test accuracy under both graders (``intervals``: the run grader's, from
    `run_intervals`), ``differ`` counting the questions whose verdict changes. Empty when the
    run's test split (data/test.jsonl, for the raw gold) is not there."""
    test = run_dir / "data" / "test.jsonl"
    if not greedy or not test.is_file():
        return {}
    golds = [str(r["answer"]) for _, r in iter_jsonl(test)]
    again = {key: (path, regrade(path, records, golds, task, other)) for key, (path, records) in greedy.items()}
    again_intervals = run_intervals(again)
    out = {}
    for key, (_, records) in greedy.items():
        new = {r["id"]: r["result"] for r in again[key][1]}
        out[key] = {mode: {**score_results(records), "accuracy_ci": intervals[key].get("accuracy_ci")},
                    other: {**score_results(again[key][1]), "accuracy_ci": again_intervals[key].get("accuracy_ci"),
                            "differ": sum(r.get("result") != new[r["id"]] for r in records)}}
    return out


def evaluate_run(run_dir: str | Path, task: str | None = None, mode: str | None = None,
                 ks: Sequence[int] | None = None) -> dict:
    """Score every ``eval/<model_key>.jsonl`` (and ``.samples.jsonl``) of a run; write and return
    ``eval/metrics.json``: ``{model_key: {"accuracy", "n", "correct", "ungraded", "pass@k", "maj@k"}}``
    plus, for models with graded greedy results, the paired-bootstrap fields of
    `w2s_lf.report.stats.paired_intervals`: ``accuracy_ci``, ``accuracy_wilson``, ``difference`` (vs the
    weak floor and the full-weak baseline) and ``pgr`` / ``pgr_ci`` / ``pgr_undefined``; and
    ``by_grader`` (see `by_grader`) for runs with raw prompts.

    The task and grader mode default to the manifest's, so samples are judged as the run judged them.
    """
    from w2s_lf.tasks import get_task

    manifest = read_manifest(run_dir)
    task_name = task or manifest.get("task") or "gsm8k"
    mode = mode or manifest.get("grader_mode") or "robust"
    metrics, greedy = {}, {}
    for key, paths in eval_files(run_dir, asked_evaluations(manifest)).items():
        if "results" in paths:
            greedy[key] = (paths["results"], read_results(paths["results"]))
            entry = score_results(greedy[key][1])
        else:
            entry = {"accuracy": None, "n": 0, "correct": 0, "ungraded": 0}
        entry["pass@k"], entry["maj@k"] = {}, {}
        if "samples" in paths:
            sampled = score_samples(read_samples(paths["samples"]), get_task(task_name), ks, mode)
            entry["pass@k"], entry["maj@k"] = sampled["pass@k"], sampled["maj@k"]
        metrics[key] = entry
    intervals = run_intervals(greedy)
    for key, entry in intervals.items():
        metrics[key].update(entry)
    stored = manifest.get("grader_mode") or "robust"   # what the greedy `result`s were graded with
    other = other_grader(manifest, stored)
    if other:
        for key, graders in by_grader(Path(run_dir), greedy, intervals, task_name, stored, other).items():
            metrics[key]["by_grader"] = graders
    write_json(Path(run_dir) / "eval" / METRICS_FILE, metrics)
    return metrics


def load_metrics(run_dir: str | Path, recompute: bool = False) -> dict:
    """eval/metrics.json, computed first (by `evaluate_run`) when asked or when absent."""
    path = Path(run_dir) / "eval" / METRICS_FILE
    if recompute or (not path.is_file() and eval_files(run_dir)):
        return evaluate_run(run_dir)
    if not path.is_file():
        return {}
    metrics = read_json(path)
    if not isinstance(metrics, dict):
        raise InputError("expected an object of models", path)
    for key, entry in metrics.items():
        if not isinstance(entry, dict):
            raise InputError("expected an object", path, field=key)
        acc = entry.get("accuracy")
        if acc is not None and not isinstance(acc, (int, float)):
            raise InputError(f"expected a number or null, got {acc!r}", path, field=f"{key}.accuracy")
    return metrics


def join_by_id(greedy: dict[str, tuple[Path, list[dict]]]) -> tuple[list[str], list[list[dict]]]:
    """The models' records in one question order (the first file's), or a W2SError naming the
    files whose questions differ."""
    keys = list(greedy)
    first_path, first = greedy[keys[0]]
    order = {r["id"]: i for i, r in enumerate(first)}
    joined = [first]
    for key in keys[1:]:
        path, records = greedy[key]
        if {r["id"] for r in records} != order.keys():
            check_aligned(first, records, str(first_path), str(path))   # raises, saying how
        joined.append(sorted(records, key=lambda r: order[r["id"]]))
    return keys, joined


def run_intervals(greedy: dict[str, tuple[Path, list[dict]]]) -> dict[str, dict]:
    """Paired-bootstrap intervals (see `w2s_lf.report.stats.paired_intervals`) of a run's greedy results,
    ``{model_key: (path, records)}``, joined by question id."""
    if not greedy:
        return {}
    import numpy as np

    from w2s_lf.report import stats

    keys, joined = join_by_id(greedy)
    graded = np.array([[r["result"] is not None for r in records] for records in joined])
    correct = np.array([[r["result"] is True for r in records] for records in joined])
    return stats.paired_intervals(keys, correct, graded, floor=FLOOR, ceiling=CEILING,
                                  references=(BASELINE,))


# ----------------------------------------------------------------------------- a model on test

def generate_command(model: str, task: str, data_dir: str, output: str, adapter: str | None = None,
                     backend: str | None = None, limit: int | None = None, mode: str = "robust") -> list[str]:
    """The `w2s-lf generate` call for greedy zero-shot answers on test, graded in ``mode``."""
    cmd = [sys.executable, "-m", "w2s_lf", "generate", "--model", str(model), "--task", task,
           "--data-dir", str(data_dir), "--split", "test", "--mode", "zero-shot", "--grader", mode,
           "-o", str(output)]
    if adapter:
        cmd += ["--adapter", str(adapter)]
    if backend:
        cmd += ["--backend", backend]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    return cmd


def evaluate_model(model: str, task: str, data_dir: str, output: str | Path,
                   adapter: str | None = None, backend: str | None = None,
                   limit: int | None = None, mode: str = "robust") -> dict:
    """Greedy zero-shot accuracy of a model (or model + LoRA adapter) on the test split.

    Generation runs in a subprocess so that the engine (vLLM, torch) and its GPU memory are gone
    when it exits, and so this module stays importable without them.
    """
    if not Path(data_dir).is_dir():
        raise W2SError(f"{data_dir}: no such data folder (run `w2s-lf prepare` first)")
    cmd = generate_command(model, task, data_dir, str(output), adapter, backend, limit, mode)
    try:
        from w2s_lf.launch.proctree import child_env
        done = subprocess.run(cmd, check=False, env=child_env())   # the exit status becomes a W2SError below
    except OSError as e:
        raise W2SError(f"could not start generation: {e}") from None
    if done.returncode != 0:
        raise W2SError(f"generation failed with exit status {done.returncode}: {' '.join(cmd)}")
    return score_results(read_results(output))


# ----------------------------------------------------------------------------- tables


def format_metrics(scores: dict) -> str:
    """A plain-text table of one file's metrics (greedy or samples)."""
    if "pass@k" in scores and "accuracy" not in scores:
        lines = [(f"questions {scores['n']} (ungraded {scores['ungraded']}), "
                  f"samples per question {scores['samples']}"),
                 f"{'k':>4}  {'pass@k':>8}  {'maj@k':>8}"]
        lines += [f"{k:>4}  {fmt_rate(scores['pass@k'][k]):>8}  {fmt_rate(scores['maj@k'][k]):>8}"
                  for k in scores["pass@k"]]
        return "\n".join(lines)
    return (f"accuracy {fmt_rate(scores['accuracy'])} "
            f"({scores['correct']}/{scores['n']}, ungraded {scores['ungraded']})")


def format_run_metrics(metrics: dict) -> str:
    """A plain-text table of a run's metrics, one model a line."""
    ks = sorted({int(k) for entry in metrics.values() for k in entry.get("pass@k", {})})
    head = f"{'model':<20} {'accuracy':>9} {'95% CI':>15} {'correct/n':>11}" + "".join(
        f" {'pass@' + str(k):>8} {'maj@' + str(k):>8}" for k in ks)
    lines = [head]
    for key, entry in metrics.items():
        line = (f"{key:<20} {fmt_rate(entry['accuracy']):>9} {fmt_interval(entry.get('accuracy_ci')):>15}"
                f" {entry['correct']:>5}/{entry['n']:<5}")
        for k in ks:
            line += (f" {fmt_rate(entry['pass@k'].get(str(k))):>8}"
                     f" {fmt_rate(entry['maj@k'].get(str(k))):>8}")
        lines.append(line)
    return "\n".join(lines)
