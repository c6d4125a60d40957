"""Generation: zero-shot, few-shot (ICL) and k-sample answers from vLLM, an OpenAI-compatible
server or transformers, graded on the fly, resumable after any kill, shardable over engines.

Python API::

    from w2s_lf.generation import GenerationConfig, run
    run(GenerationConfig(model="smollm2-135m", task="gsm8k", data_dir="data/embedded",
                         split="test", mode="zero-shot", backend="vllm", output="out.jsonl"))

Several runs on one engine (or N data-parallel engines): `run_jobs(load_jobs("jobs.yaml"))`.
`merge` joins shard outputs, `adopt_shards` accepts hand-made shards as a run's output,
`export_seeds` writes the paper's `seed{i}/results.jsonl` layout.
"""

from w2s_lf.generation.run import GenerationConfig, question_seed, run
from w2s_lf.generation.jobs import load_jobs, parse_jobs, run_jobs
from w2s_lf.generation.shards import adopt_shards, export_seeds, merge, parse_shard

__all__ = ["GenerationConfig", "run", "question_seed", "merge", "export_seeds", "parse_shard", "adopt_shards",
           "load_jobs", "parse_jobs", "run_jobs"]

