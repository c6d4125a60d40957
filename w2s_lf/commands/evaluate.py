from __future__ import annotations

import click

from w2s_lf.cli import guarded


def _parse_ks(value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        ks = sorted({int(k) for k in value.split(",") if k.strip()})
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got '{value}'") from None
    if not ks or ks[0] < 1:
        raise click.BadParameter(f"expected positive integers, got '{value}'")
    return ks


@click.command(short_help="Accuracy, pass@k and majority@k of results, a run, or a model.")
@click.argument("results", required=False, type=click.Path())
@click.option("--task", default=None, help="gsm8k, math or custom (default: the run's task, else gsm8k).")
@click.option("--k", "ks", help="Comma-separated k for pass@k / maj@k (default 1,5,10 and the sample count).")
@click.option("--grader-mode", default=None,
              help="robust or seed: how preds are judged against gold (default: the run's mode, else robust).")
@click.option("--json", "json_out", type=click.Path(), help="Also write the metrics as JSON to this file.")
@click.option("--model", help="Evaluate this model (path or built-in name) greedily on test.")
@click.option("--adapter", type=click.Path(), help="With --model: a LoRA adapter folder.")
@click.option("--data-dir", type=click.Path(), help="With --model: prepared data (default data/<task>).")
@click.option("--backend", help="With --model: vllm, hf or openai (default: generate's).")
@click.option("--limit", type=int, help="With --model: only the first N test questions.")
@click.option("--save-results", type=click.Path(), help="With --model: keep the results JSONL here.")
@guarded
def evaluate(results, task, ks, grader_mode, json_out, model, adapter, data_dir, backend, limit,
             save_results):
    """Score greedy results, sample files, a whole run folder, or a model on test.

    RESULTS is a greedy result file ({id, ..., result}: accuracy), a sample file
    ({id, samples: [{pred}, ...], gold}: pass@k and majority@k), or a run folder
    (every eval/*.jsonl; writes eval/metrics.json, with 95% paired bootstrap
    intervals for accuracy, differences between models and PGR; the greedy
    files must cover the same question ids). Records with a null result
    (gold unknown) are reported as ungraded and left out of accuracy.
    With --model instead, runs `w2s-lf generate` (zero-shot, greedy, test split)
    in a subprocess and scores its output.

    \b
    Examples:
      w2s-lf evaluate runs/demo/eval/weak.jsonl
      w2s-lf evaluate runs/demo/eval/mplus_iter1.samples.jsonl --k 1,5,10
      w2s-lf evaluate runs/demo --json metrics.json
      w2s-lf evaluate --model smollm2-135m --adapter runs/demo/adapters/mplus --data-dir data/embedded
    """
    import tempfile
    from pathlib import Path

    from w2s_lf.errors import W2SError
    from w2s_lf.io import write_json
    from w2s_lf.report import metrics as lib
    from w2s_lf.tasks import get_task

    k_list = _parse_ks(ks)
    model_only = {"--adapter": adapter, "--data-dir": data_dir, "--backend": backend,
                  "--limit": limit, "--save-results": save_results}
    if bool(results) == bool(model):
        raise W2SError("give either RESULTS (a file or run folder) or --model, not both"
                       if results else "give RESULTS (a file or run folder) or --model")
    if not model and any(v is not None for v in model_only.values()):
        used = ", ".join(k for k, v in model_only.items() if v is not None)
        raise W2SError(f"{used} only apply with --model")

    if model:
        task = task or "gsm8k"
        get_task(task)   # fail on a typo before starting a model
        with tempfile.TemporaryDirectory(prefix="w2s-eval-") as tmp:
            out = save_results or str(Path(tmp) / "results.jsonl")
            scores = lib.evaluate_model(model, task, data_dir or f"data/{task}", out, adapter, backend, limit,
                                        grader_mode or "robust")
        click.echo(f"{model}{' + ' + adapter if adapter else ''} on {task} test: {lib.format_metrics(scores)}")
    elif Path(results).is_dir():
        scores = lib.evaluate_run(results, task, grader_mode, k_list)
        if not scores:
            raise W2SError(f"{results}: no eval/*.jsonl files to score")
        click.echo(lib.format_run_metrics(scores))
        click.echo(f"wrote {Path(results) / 'eval' / lib.METRICS_FILE}")
    elif lib.is_sample_file(results):
        records = lib.read_samples(results)
        scores = lib.score_samples(records, get_task(task or "gsm8k"), k_list, grader_mode or "robust")
        click.echo(lib.format_metrics(scores))
    else:
        if k_list:
            raise W2SError(f"{results}: --k needs a sample file; this is a greedy result file")
        scores = lib.score_results(lib.read_results(results))
        click.echo(lib.format_metrics(scores))
    if json_out:
        write_json(json_out, scores)
