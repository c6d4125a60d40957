from __future__ import annotations

import click

from w2s_lf.cli import guarded


@click.command(short_help="Split a math dataset and write LLaMA-Factory gold data.")
@click.option("--task", default="gsm8k", show_default=True, help="gsm8k, math or custom.")
@click.option("--from-dir", type=click.Path(), help="Folder with train_1.jsonl, train_2.jsonl, test.jsonl.")
@click.option("--hf", "hf_name", help="Hugging Face dataset name (or local dataset folder).")
@click.option("--hf-config", help="Dataset config, e.g. 'main' for openai/gsm8k.")
@click.option("--hf-test-name", help="Take the test split from another dataset (e.g. MATH-500).")
@click.option("--sizes", help="train_1,train_2 sizes for --hf (default the paper's: 7000,7000 GSM8K; 6000,6000 MATH; "
                               "both shrink in proportion when the hub's train set is smaller: openai/gsm8k gives "
                               "3736,3737, MATH 3750,3750, and prepare warns); train_1,train_2,test for the "
                               "embedded task (default 300,300,200).")
@click.option("--seed", default=42, show_default=True, help="Seed of the split / generator.")
@click.option("--question-field", default="question", show_default=True, help="custom: question field.")
@click.option("--answer-field", default="answer", show_default=True, help="custom: final-answer field.")
@click.option("--solution-field", default=None, help="custom: optional solution field.")
@click.option("--prompt-style", type=click.Choice(["raw", "chat"]), default="raw", show_default=True,
              help="Gold SFT files: raw = the paper's 'Question: ...\\nAnswer:' prompt and target; chat = the "
                   "question as a user turn with a \\boxed{} system turn, targets ending in \\boxed{answer}.")
@click.option("-o", "--output-dir", type=click.Path(), help="Default data/<task> (data/embedded, data/embedded_math for the embedded tasks).")
@guarded
def prepare(task, from_dir, hf_name, hf_config, hf_test_name, sizes, seed,
            question_field, answer_field, solution_field, prompt_style, output_dir):
    """Prepare train_1 / train_2 / test splits and LLaMA-Factory gold SFT files.

    With no source option, uses the embedded offline task (GSM8K-style; MATH-style with --task math).
    For GSM8K and MATH it prints each split's size beside the paper's and warns when they differ:
    only --from-dir on the paper's released data/raw/gsm8k gives the paper's GSM8K splits (a hub
    GSM8K has no Abel augmentation); the paper's MATH train splits were never released.

    \b
    Examples:
      w2s-lf prepare
      w2s-lf prepare --task math --sizes 40,20,10 -o data/embedded_math   # offline MATH-style problems
      w2s-lf prepare --task math --prompt-style chat --from-dir MATH_SPLITS  # gold for chat models
      w2s-lf prepare --task gsm8k --from-dir ../shared/data/gair-w2s/data/raw/gsm8k
      w2s-lf prepare --task gsm8k --hf openai/gsm8k --hf-config main --sizes 3000,3000
      w2s-lf prepare --task custom --from-dir mydata --question-field q --answer-field a
    """
    from w2s_lf.errors import W2SError
    from w2s_lf.tasks import get_task
    from w2s_lf.tasks import prepare as lib

    task_obj = get_task(task, question_field, answer_field, solution_field)
    parsed_sizes = tuple(int(s) for s in sizes.split(",")) if sizes else None
    if from_dir and hf_name:
        raise W2SError("give either --from-dir or --hf, not both")
    if from_dir:
        splits = lib.load_local(task_obj, from_dir)
        default_dir = f"data/{task}"
    elif hf_name:
        splits = lib.load_hf(task_obj, hf_name, hf_config, parsed_sizes or task_obj.default_sizes,
                             seed, hf_test_name)
        default_dir = f"data/{task}"
    else:
        splits = lib.load_embedded(task_obj, parsed_sizes or lib.EMBEDDED_SIZES, seed)
        default_dir = "data/embedded" if task_obj.name == "gsm8k" else f"data/embedded_{task_obj.name}"
    out = output_dir or default_dir
    options = {"task": task, "seed": seed, "sizes": parsed_sizes}
    manifest = lib.prepare(task_obj, splits, out, options, prompt_style)
    counts = ", ".join(f"{k} {v}" for k, v in manifest["counts"].items())
    click.echo(f"prepared {task} ({splits.source['kind']}) in {out}: {counts}")
    comparison = manifest.get("paper_sizes")
    if comparison:
        click.echo(lib.format_sizes(comparison))
        if "warning" in comparison:
            click.secho(f"WARNING: {comparison['warning']}", fg="red", bold=True, err=True)
