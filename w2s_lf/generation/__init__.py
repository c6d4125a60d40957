"""Generation: zero-shot, few-shot (ICL) and k-sample answers from vLLM, an OpenAI-compatible
server or transformers, graded on the fly, resumable after any kill, shardable over engines.

Python API::

    from w2s_lf.generation import GenerationConfig, run
    run(GenerationConfig(model="smollm2-135m", task="gsm8k", data_dir="data/embedded",
                         split="test", mode="zero-shot", backend="vllm", output="out.jsonl"))

`merge` joins shard outputs, `export_seeds` writes the paper's `seed{i}/results.jsonl` layout.
"""

from w2s_lf.generation.runner import GenerationConfig, question_seed, run
from w2s_lf.generation.shards import export_seeds, merge, parse_shard

__all__ = ["GenerationConfig", "run", "question_seed", "merge", "export_seeds", "parse_shard"]
