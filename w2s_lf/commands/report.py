from __future__ import annotations

import click

from w2s_lf.cli import guarded


@click.command(short_help="Write report.md and plots for a run folder.")
@click.argument("run", type=click.Path())
@click.option("--recompute", is_flag=True,
              help="Rescore eval/*.jsonl into eval/metrics.json first (default: only when it is missing).")
@guarded
def report(run, recompute):
    """Write RUN/report.md, RUN/accuracy.png, RUN/pgr.png and RUN/wall_time.png.

    The report lists test accuracy of the weak floor, the full-weak baseline,
    M_plus per iteration, M_pro (DPO / ORPO) and the gold ceiling, each with a
    95% interval from a paired bootstrap over test questions (10,000 resamples,
    fixed seed); the performance gap recovered (PGR) with its interval; paired
    differences against the weak floor and the full-weak baseline; findings in
    words (is the ceiling above the floor, did weak-to-strong training beat the
    full-weak baseline at this scale), which claim nothing the intervals do not
    show; data statistics and wall time per stage; and the recipe hash, grader
    mode, w2s-lf version and git revision of the run. Models or stages a run
    lacks are left out. Rerunning on the same run writes the same bytes.

    \b
    Examples:
      w2s-lf report runs/cpu_demo
      w2s-lf report runs/cpu_demo --recompute
    """
    from w2s_lf.report.markdown import write_report

    path = write_report(run, recompute)
    click.echo(f"wrote {path}")
