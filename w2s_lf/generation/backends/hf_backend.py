"""transformers `generate`: the reference implementation and the fallback without vLLM.

Greedy prompts are batched with left padding. Sampling runs one question at a time, with the
torch RNG seeded from the question's own seed, so a question's samples do not depend on which
other questions share its batch, shard or resumed run.
"""

from __future__ import annotations

from w2s_lf.errors import W2SError
from w2s_lf.generation.backends.base import (
    DEFAULT_BATCH_SIZES,
    BackendInfo,
    Completion,
    Sampling,
    cut_at_stop,
)


class HfBackend:
    default_batch_size = DEFAULT_BATCH_SIZES["hf"]

    def __init__(self, model: str, adapter: str | None = None, dtype: str = "auto",
                 device: str | None = None, adapters: list[str] | tuple = ()):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cpu" and dtype == "auto":   # as vLLM: no emulated bf16 on CPU
            from w2s_lf.hardware import cpu_dtype
            dtype = cpu_dtype()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, padding_side="left")
            self.model = AutoModelForCausalLM.from_pretrained(
                model, dtype=dtype if dtype == "auto" else getattr(torch, dtype)).to(self.device)
        except (OSError, ValueError) as e:
            raise W2SError(f"transformers could not load {model}: {e}") from e
        # PEFT holds every adapter by name; each call activates one, or disables them all.
        self.adapters = {path: f"adapter{i}" for i, path in
                         enumerate(dict.fromkeys([*([adapter] if adapter else []), *adapters]), start=1)}
        for path, name in self.adapters.items():
            if not isinstance(self.model, self._peft_type()):
                self.model = self._peft_type().from_pretrained(self.model, path, adapter_name=name)
            else:
                self.model.load_adapter(path, adapter_name=name)
        self.model.eval()
        self._stoppers: dict = {}
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.info = BackendInfo("hf", model, adapter, {"dtype": str(self.model.dtype), "device": self.device})

    @staticmethod
    def _peft_type():
        from peft import PeftModel
        return PeftModel

    def _using(self, adapter: str | None):
        """A context in which the model is `adapter`, or the base model when None."""
        import contextlib
        if adapter is None:
            return self.model.disable_adapter() if self.adapters else contextlib.nullcontext()
        if adapter not in self.adapters:
            raise W2SError(f"adapter {adapter} was not given when this engine started "
                           f"(it serves: {', '.join(self.adapters) or 'the base model only'})")
        self.model.set_adapter(self.adapters[adapter])
        return contextlib.nullcontext()

    def _stopper(self, stop: tuple[str, ...]):
        """Stop-string criteria, built once: building one scans the whole vocabulary (~1 s)."""
        if stop not in self._stoppers:
            from transformers import StoppingCriteriaList, StopStringCriteria
            self._stoppers[stop] = StoppingCriteriaList([StopStringCriteria(self.tokenizer, list(stop))])
        return self._stoppers[stop]

    def _run(self, prompts: list[str], sampling: Sampling, n: int) -> list[list[Completion]]:
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.device)
        kwargs = dict(max_new_tokens=sampling.max_new_tokens, num_return_sequences=n,
                      pad_token_id=self.tokenizer.pad_token_id)
        if sampling.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            # top_k=0 switches off the top-50 default of many generation configs, as vLLM does.
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
        if sampling.stop:
            kwargs.update(stopping_criteria=self._stopper(sampling.stop))
        with self.torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        new = out[:, enc["input_ids"].shape[1]:]
        results = []
        for row in range(len(prompts)):
            group = []
            for j in range(n):
                ids = new[row * n + j]
                ids = ids[ids != self.tokenizer.pad_token_id] if self.tokenizer.pad_token_id is not None else ids
                text = self.tokenizer.decode(ids, skip_special_tokens=True)
                group.append(Completion(cut_at_stop(text, sampling.stop), int(len(ids))))
            results.append(group)
        return results

    def generate(self, prompts: list[str], sampling: Sampling,
                 adapter: str | None = None) -> list[list[Completion]]:
        with self._using(adapter):
            if sampling.greedy:
                return self._run(prompts, sampling, sampling.n)
            results = []
            for i, prompt in enumerate(prompts):
                seed = sampling.seed_for(i)
                if seed is not None:
                    self.torch.manual_seed(seed)
                results.extend(self._run([prompt], sampling, sampling.n))
            return results

    def close(self) -> None:
        self.model = None
