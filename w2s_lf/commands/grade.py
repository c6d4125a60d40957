from __future__ import annotations

import click

from w2s_lf.cli import guarded


@click.command(short_help="Grade model responses: add pred, gold and result to each record.")
@click.argument("results", type=click.Path())
@click.option("--task", default="gsm8k", show_default=True, help="gsm8k, math or custom.")
@click.option("--mode", default="robust", show_default=True, type=click.Choice(["robust", "seed"]),
              help="robust: right about numbers and LaTeX; seed: the paper's rules exactly.")
@click.option("--gold-file", type=click.Path(),
              help="Processed evaluation file whose 'answer' is the gold, matched by record 'id' "
                   "(0-based index) or else by line. Default: each record's 'answer' or 'gold'.")
@click.option("--numeric/--no-numeric", default=None,
              help="custom task: answers are plain numbers (enables the last-number fallback).")
@click.option("--workers", type=int, default=None, help="Grading processes (default: all cores).")
@click.option("-o", "--output", type=click.Path(), help="Default: RESULTS with suffix .graded.jsonl.")
@guarded
def grade(results, task, mode, gold_file, numeric, workers, output):
    """Grade a JSONL of model responses against gold answers.

    Each record needs 'response' (or 'samples': a list of {response, ...}, each graded); the
    output adds 'pred', 'gold' and 'result' (docs/method.md inference layout). Items that could not be
    graded (timeout, unparsable) count as wrong and are summarised at the end.

    \b
    Examples:
      w2s-lf grade outputs/weak/results.jsonl --task gsm8k -o graded.jsonl
      w2s-lf grade results.jsonl --mode seed --gold-file data/gsm8k/train_2.jsonl -o graded.jsonl
      w2s-lf grade samples.jsonl --task math --workers 2 -o samples_graded.jsonl
    """
    from pathlib import Path

    from tqdm import tqdm

    from w2s_lf import io
    from w2s_lf.errors import InputError
    from w2s_lf.grading import grade_many
    from w2s_lf.grading.cli_support import attach, collect_items
    from w2s_lf.tasks import get_task

    task_obj = get_task(task, numeric=numeric) if task == "custom" else get_task(task)
    numbered = list(io.iter_jsonl(results))
    if not numbered:
        raise InputError("file is empty", results)
    lines = [n for n, _ in numbered]
    records = [r for _, r in numbered]
    golds = io.read_jsonl(gold_file, required=("answer",)) if gold_file else None
    items = collect_items(records, lines, results, golds, gold_file)
    with tqdm(total=len(items), desc=f"grading ({mode})", unit="item", disable=None) as bar:
        grades = grade_many([i.response for i in items], [i.gold for i in items], task_obj, mode,
                            workers=workers, progress=bar.update)
    attach(records, items, grades)
    out = Path(output) if output else Path(results).with_suffix(".graded.jsonl")
    io.write_jsonl(out, records)
    correct = sum(g.correct for g in grades)
    click.echo(f"accuracy: {correct / len(grades):.2%} ({correct}/{len(grades)}, {task}, {mode}) -> {out}")
    reasons: dict[str, int] = {}
    for g in grades:
        if g.reason and g.reason != "no answer found":
            key = g.reason.split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
    missing = sum(g.reason == "no answer found" for g in grades)
    if missing or reasons:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
        click.echo(f"no answer found: {missing}" + (f"; not graded: {detail}" if detail else ""))
