"""Many items: a process pool with per-item deadlines, majority voting, pass@k.

Why a hand-written pool and not `multiprocessing.Pool` / `ProcessPoolExecutor`: neither can kill
one worker stuck on one item. Here each worker owns a pipe and publishes, in shared memory, the
index and start time of the item it is on; the parent kills a worker whose item overran
`hard_timeout`, marks that item wrong ("timeout"), re-queues the rest of its chunk and starts a
replacement. Inside the worker, `bounded.deadline` interrupts Python-level work sooner, so kills
are for the rare hang inside one C call; for the same reason a worker asks math-verify itself
(`defer.run_here`) rather than through another process. Results travel per chunk, so the
per-item overhead is a couple of shared-memory writes.

Grading GSM8K is ~10 µs an item, so small batches run in-process; process start-up only pays
for itself on thousands of items.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from multiprocessing.connection import wait as wait_any

from w2s_lf.grading import defer
from w2s_lf.grading.bounded import fork_is_safe
from w2s_lf.grading.core import Grade, check_mode, grade, resolve_task
from w2s_lf.tasks import Task

HARD_TIMEOUT = 3.0        # seconds one item may take in a worker before the worker is killed
                          # (the value path's safety net, 0.5 s, plus math-verify's, 2 s, and slack)
MIN_ITEMS_PER_WORKER = 2000


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # not Linux
        return max(1, os.cpu_count() or 1)


def _safe(fn, response, gold, task, mode) -> Grade:
    try:
        return fn(response, gold, task, mode)
    except Exception as e:   # noqa: BLE001 - one item's failure never stops the batch
        return Grade("", "", False, f"error: {type(e).__name__}: {e}"[:200])


def _worker(conn, task: Task, mode: str, current, started, slot: int, fn) -> None:
    if mode == "robust" and not task.numeric:
        defer.run_here()   # this worker is killed on overrun: math-verify runs here, not in a pool
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        chunk_id, items = message
        out = []
        for index, response, gold in items:
            current[slot] = index
            started[slot] = time.monotonic()
            g = _safe(fn, response, gold, task, mode)
            out.append((index, g.pred, g.gold, g.correct, g.reason))
        started[slot] = 0.0
        conn.send((chunk_id, out))


class _Pool:
    def __init__(self, n: int, task: Task, mode: str, fn):
        # fork is fastest and inherits a warm math-verify; else a fresh forkserver.
        self.ctx = mp.get_context("fork" if fork_is_safe() else "forkserver")
        self.task, self.mode, self.fn = task, mode, fn
        self.current = self.ctx.Array("q", n, lock=False)
        self.started = self.ctx.Array("d", n, lock=False)
        self.procs: list = [None] * n
        self.conns: list = [None] * n
        for slot in range(n):
            self._start(slot)

    def _start(self, slot: int) -> None:
        parent, child = self.ctx.Pipe()
        self.started[slot] = 0.0
        proc = self.ctx.Process(target=_worker, daemon=True,
                                args=(child, self.task, self.mode, self.current, self.started, slot, self.fn))
        proc.start()
        child.close()
        self.procs[slot], self.conns[slot] = proc, parent

    def restart(self, slot: int) -> None:
        proc = self.procs[slot]
        if proc.is_alive():
            proc.kill()
        proc.join()
        self.conns[slot].close()
        self._start(slot)

    def close(self) -> None:
        for slot, proc in enumerate(self.procs):
            try:
                self.conns[slot].send(None)
            except (OSError, ValueError):
                pass
        for proc in self.procs:
            proc.join(timeout=1)
            if proc.is_alive():
                proc.kill()
                proc.join()


def _chunks(items: list, size: int):
    return deque((i, items[i:i + size]) for i in range(0, len(items), size))


def grade_many(responses: Sequence[str], golds: Sequence[str], task: str | Task, mode: str = "robust",
               workers: int | None = None, progress: Callable[[int], None] | None = None,
               hard_timeout: float = HARD_TIMEOUT, fn: Callable[..., Grade] = grade) -> list[Grade]:
    """Grade ``responses[i]`` against ``golds[i]``, in order, on ``workers`` processes (default: all
    cores; small batches run in-process). ``progress(n)`` is called as n more items finish.
    ``fn`` grades one item (``grade``'s signature; module-level, so workers can import it)."""
    check_mode(mode)
    if len(responses) != len(golds):
        raise ValueError(f"{len(responses)} responses but {len(golds)} gold answers")
    t = resolve_task(task)
    n_items = len(responses)
    workers = default_workers() if workers is None else max(1, workers)
    workers = min(workers, max(1, n_items // MIN_ITEMS_PER_WORKER))
    if workers == 1:
        results = []
        for response, gold in zip(responses, golds):
            results.append(_safe(fn, response, gold, t, mode))
            if progress:
                progress(1)
        return results

    items = [(i, r, g) for i, (r, g) in enumerate(zip(responses, golds))]
    size = max(1, min(256, n_items // (workers * 8)))
    queue = _chunks(items, size)
    results: list[Grade | None] = [None] * n_items
    if mode == "robust" and not t.numeric:
        defer.load()   # in the parent, before forking: workers inherit a ready math-verify
    pool = _Pool(workers, t, mode, fn)
    busy: dict[int, tuple[int, list]] = {}      # slot -> (chunk id, items)
    next_id = n_items

    def dispatch(slot: int) -> None:
        if queue:
            busy[slot] = queue.popleft()
            pool.conns[slot].send(busy[slot])

    def fail(slot: int, reason: str) -> None:
        nonlocal next_id
        _, chunk = busy.pop(slot)
        culprit = pool.current[slot]
        rest = [item for item in chunk if item[0] != culprit and results[item[0]] is None]
        for item in chunk:
            if item[0] == culprit and results[culprit] is None:
                results[culprit] = Grade("", "", False, reason)
                if progress:
                    progress(1)
        if rest:
            queue.appendleft((next_id, rest))
            next_id += 1
        pool.restart(slot)

    try:
        for slot in range(workers):
            dispatch(slot)
        while busy:
            by_conn = {pool.conns[s]: s for s in busy}
            for conn in wait_any(list(by_conn), timeout=0.05):
                slot = by_conn[conn]
                try:
                    _, out = conn.recv()
                except (EOFError, OSError):
                    fail(slot, "error: grading worker died")
                    dispatch(slot)
                    continue
                for index, pred, gold, correct, reason in out:
                    results[index] = Grade(pred, gold, correct, reason)
                if progress:
                    progress(len(out))
                del busy[slot]
                dispatch(slot)
            now = time.monotonic()
            for slot in list(busy):
                started = pool.started[slot]
                if started and now - started > hard_timeout:
                    fail(slot, "timeout")
                    dispatch(slot)
                elif not pool.procs[slot].is_alive() and not pool.conns[slot].poll():
                    fail(slot, "error: grading worker died")
                    dispatch(slot)
    finally:
        pool.close()
    return results  # type: ignore[return-value]


@dataclass(frozen=True)
class Vote:
    """The majority answer among samples and how the samples split around it."""

    pred: Hashable
    count: int
    confidence: float                               # count / number of samples
    positive: list[int] = field(default_factory=list)   # indices of samples agreeing, in order
    negative: list[int] = field(default_factory=list)   # the others, in order


def majority_vote(preds: Sequence[Hashable]) -> Vote:
    """Most common prediction; ties go to the one seen first (docs/method.md, "Stage II: vote and pairs")."""
    if not preds:
        raise ValueError("majority_vote needs at least one prediction")
    counts = Counter(preds)
    best = max(counts.values())
    winner = next(p for p in preds if counts[p] == best)   # first seen among the most common
    positive = [i for i, p in enumerate(preds) if p == winner]
    negative = [i for i, p in enumerate(preds) if p != winner]
    return Vote(winner, best, best / len(preds), positive, negative)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), for n samples, c correct."""
    if not (0 <= c <= n) or not (1 <= k <= n):
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))
