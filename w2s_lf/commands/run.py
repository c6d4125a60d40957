from __future__ import annotations

import click

from w2s_lf.cli import guarded, parse_overrides


@click.command(short_help="Run the whole recipe from a YAML file, resumably.",
               context_settings={"ignore_unknown_options": False})
@click.argument("recipe", type=click.Path())
@click.argument("overrides", nargs=-1)
@click.option("--dry-run", is_flag=True, help="Print the plan and every command; write the configs; run nothing.")
@click.option("--from", "start", help="Start at this stage.")
@click.option("--until", help="Stop after this stage.")
@click.option("--only", multiple=True, help="Run only these stages (repeatable).")
@click.option("--list-stages", is_flag=True, help="Print the stage names and exit.")
@guarded
def run(recipe, overrides, dry_run, start, until, only, list_stages):
    """Run RECIPE: prepare, weak SFT, weak and ICL generation, stage I, M_plus, sampling, pairs,
    DPO/ORPO, baselines, evaluation and report. Re-running skips what is done and resumes what
    was interrupted. Overrides are dotted `key=value` pairs.

    \b
    Examples:
      w2s-lf run recipes/cpu_demo.yaml
      w2s-lf run recipes/cpu_demo.yaml stage2.k=8 run_dir=runs/k8
      w2s-lf run recipes/gsm8k_llama2_7b_to_llama2_70b.yaml --dry-run
      w2s-lf run recipes/cpu_demo.yaml --only report
    """
    from w2s_lf.run.execute import build_plan, run_recipe
    from w2s_lf.run.recipe import load_recipe

    recipe_obj = load_recipe(recipe, parse_overrides(overrides))
    if list_stages:
        for stage in build_plan(recipe_obj, progress=False):
            click.echo(stage.name)
        return
    outcomes = run_recipe(recipe_obj, dry_run, start, until, tuple(only), echo=click.echo)
    if not dry_run:
        done = sum(1 for _, o in outcomes if o == "done")
        from w2s_lf.hardware import describe
        click.echo(f"run {recipe_obj.name}: {done} stage(s) run, {len(outcomes) - done} up to date; "
                   f"report: {recipe_obj.run_path / 'report.md'}\non: {describe()}")
