"""Any OpenAI-compatible `/v1/completions` endpoint (e.g. `vllm serve`), over plain HTTP.

Requests run on a bounded thread pool (`concurrency` in flight); connection failures, 429 and
5xx are retried with exponential backoff; other HTTP errors fail at once with the server's
message. The standard library is enough, so the backend needs no extra dependency.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from w2s_lf.errors import W2SError
from w2s_lf.generation.backends.base import (
    DEFAULT_BATCH_SIZES,
    BackendInfo,
    Completion,
    Sampling,
    pump,
)

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class Unreachable(W2SError):
    """Nothing answers at the endpoint."""


class OpenAIBackend:
    default_batch_size = DEFAULT_BATCH_SIZES["openai"]

    def __init__(self, model: str, base_url: str = "http://127.0.0.1:8000/v1",
                 adapter: str | None = None, api_key: str | None = None, concurrency: int = 16,
                 retries: int = 5, backoff: float = 1.0, timeout: float = 600.0,
                 adapters: list[str] | tuple = ()):
        # `adapters` are names the server already serves; nothing to load here.
        # With `vllm serve --lora-modules NAME=PATH` an adapter is addressed by its NAME.
        self.model = model
        self.url = base_url.rstrip("/") + "/completions"
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY", "EMPTY")
        self.concurrency, self.retries, self.backoff, self.timeout = concurrency, retries, backoff, timeout
        self.pool = ThreadPoolExecutor(max_workers=concurrency)
        self.last_tokens = 0
        self.info = BackendInfo("openai", model, adapter, {"base_url": base_url, "concurrency": concurrency})
        self._check_reachable(base_url)

    def _check_reachable(self, base_url: str) -> None:
        """Fail before any work when nothing listens at `base_url` (one quick GET /models)."""
        try:
            self._request(base_url.rstrip("/") + "/models", None, retries=1)
        except Unreachable:
            raise
        except W2SError:
            pass   # the server answered, even if it has no /models route

    def _request(self, url: str, body: dict | None, retries: int | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"}
        retries = self.retries if retries is None else retries
        for attempt in range(retries + 1):
            try:
                req = urllib.request.Request(url, data=data, headers=headers)
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as e:
                detail = e.read().decode(errors="replace")[:500]
                if e.code not in RETRY_STATUS or attempt == retries:
                    raise W2SError(f"{url}: HTTP {e.code}: {detail}") from None
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
                if attempt == retries:
                    reason = getattr(e, "reason", e)
                    raise Unreachable(f"OpenAI-compatible server unreachable at {url} ({reason}); "
                                   "start one, e.g. `vllm serve MODEL --port 8000`, or fix --base-url") from None
            time.sleep(self.backoff * 2 ** attempt)
        raise AssertionError("unreachable")

    def _one(self, prompt: str, sampling: Sampling, seed: int | None,
             name: str) -> tuple[list[Completion], int]:
        body = {"model": name, "prompt": prompt, "n": sampling.n,
                "max_tokens": sampling.max_new_tokens, "temperature": sampling.temperature,
                "top_p": 1.0 if sampling.greedy else sampling.top_p, "stop": list(sampling.stop) or None}
        if seed is not None:
            body["seed"] = seed
        reply = self._request(self.url, body)
        choices = sorted(reply.get("choices", []), key=lambda c: c.get("index", 0))
        if len(choices) != sampling.n:
            raise W2SError(f"{self.url}: expected {sampling.n} choices, got {len(choices)}")
        # Token counts are reported per request; exact per choice only when n == 1.
        used = (reply.get("usage") or {}).get("completion_tokens")
        per = used if sampling.n == 1 else None
        return [Completion(c.get("text", ""), per, c.get("finish_reason")) for c in choices], used or 0

    def generate(self, prompts: list[str], sampling: Sampling,
                 adapter: str | None = None) -> list[list[Completion]]:
        futures = [self.pool.submit(self._one, p, sampling, sampling.seed_for(i), adapter or self.model)
                   for i, p in enumerate(prompts)]
        results = [f.result() for f in futures]
        # For the progress bar's tokens/s: usage totals also cover n > 1 requests.
        self.last_tokens = sum(used for _, used in results)
        return [completions for completions, _ in results]

    def serve(self, take, window: int = 64) -> Iterator[tuple[object, list[Completion]]]:
        """Yield (key, completions) as each request returns (see `base.serve`), keeping
        `window` (at least `concurrency`) requests in flight."""
        def submit(r):
            return self.pool.submit(self._one, r.prompt, r.sampling, r.seed, r.adapter or self.model)

        def finished(running):
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            out = []
            for future in done:
                completions, self.last_tokens = future.result()
                out.append((future, completions))
            return out

        def cancel(futures):
            for future in futures:
                future.cancel()

        return pump(take, max(window, self.concurrency), submit, finished, cancel)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
