"""Generation backends behind one interface (`Backend.generate(prompts, sampling)`)."""

from __future__ import annotations

from w2s_lf.errors import W2SError
from w2s_lf.generation.backends.base import (
    DEFAULT_BATCH_SIZES,
    Backend,
    BackendInfo,
    Completion,
    Request,
    Sampling,
    cut_at_stop,
    feed,
    list_feed,
    serve,
    stream,
)

BACKENDS = ("vllm", "openai", "hf")


def make_backend(name: str, model: str, adapter: str | None = None, **options) -> Backend:
    """Build a backend; `options` holds that backend's own settings (see each class)."""
    if name == "vllm":
        from w2s_lf.generation.backends.vllm_backend import VllmBackend
        return VllmBackend(model, adapter=adapter, **options)
    if name == "hf":
        from w2s_lf.generation.backends.hf_backend import HfBackend
        return HfBackend(model, adapter=adapter, **options)
    if name == "openai":
        from w2s_lf.generation.backends.openai_backend import OpenAIBackend
        return OpenAIBackend(model, adapter=adapter, **options)
    raise W2SError(f"unknown backend '{name}'; choose one of: {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "DEFAULT_BATCH_SIZES", "Backend", "BackendInfo", "Completion", "Sampling", "cut_at_stop", "make_backend",
           "Request", "feed", "list_feed", "serve", "stream"]
