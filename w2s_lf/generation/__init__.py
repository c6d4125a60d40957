"""Generation: zero-shot, few-shot (ICL) and k-sample answers from vLLM, an OpenAI-compatible
server or transformers, graded on the fly, resumable after any kill, shardable over engines.

Python API::

    from w2s_lf.generation import one_job, run_jobs
    summary, = run_jobs(one_job(model="smollm2-135m", task="gsm8k", data_dir="data/embedded",
                                split="test", mode="zero-shot", backend="vllm", output="out.jsonl"))

Several jobs on one engine (or N data-parallel engines): `run_jobs(load_jobs("jobs.yaml"))`.
`merge` joins shard outputs, `adopt_shards` accepts hand-made shards as a run's output,
`export_seeds` writes the paper's `seed{i}/results.jsonl` layout.
"""

from w2s_lf.generation.jobs import (
           EngineSpec,
           JobsFile,
           JobSpec,
           load_jobs,
           one_job,
           parse_jobs,
)
from w2s_lf.generation.run import question_seed, run_jobs
from w2s_lf.generation.shards import adopt_shards, export_seeds, merge, parse_shard

__all__ = ["EngineSpec", "JobSpec", "JobsFile", "adopt_shards", "export_seeds", "load_jobs", "merge", "one_job",
           "parse_jobs", "parse_shard", "question_seed", "run_jobs"]
