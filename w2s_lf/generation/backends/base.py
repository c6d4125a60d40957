"""The one interface every backend implements: prompts + sampling settings -> completions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol


# Questions per engine call and per checkpoint flush, when the user gives none.
DEFAULT_BATCH_SIZES = {"vllm": 256, "openai": 64, "hf": 8}


@dataclass(frozen=True)
class Completion:
    text: str                      # raw generated text, stop string excluded
    num_tokens: int | None = None  # generated tokens, when the backend reports them
    finish_reason: str | None = None


@dataclass(frozen=True)
class Sampling:
    """Settings shared by all questions of a call; `seeds` gives one seed per prompt so a
    question samples the same whatever batch, shard or resumed run it lands in."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 1024
    stop: tuple[str, ...] = ()
    seeds: tuple[int, ...] | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def seed_for(self, i: int) -> int | None:
        return None if self.seeds is None else self.seeds[i]


@dataclass
class BackendInfo:
    name: str
    model: str
    adapter: str | None = None
    details: dict = field(default_factory=dict)


class Backend(Protocol):
    info: BackendInfo
    default_batch_size: int

    def generate(self, prompts: list[str], sampling: Sampling,
                 adapter: str | None = None) -> list[list[Completion]]:
        """One list of `sampling.n` completions per prompt, in prompt order, from `adapter`
        (a LoRA the backend was opened with) or, when None, from the base model."""

    def close(self) -> None:
        ...


def chunked_stream(backend, prompts: list[str], sampling: Sampling, adapter: str | None,
                   window: int) -> Iterator[tuple[int, list[Completion]]]:
    """`stream` for a backend that can only answer whole batches: `window` prompts per call.
    Each batch waits for its slowest answer; vLLM and OpenAI servers stream instead."""
    for start in range(0, len(prompts), window):
        part = Sampling(**{**sampling.__dict__, "seeds": None if sampling.seeds is None
                           else sampling.seeds[start:start + window]})
        outputs = backend.generate(prompts[start:start + window], part, adapter=adapter)
        yield from enumerate(outputs, start=start)


def stream(backend, prompts: list[str], sampling: Sampling, adapter: str | None,
           window: int) -> Iterator[tuple[int, list[Completion]]]:
    """(prompt index, completions) in the order answers finish, with at most `window` prompts
    in the engine: the backend's own `stream` when it has one, else whole batches."""
    own = getattr(backend, "stream", None)
    if own is not None:
        return own(prompts, sampling, adapter=adapter, window=window)
    return chunked_stream(backend, prompts, sampling, adapter, window)


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """Text before the first stop string (vLLM and OpenAI servers do this server side; HF's
    `stop_strings` only halts generation and keeps the stop string)."""
    cut = len(text)
    for s in stop:
        at = text.find(s)
        if at != -1:
            cut = min(cut, at)
    return text[:cut]
