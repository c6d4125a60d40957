from __future__ import annotations

import click

from w2s_lf.cli import guarded, parse_overrides


# A group that runs generation itself when no subcommand (`merge`, `export-seeds`) is named.
@click.group(invoke_without_command=True,
             short_help="Zero-shot, few-shot or k-sample answers (vLLM, HF, server).")
@click.option("--jobs", "jobs_file", type=click.Path(), help="YAML file of several runs sharing one engine "
              "(docs/generation.md); the other options are then not used.")
@click.option("--model", help="Model folder, built-in name (smollm2-135m, tiny-llama) or, with "
                               "--backend openai, the served model name.")
@click.option("--adapter", type=click.Path(), help="LoRA adapter folder (served without merging); "
                                                   "with --backend openai, the served LoRA name.")
@click.option("--task", default="gsm8k", show_default=True, help="gsm8k, math or custom.")
@click.option("--data-dir", type=click.Path(), help="Folder with <split>.jsonl [default: data/<task>].")
@click.option("--split", default="test", show_default=True, help="train_2 or test.")
@click.option("--input", "input_file", type=click.Path(), help="A processed eval file instead of --data-dir/--split.")
@click.option("--mode", type=click.Choice(["zero-shot", "few-shot", "sample"]), default="zero-shot",
              show_default=True)
@click.option("--k", default=10, show_default=True, help="sample: answers per question (one pass, n=k).")
@click.option("--temperature", default=1.0, show_default=True, help="sample: temperature.")
@click.option("--top-p", default=1.0, show_default=True, help="sample: nucleus mass.")
@click.option("--seed", default=42, show_default=True, help="Sampling seed (per question: hash of seed and id).")
@click.option("--demos", type=click.Path(), help="few-shot: weak results on train_2 ({id, prompt, response}).")
@click.option("--demo-strategy", type=click.Choice(["paper", "first"]), default="paper", show_default=True,
              help="paper: the paper's helper: Random(42) shuffle of the demo file, then the first --shots "
                   "responses that contain the answer key (#### / The answer is: ; chat: \\boxed{).")
@click.option("--demo-ids", help="Comma-separated demo ids to use instead of a strategy (e.g. 2619,456,102,3037).")
@click.option("--shots", default=4, show_default=True, help="few-shot: number of demonstrations.")
@click.option("--prompt-style", type=click.Choice(["raw", "chat"]), default="raw", show_default=True,
              help="raw: the paper's 'Question: ...\\nAnswer:' and stop strings; chat: the model's chat "
                   "template, a system turn asking for \\boxed{}, few-shot demos as user/assistant turns.")
@click.option("--max-new-tokens", type=int, help="Default per task: GSM8K 1024, MATH 2048.")
@click.option("--grade/--no-grade", default=None, help="Attach gold from the input's `answer` and grade "
                                                       "[default: only for split test].")
@click.option("--gold-file", type=click.Path(), help="Grade against this processed file's `answer` (by line).")
@click.option("--grader", type=click.Choice(["robust", "seed"]), default="robust", show_default=True)
@click.option("-o", "--output", type=click.Path(), help="Output JSONL (also the resume checkpoint).")
@click.option("--overwrite", is_flag=True, help="Discard an existing output instead of resuming it.")
@click.option("--limit", type=int, help="Only the first N questions.")
@click.option("--shard", help="i/N: only ids with id % N == i (join with `w2s-lf generate merge`).")
@click.option("--batch-size", type=int, help="Questions per engine call and per checkpoint flush "
                                             "[default: vllm 256, openai 64, hf 8].")
@click.option("--backend", type=click.Choice(["vllm", "openai", "hf"]), default="vllm", show_default=True)
@click.option("--dtype", default="auto", show_default=True,
              help="vllm/hf: auto (on CPU: bfloat16 where native, else float32), bfloat16, float16, float32.")
@click.option("--tensor-parallel-size", "--tp", "tp", default=1, show_default=True, help="vllm: GPUs per engine.")
@click.option("--data-parallel-size", "--dp", "dp", default=1, show_default=True,
              help="Engines, each --tp GPUs, as Ray actors (this node, or the cluster at --ray-address).")
@click.option("--ray-address", help="With --dp > 1: a Ray cluster (HOST:PORT) to place the engines on.")
@click.option("--max-model-len", type=int, help="vllm: context length to reserve KV cache for.")
@click.option("--gpu-memory-utilization", default=0.9, show_default=True, help="vllm: GPU memory fraction.")
@click.option("--prefix-caching/--no-prefix-caching", default=True, show_default=True,
              help="vllm: reuse the KV cache of shared prompt prefixes (few-shot demos).")
@click.option("--enforce-eager/--no-enforce-eager", default=None,
              help="vllm: skip graph compilation [default: on for CPU, off on GPU].")
@click.option("--lora-mode", type=click.Choice(["auto", "merge", "kernels"]), default="auto", show_default=True,
              help="vllm: serve adapters folded into the weights (merge; auto on CPU, ~2.4x less CPU) "
                   "or with vLLM's LoRA kernels.")
@click.option("--engine-arg", multiple=True, metavar="KEY=VALUE",
              help="vllm: any other `vllm.LLM` argument, e.g. pipeline_parallel_size=2 (repeatable).")
@click.option("--base-url", default="http://127.0.0.1:8000/v1", show_default=True, help="openai: endpoint.")
@click.option("--concurrency", default=16, show_default=True, help="openai: requests in flight.")
@click.option("--retries", default=5, show_default=True, help="openai: retries with exponential backoff.")
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.pass_context
@guarded
def generate(ctx, jobs_file, model, adapter, task, data_dir, split, input_file, mode, k, temperature, top_p, seed,
             demos, demo_strategy, demo_ids, shots, prompt_style, max_new_tokens, grade, gold_file, grader,
             output, overwrite, limit, shard, batch_size, backend, dtype, tp, dp, ray_address, max_model_len,
             gpu_memory_utilization, prefix_caching, enforce_eager, lora_mode, engine_arg, base_url, concurrency,
             retries, progress):
    """Generate answers for a split and grade them on the fly; rerun to resume.

    Output: one JSON line per question, `{id, prompt, response, pred, gold, result}` (greedy) or
    `{id, prompt, samples: [{response, pred, result}], gold}` (sample). Gold is attached only for
    test unless --grade or --gold-file. Killing the run loses at most the batch in flight.

    \b
    Examples:
      w2s-lf generate --model smollm2-135m --task gsm8k --data-dir data/embedded --split test -o test.jsonl
      w2s-lf generate --model M --split train_2 --mode few-shot --demos weak_train_2.jsonl -o icl.jsonl
      w2s-lf generate --model M --adapter ADAPTER --split train_2 --mode sample --k 10 \\
          --temperature 1.0 --backend vllm -o samples.jsonl
      w2s-lf generate --model M --shard 0/4 -o out.0.jsonl     # then: w2s-lf generate merge out.jsonl out.*.jsonl
      w2s-lf generate --backend openai --base-url http://127.0.0.1:8000/v1 --model M -o out.jsonl
      w2s-lf generate --jobs evals.yaml        # several runs (adapters) on one engine
    """
    if ctx.invoked_subcommand:
        return
    from w2s_lf.errors import W2SError
    from w2s_lf.generation import load_jobs, one_job, run_jobs

    if jobs_file:
        jobs = load_jobs(jobs_file)
        for job, summary in zip(jobs.jobs, run_jobs(jobs, progress=progress)):
            _report(job.output, summary)
        return
    if not model:
        raise W2SError("--model is required")
    if not output:
        raise W2SError("-o/--output is required")
    if dp > 1 and shard:
        raise W2SError("--shard splits the work by hand; --dp splits it itself: use one of them")
    options: dict = {}
    if backend == "vllm":
        options = dict(dtype=dtype, max_model_len=max_model_len,
                       gpu_memory_utilization=gpu_memory_utilization, enable_prefix_caching=prefix_caching,
                       enforce_eager=enforce_eager, lora_mode=lora_mode, engine_args=parse_overrides(engine_arg))
    elif backend == "hf":
        options = dict(dtype=dtype)
    elif backend == "openai":
        options = dict(base_url=base_url, concurrency=concurrency, retries=retries)
    try:
        ids = [int(x) for x in demo_ids.split(",")] if demo_ids else None
    except ValueError:
        raise W2SError(f"--demo-ids: expected comma-separated integers, got '{demo_ids}'") from None
    jobs = one_job(model=model, backend=backend, task=task, prompt_style=prompt_style, grader=grader, seed=seed,
                   max_new_tokens=max_new_tokens, batch_size=batch_size, tensor_parallel_size=tp,
                   data_parallel_size=dp, ray_address=ray_address, options=options,
                   output=output, input=input_file, data_dir=data_dir, split=split, mode=mode, adapter=adapter,
                   limit=limit, shard=shard, demos=demos, demo_strategy=demo_strategy, demo_ids=ids, shots=shots,
                   k=k, temperature=temperature, top_p=top_p, grade=grade, gold_file=gold_file,
                   overwrite=overwrite)
    summary, = run_jobs(jobs, progress=progress)
    _report(output, summary)


def _report(output: str, summary: dict) -> None:
    acc = f", accuracy {summary['accuracy']:.1%}" if "accuracy" in summary else ""
    rate = f", {summary['tokens_per_s']} tok/s" if summary.get("tokens_per_s") else ""
    click.echo(f"{output}: {summary['questions']} questions ({summary['generated']} generated, "
               f"{summary['reused']} resumed){rate}{acc}")


@generate.command(short_help="Join shard outputs; fail on a missing or duplicated id.")
@click.argument("output", type=click.Path())
@click.argument("shard_files", nargs=-1, required=True, type=click.Path())
@click.option("--expected", type=int, help="Number of questions (ids 0..N-1) [default: from the shards' .run.json].")
@click.option("--input", "input_file", type=click.Path(), help="The input split; its line count is the expected N.")
@guarded
def merge(output, shard_files, expected, input_file):
    """Join SHARD_FILES into OUTPUT in id order; every id must appear exactly once.

    \b
    Example:
      w2s-lf generate merge out.jsonl out.0.jsonl out.1.jsonl out.2.jsonl out.3.jsonl
    """
    from w2s_lf.generation import merge as merge_shards
    from w2s_lf.io import read_jsonl

    if input_file and expected is None:
        expected = len(read_jsonl(input_file))
    n = merge_shards(output, list(shard_files), expected)
    click.echo(f"merged {len(shard_files)} shard(s) into {output}: {n} records")


@generate.command("export-seeds", short_help="Write samples as the paper's seed{i}/results.jsonl.")
@click.argument("samples", type=click.Path())
@click.argument("out_dir", type=click.Path())
@guarded
def export_seeds(samples, out_dir):
    """Split a k-sample file into OUT_DIR/seed{i}/results.jsonl, one greedy-layout file per sample.

    \b
    Example:
      w2s-lf generate export-seeds samples.jsonl outputs/mplus_train_2
    """
    from w2s_lf.generation import export_seeds as export

    paths = export(samples, out_dir)
    click.echo(f"wrote {len(paths)} seed folders under {out_dir}")
