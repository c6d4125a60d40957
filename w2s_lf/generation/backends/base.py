"""The one interface every backend implements: prompts + sampling settings -> completions."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Iterable, Iterator, Protocol

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


@dataclass(frozen=True)
class Request:
    """One prompt for `serve`: `key` comes back with its completions."""

    key: object
    prompt: str
    sampling: Sampling          # its `seeds` unused: `seed` is this prompt's
    seed: int | None = None
    adapter: str | None = None


def feed(requests: Iterable[Request]):
    """A `take` for `serve` that hands out `requests` in order (made as they are taken), then None."""
    todo = iter(requests)

    def take(n: int, wait: bool) -> list[Request] | None:
        return list(islice(todo, n)) or None
    return take


def list_feed(prompts: list[str], sampling: Sampling, adapter: str | None):
    """A `take` for `serve` that hands out `prompts` in order (key = index), then None."""
    shared = replace(sampling, seeds=None)
    return feed(Request(i, prompts[i], shared, sampling.seed_for(i), adapter) for i in range(len(prompts)))


def serve(backend, take, window: int) -> Iterator[tuple[object, list[Completion]]]:
    """Answer requests as `take(n, wait)` hands them out (up to n new `Request`s, blocking for
    at least one when `wait`; None once no more will come), yielding (key, completions) in the
    order answers finish with at most `window` requests in the engine. A backend with its own
    `serve` (vLLM, OpenAI) refills as answers finish; others answer whole batches, each waiting
    for its slowest answer."""
    own = getattr(backend, "serve", None)
    if own is not None:
        return own(take, window)
    return _batches(backend, take, window)


def pump(take, window: int, submit, finished, cancel) -> Iterator[tuple[object, list[Completion]]]:
    """The continuous loop of an engine that accepts requests while it runs (vLLM, a server):
    keep up to `window` requests in it, topping up from `take` (waiting for new ones only when
    nothing runs), and yield (key, completions) as they finish. `submit(request) -> handle`,
    `finished(running) -> [(handle, completions)]` (blocks until some finish), and
    `cancel(handles)` for what is still running when the caller stops early."""
    running: dict = {}
    more = True
    try:
        while True:
            if more and len(running) < window:
                new = take(window - len(running), not running)
                more = new is not None
                for r in new or ():
                    running[submit(r)] = r.key
            if not running:
                if not more:
                    return
                continue
            for handle, completions in finished(running):
                yield running.pop(handle), completions
    finally:
        if running:
            cancel(list(running))


def _batches(backend, take, window: int) -> Iterator[tuple[object, list[Completion]]]:
    while (new := take(window, True)) is not None:
        start = 0
        while start < len(new):   # one call per run of requests with the same settings
            end = start + 1
            while end < len(new) and (new[end].sampling, new[end].adapter) == (new[start].sampling, new[start].adapter):
                end += 1
            group = new[start:end]
            seeds = tuple(r.seed for r in group)
            sampling = replace(group[0].sampling, seeds=None if all(s is None for s in seeds) else seeds)
            outputs = backend.generate([r.prompt for r in group], sampling, adapter=group[0].adapter)
            yield from ((r.key, out) for r, out in zip(group, outputs))
            start = end


def stream(backend, prompts: list[str], sampling: Sampling, adapter: str | None,
           window: int) -> Iterator[tuple[int, list[Completion]]]:
    """(prompt index, completions) in the order answers finish (see `serve`)."""
    return serve(backend, list_feed(prompts, sampling, adapter), window)


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """Text before the first stop string (vLLM and OpenAI servers do this server side; HF's
    `stop_strings` only halts generation and keeps the stop string)."""
    cut = len(text)
    for s in stop:
        at = text.find(s)
        if at != -1:
            cut = min(cut, at)
    return text[:cut]
