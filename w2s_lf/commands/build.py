from __future__ import annotations

import click

from w2s_lf.cli import guarded


def _table(title: str, stats: dict) -> str:
    """Statistics as a two-column table; nested dicts are flattened as `parent.child`."""
    rows = []

    def walk(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            rows.append((prefix, "-" if value is None else str(value)))
    walk("", stats)
    width = max(len(k) for k, _ in rows)
    return "\n".join([title] + [f"  {k.ljust(width)}  {v}" for k, v in rows])


def _report(title, written, stats):
    for name, path in written.items():
        click.echo(f"wrote {path} (dataset '{name}')", err=True)
    click.echo(_table(title, stats))


@click.group(short_help="Build stage I / stage II LLaMA-Factory datasets from result files.")
def build():
    """Build the recipe's training data (docs/method.md rules) and register it in dataset_info.json.

    \b
    Examples:
      w2s-lf build full-weak --weak runs/weak/train_2.jsonl -o data/gsm8k
      w2s-lf build stage1 --weak runs/weak/train_2.jsonl --icl runs/icl/train_2.jsonl -o data/gsm8k
      w2s-lf build vote --samples runs/mplus/samples.jsonl -o runs/mplus/votes.jsonl
      w2s-lf build pairs --weak runs/weak/train_2.jsonl --samples runs/mplus/samples.jsonl -o data/gsm8k
      w2s-lf build kto --pairs data/gsm8k/gsm8k_pairs.json -o data/gsm8k
      w2s-lf build combine-weak --weak a=gen/weak_a.jsonl --weak b=gen/weak_b.jsonl -o gen/weak.jsonl
      w2s-lf build confident-weak --weak gen/weak.jsonl --samples gen/weak_samples.jsonl -o data/gsm8k
    """


OUT = click.option("-o", "--out-dir", "out_dir", required=True, type=click.Path(file_okay=False),
                   help="Dataset folder (the config's dataset_dir), e.g. data/gsm8k.")
GOLD = click.option("--gold", "gold_path", type=click.Path(exists=True, dir_okay=False),
                    help="Gold answers for analysis only (a result file or processed train_2.jsonl).")
TASK = click.option("--task", default="gsm8k", show_default=True, help="Task name (dataset name prefix).")


@build.command("full-weak", short_help="Every weak response: the naive baseline's data.")
@click.option("--weak", "weak_path", required=True, type=click.Path(exists=True),
              help="Weak model's greedy results on train_2 (JSONL).")
@OUT
@TASK
@click.option("--name", help="Dataset name (default <task>_full_weak).")
@GOLD
@guarded
def full_weak(weak_path, out_dir, task, name, gold_path):
    """Write `{id, content, output}` for every train_2 question with the weak response.

    \b
    Example:
      w2s-lf build full-weak --weak outputs/.../results.jsonl -o data/gsm8k --gold data/gsm8k/train_2.jsonl
    """
    from w2s_lf.builders.files import full_weak_files
    name = name or f"{task}_full_weak"
    written, stats = full_weak_files(weak_path, out_dir, name, gold_path, task)
    _report(f"full-weak '{name}'", written, stats)


@build.command(short_help="Weak-ICL consistency: weak / icl / hybrid SFT sets (M_plus data).")
@click.option("--weak", "weak_path", required=True, type=click.Path(exists=True),
              help="Weak zero-shot results (iteration 2: the weak-trained strong model's).")
@click.option("--icl", "icl_path", required=True, type=click.Path(exists=True),
              help="Strong few-shot results (iteration 2: the ICL-trained strong model's).")
@OUT
@TASK
@click.option("--name", help="Dataset name prefix (default <task>_iter1): <name>_weak, _icl, _hybrid.")
@click.option("--target-count", type=int, help="Top up with inconsistent questions to this many (MATH).")
@click.option("--seed", default=42, show_default=True, help="Seed of the top-up order.")
@click.option("--keep-both-empty", is_flag=True,
              help="Also keep questions where neither answer has one, as the paper's released GSM8K sets do.")
@GOLD
@guarded
def stage1(weak_path, icl_path, out_dir, task, name, target_count, seed, keep_both_empty, gold_path):
    """Keep the questions where the weak and ICL answers agree (non-empty).

    \b
    Examples:
      w2s-lf build stage1 --weak weak.jsonl --icl icl.jsonl -o data/gsm8k
      w2s-lf build stage1 --weak it1w.jsonl --icl it1i.jsonl -o data/gsm8k --name gsm8k_iter2
      w2s-lf build stage1 --task math --weak w.jsonl --icl i.jsonl -o data/math --target-count 2000
    """
    from w2s_lf.builders.files import stage1_files
    name = name or f"{task}_iter1"
    written, stats = stage1_files(weak_path, icl_path, out_dir, name, target_count=target_count,
                                  seed=seed, gold_path=gold_path, task=task, keep_both_empty=keep_both_empty)
    _report(f"stage I '{name}'", written, stats)


@build.command(short_help="Majority vote over k samples per question.")
@click.option("--samples", "samples_path", required=True, type=click.Path(exists=True),
              help="Sample JSONL {id, prompt, samples: [{response, pred}]}, or a folder of seed<N>/results.jsonl.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Votes JSONL {id, pred, count, n, confidence, pos, neg} (pos/neg: sample indices).")
@TASK
@GOLD
@guarded
def vote(samples_path, output, task, gold_path):
    """Most common pred (ties: first seen), confidence = count / k, positives and negatives.

    \b
    Example:
      w2s-lf build vote --samples outputs/gsm8k_train_2/.../t1.0 -o runs/votes.jsonl
    """
    from w2s_lf.builders.files import vote_files
    path, stats = vote_files(samples_path, output, gold_path, task)
    click.echo(f"wrote {path}", err=True)
    click.echo(_table("vote", stats))


@build.command(short_help="Preference pairs (DPO / ORPO data) from weak results and voted samples.")
@click.option("--weak", "weak_path", required=True, type=click.Path(exists=True),
              help="Weak model's greedy results on train_2.")
@click.option("--samples", "samples_path", required=True, type=click.Path(exists=True),
              help="M_plus samples (JSONL or a folder of seed<N>/results.jsonl).")
@OUT
@TASK
@click.option("--name", help="Dataset name (default <task>_pairs).")
@click.option("--votes", "votes_path", type=click.Path(exists=True), help="Votes from `build vote` (else voted here).")
@click.option("--full-weak", "full_weak_path", type=click.Path(exists=True),
              help="Full-weak JSON: instructions taken from it, outputs checked against the weak responses.")
@click.option("--keep", "keep", default=0.6, show_default=True, help="Skip questions with vote confidence below this.")
@click.option("--flip", "flip", default=0.8, show_default=True, help="Reject the weak response only at this confidence.")
@click.option("--max-pairs", type=int, help="Pairs per question (default: gsm8k 1, math 3).")
@click.option("--seed", default=42, show_default=True, help="random.seed of the paper's code.")
@click.option("--format", "fmt", type=click.Choice(["current", "legacy"]), default="current", show_default=True,
              help="current: chosen/rejected (LLaMA-Factory >= 0.8); legacy: output [chosen, rejected] (<= 0.7).")
@GOLD
@guarded
def pairs(weak_path, samples_path, out_dir, task, name, votes_path, full_weak_path, keep, flip,
          max_pairs, seed, fmt, gold_path):
    """Weak response chosen when the majority agrees, rejected when a confident majority disagrees.

    \b
    Examples:
      w2s-lf build pairs --weak weak.jsonl --samples samples.jsonl -o data/gsm8k
      w2s-lf build pairs --task math --weak w.jsonl --samples runs/t1.0 -o data/math --format legacy
    """
    from w2s_lf.builders.files import pairs_files
    name = name or f"{task}_pairs"
    written, stats = pairs_files(weak_path, samples_path, out_dir, name, votes_path=votes_path,
                                 full_weak_path=full_weak_path, task=task, keep=keep, flip=flip,
                                 max_pairs=max_pairs, seed=seed, fmt=fmt, gold_path=gold_path)
    _report(f"pairs '{name}'", written, stats)


@build.command(short_help="KTO data (unpaired, kto_tag) from preference pairs.")
@click.option("--pairs", "pairs_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Pairs JSON from `build pairs` (current format).")
@OUT
@TASK
@click.option("--name", help="Dataset name (default <task>_kto).")
@guarded
def kto(pairs_path, out_dir, task, name):
    """Each pair's chosen response as a desirable example, its rejected one as undesirable.

    \b
    Example:
      w2s-lf build kto --pairs data/gsm8k/gsm8k_pairs.json -o data/gsm8k
      w2s-lf build combine-weak --weak a=gen/weak_a.jsonl --weak b=gen/weak_b.jsonl -o gen/weak.jsonl
      w2s-lf build confident-weak --weak gen/weak.jsonl --samples gen/weak_samples.jsonl -o data/gsm8k
    """
    from w2s_lf.builders.files import kto_files
    name = name or f"{task}_kto"
    written, stats = kto_files(pairs_path, out_dir, name)
    _report(f"kto '{name}'", written, stats)


@build.command("combine-weak", short_help="Several weak models' answers as one, by majority per question.")
@click.option("--weak", "weak_paths", required=True, multiple=True, metavar="NAME=PATH",
              help="A weak model's greedy results (JSONL), named; two or more, in tie-breaking order.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Combined greedy results (JSONL), each record the first model's with the majority pred.")
@TASK
@GOLD
@guarded
def combine_weak(weak_paths, output, task, gold_path):
    """Majority of the weak models' preds per question; ties go to the model named first.

    \b
    Example:
      w2s-lf build combine-weak --weak llama=gen/weak_llama.jsonl --weak gemma=gen/weak_gemma.jsonl \\
          --weak mistral=gen/weak_mistral.jsonl -o gen/weak_train_2.jsonl --gold data/train_2.jsonl
    """
    from w2s_lf.builders.files import combine_weak_files
    path, stats = combine_weak_files(list(weak_paths), output, gold_path, task)
    click.echo(f"wrote {path}", err=True)
    click.echo(_table("combined weak", stats))


@build.command("confident-weak", short_help="Weak answers the weak model's own samples agree with.")
@click.option("--weak", "weak_path", required=True, type=click.Path(exists=True),
              help="Weak model's greedy results on train_2 (JSONL).")
@click.option("--samples", "samples_paths", required=True, multiple=True, type=click.Path(exists=True),
              help="The weak model's samples on train_2 (several weak models: one file each, pooled).")
@OUT
@TASK
@click.option("--name", help="Dataset name (default <task>_confident_weak).")
@click.option("--min-agreement", default=0.6, show_default=True, type=click.FloatRange(0, 1),
              help="Keep a question when at least this share of the samples has the greedy answer.")
@GOLD
@guarded
def confident_weak(weak_path, samples_paths, out_dir, task, name, min_agreement, gold_path):
    """Full-weak data restricted to the questions where the weak model agrees with itself.

    \b
    Example:
      w2s-lf build confident-weak --weak gen/weak_train_2.jsonl --samples gen/weak_samples_train_2.jsonl \\
          -o data --min-agreement 0.7 --gold data/train_2.jsonl
    """
    from w2s_lf.builders.files import confident_weak_files
    name = name or f"{task}_confident_weak"
    written, stats = confident_weak_files(weak_path, list(samples_paths), out_dir, name,
                                          min_agreement=min_agreement, gold_path=gold_path, task=task)
    _report(f"confident-weak '{name}'", written, stats)
