"""Data-parallel generation: N engines, each one tensor-parallel group, fed from one controller.

The engines are Ray actors (`EngineWorker`), placed by one placement group of N bundles
(`{"GPU": tp, "CPU": c}` each, strategy SPREAD) on the cluster at `ray_address`, or on a Ray
instance started on this node when there is none (Ray then gives each engine its own
`CUDA_VISIBLE_DEVICES`). The controller owns the output file: it hands questions to whichever
engine has room, receives each answer as it finishes and writes it, exactly as with one engine.
So the output is one file in question order, identical to a single-engine greedy run, and
resumable by id; an engine that dies fails the stage with every finished answer kept, and the
rerun asks only for the missing ids.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from dataclasses import replace

from w2s_lf.errors import W2SError
from w2s_lf.generation.backends.base import BackendInfo, Completion
from w2s_lf.launch.ray_cluster import actor_env, reserve

POLL_SECONDS = 0.5          # how long one poll of an engine waits for a finished answer


class EngineWorker:
    """One engine in its own process: requests arrive by `submit`, answers leave by `poll`, and a
    thread in between runs the backend's continuous `serve` loop."""

    def __init__(self, backend: str, model: str, adapters: list[str], options: dict):
        from w2s_lf.generation.backends import make_backend
        self.engine = make_backend(backend, model, adapters=adapters, **options)
        self.inbox: queue.Queue = queue.Queue()
        self.outbox: queue.Queue = queue.Queue()
        self.failure: BaseException | None = None
        threading.Thread(target=self._loop, daemon=True).start()

    def where(self) -> dict:
        import socket
        return {"host": socket.gethostname(), "pid": os.getpid(), "node": _node_id(),
                "devices": os.environ.get("CUDA_VISIBLE_DEVICES")}

    def submit(self, requests: list) -> None:
        for r in requests:
            self.inbox.put(r)

    def poll(self, timeout: float) -> list[tuple[object, list[Completion]]]:
        """Answers finished since the last poll, waiting up to `timeout` for the first."""
        out = []
        try:
            out.append(self.outbox.get(timeout=timeout))
            while True:
                out.append(self.outbox.get_nowait())
        except queue.Empty:
            pass
        if not out and self.failure is not None:
            raise self.failure
        return out

    def _take(self, n: int, wait: bool) -> list:
        items = [self.inbox.get()] if wait else []
        try:
            while len(items) < n:
                items.append(self.inbox.get_nowait())
        except queue.Empty:
            pass
        return items

    def _loop(self) -> None:
        from w2s_lf.generation.backends import serve
        try:
            for key, completions in serve(self.engine, self._take, 1 << 30):
                self.outbox.put((key, completions))
        except BaseException as e:   # noqa: BLE001 - reported to the controller by poll()
            self.failure = e


def _node_id() -> str | None:
    try:
        import ray
        return ray.get_runtime_context().get_node_id()
    except Exception:   # noqa: BLE001 - not inside Ray
        return None


def _ray():
    try:
        import ray
    except ImportError:
        raise W2SError("data_parallel_size > 1 runs its engines on Ray, which is not installed "
                       "(pip install 'ray[default]'; see requirements/)") from None
    return ray


class DataParallelEngine:
    """N engines behind the one-engine interface (`serve`, `generate`, `close`)."""

    def __init__(self, backend: str, model: str, adapters: list[str], options: dict, engines: int,
                 tensor_parallel_size: int = 1, ray_address: str | None = None, cpus_per_engine: float = 1):
        ray = _ray()
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        self.ray, self.started_ray = ray, False
        if not ray.is_initialized():
            # "local" starts a private Ray instance on this node (never joins someone else's).
            ray.init(address=ray_address or "local", logging_level="ERROR", log_to_driver=False,
                     runtime_env={"env_vars": actor_env()})
            self.started_ray = True
        self.workers, self.pg = [], None
        try:
            gpus = tensor_parallel_size if ray.cluster_resources().get("GPU", 0) > 0 else 0
            options = dict(options)
            if backend == "vllm" and tensor_parallel_size > 1:
                # The TP workers of one engine are processes of its actor, not more Ray actors.
                options["engine_args"] = {"distributed_executor_backend": "mp", **options.get("engine_args", {})}
            bundle = {"CPU": cpus_per_engine, **({"GPU": gpus} if gpus else {})}
            self.pg = reserve(ray, bundle, engines, "SPREAD", 120, "engines")
            actor = ray.remote(EngineWorker)
            self.workers = [actor.options(
                num_cpus=cpus_per_engine, num_gpus=gpus, max_concurrency=2, max_restarts=0,
                scheduling_strategy=PlacementGroupSchedulingStrategy(self.pg, placement_group_bundle_index=i),
            ).remote(backend, model, adapters, options) for i in range(engines)]
            self.places = self._get([w.where.remote() for w in self.workers], "start")
        except BaseException:
            self.close()
            raise
        for i, place in enumerate(self.places):
            print(f"engine {i}: {place['host']} node {str(place['node'])[:12]} pid {place['pid']}"
                  f"{' GPUs ' + place['devices'] if place['devices'] else ''}", file=sys.stderr, flush=True)
        self.polls: dict = {}   # outstanding poll per engine, kept across calls: none loses answers
        self.calls = 0
        self.info = BackendInfo(backend, model, None, {"data_parallel_size": engines, "engines": self.places})

    def _get(self, refs, what: str, engine: int | None = None):
        try:
            return self.ray.get(refs)
        except (self.ray.exceptions.RayActorError, self.ray.exceptions.RayTaskError) as e:
            which = "an engine" if engine is None else f"engine {engine}"
            last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise W2SError(f"{which} failed to {what}: {last}; finished answers are kept, rerun to "
                           "resume the missing ones") from None

    def serve(self, take, window: int = 256):
        """Hand requests to whichever engine has fewer than `window` in flight; yield each answer
        as it arrives."""
        n = len(self.workers)
        inflight = [0] * n
        more = True
        # Keys are tagged with this call, so answers to an abandoned earlier call are dropped.
        self.calls += 1
        call = self.calls

        def feed(i: int) -> None:
            nonlocal more
            if more and inflight[i] < window:
                new = take(window - inflight[i], False)
                if new is None:
                    more = False
                elif new:
                    self.workers[i].submit.remote([replace(r, key=(call, r.key)) for r in new])
                    inflight[i] += len(new)

        for i in range(n):
            feed(i)
        for i in range(n):
            if i not in self.polls.values():
                self.polls[self.workers[i].poll.remote(POLL_SECONDS)] = i
        while more or any(inflight):
            ready, _ = self.ray.wait(list(self.polls), num_returns=1)
            for ref in ready:
                i = self.polls.pop(ref)
                for (tag, key), completions in self._get(ref, "answer", i):
                    if tag == call:
                        inflight[i] -= 1
                        yield key, completions
                feed(i)
                self.polls[self.workers[i].poll.remote(POLL_SECONDS)] = i

    def generate(self, prompts, sampling, adapter=None):
        from w2s_lf.generation.backends import stream
        return [c for _, c in sorted(stream(self, prompts, sampling, adapter, 256), key=lambda kv: kv[0])]

    def close(self) -> None:
        ray = self.ray
        for w in self.workers:
            ray.kill(w)
        self.workers = []
        if self.pg is not None:
            from ray.util.placement_group import remove_placement_group
            remove_placement_group(self.pg)
            self.pg = None
        if self.started_ray:
            ray.shutdown()
            self.started_ray = False

