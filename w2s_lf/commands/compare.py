from __future__ import annotations

import click

from w2s_lf.cli import guarded

FORMATS = {".md": "markdown", ".jsonl": "jsonl", ".csv": "csv"}


@click.command(short_help="Several runs' models on one table (markdown, JSONL or CSV) and plot.")
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the table here (format from the suffix: .md, .jsonl, .csv) instead of stdout.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "jsonl", "csv"]),
              help="Table format [default: from the -o suffix, else markdown].")
@click.option("--plot", type=click.Path(dir_okay=False),
              help="Also draw every row as a point with its 95% interval into this PNG.")
@guarded
def compare(runs, output, fmt, plot):
    """Every model of every RUN folder as one row: test accuracy, PGR and the paired difference
    against that run's full-weak baseline, each with its 95% interval (the run's own paired
    bootstrap), and the size and label precision of the data each model was trained on.

    Runs compared this way are separate experiments (one per weak model, per seed, per
    setting): intervals are per run, and a difference between two runs' rows is not a paired
    difference. A run folder without eval/metrics.json is scored first, as `w2s-lf report` does.

    \b
    Examples:
      w2s-lf compare runs/gsm8k_llama2_7b_to_llama2_70b runs/gsm8k_gemma_2b_to_llama2_70b
      w2s-lf compare runs/cpu_methods runs/cpu_methods_seed1 -o compare.md --plot compare.png
      w2s-lf compare runs/*/ -o compare.csv            # one CSV row per model and run
      w2s-lf compare runs/cpu_demo --format jsonl      # JSON Lines on stdout
    """
    from pathlib import Path

    from w2s_lf.errors import W2SError
    from w2s_lf.io import write_text
    from w2s_lf.report.comparison import compare_runs, table_text
    from w2s_lf.report.plots import plot_comparison

    if fmt is None:
        suffix = Path(output).suffix if output else ".md"
        if suffix not in FORMATS:
            raise W2SError(f"-o {output}: unknown table format {suffix!r}; use .md, .jsonl or .csv, or --format")
        fmt = FORMATS[suffix]
    rows = compare_runs(list(runs))
    text = table_text(rows, fmt)
    if output:
        write_text(output, text)
        click.echo(f"wrote {output} ({len(rows)} rows)", err=True)
    else:
        click.echo(text, nl=False)
    if plot:
        plot_comparison(rows, Path(plot))
        click.echo(f"wrote {plot}", err=True)
