"""Bounding the cost of grading one item: input guards, and a deadline that works in any thread.

Why not math-verify's own timeouts: they use `signal.alarm`, which only works in the main
thread and replaces the caller's SIGALRM handler. We call math-verify with its timeouts off and
bound time ourselves, in three layers:

1. Everything before the symbolic path is linear by construction (capped inputs, scans instead
   of backtracking regexes), so it needs no timeout.
2. `check_expression` rejects what could make sympy compute for minutes inside one C call,
   where no Python-level interruption can reach it: towering or huge exponents, big factorials,
   deep nesting, long or non-printable input.
3. `deadline(seconds)` interrupts Python-level work (sympy's simplification loops) in any
   thread: a watchdog thread raises `GradingTimeout` in the target thread through CPython's
   `PyThreadState_SetAsyncExc`. `GradingTimeout` derives from `BaseException` so that the
   libraries' `except Exception` blocks do not swallow it, and the watchdog repeats it until the
   block exits in case a bare `except:` does.

The batch path (`batch.py`) adds a fourth layer: items run in worker processes and a worker
that overruns its item is killed and replaced.
"""

from __future__ import annotations

import contextlib
import ctypes
import heapq
import itertools
import multiprocessing as mp
import os
import threading
import time

MAX_EXPRESSION_CHARS = 400
MAX_NESTING = 24
MAX_EXPONENT_DIGITS = 4
MAX_FACTORIAL_DIGITS = 3
MAX_INTEGER_DIGITS = 60
_REPEAT = 0.05   # seconds between repeated interruptions of a thread that ignores one


class GradingTimeout(BaseException):
    """Raised inside a `deadline` block that ran out of time."""


class Rejected(ValueError):
    """An expression too costly to hand to a symbolic library."""


def _set_async_exc(thread_id: int, exc) -> int:
    return ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else ctypes.c_void_p(0))


class _Watchdog:
    """One daemon thread per process that interrupts threads whose deadline has passed."""

    def __init__(self):
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._active: dict[int, list] = {}     # token -> [thread_id, due, fired]
        self._heap: list[tuple[float, int]] = []
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def _reset_after_fork(self):
        self.__init__()

    def register(self, seconds: float) -> int:
        due = time.monotonic() + seconds
        with self._lock:
            token = next(self._tokens)
            self._active[token] = [threading.get_ident(), due, False]
            heapq.heappush(self._heap, (due, token))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="w2s-grading-watchdog", daemon=True)
                self._thread.start()
        self._wake.set()
        return token

    def unregister(self, token: int) -> None:
        # An interruption may land anywhere in here; retry until the entry is gone, then clear
        # any interruption still pending so that it cannot hit the caller's later code.
        while True:
            try:
                with self._lock:
                    entry = self._active.pop(token, None)
                    if entry is not None and entry[2]:
                        _set_async_exc(entry[0], None)
                return
            except GradingTimeout:
                continue

    def _run(self):
        while True:
            with self._lock:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, token = heapq.heappop(self._heap)
                    entry = self._active.get(token)
                    if entry is None:
                        continue
                    entry[2] = True
                    _set_async_exc(entry[0], GradingTimeout)
                    entry[1] = now + _REPEAT
                    heapq.heappush(self._heap, (entry[1], token))
                wait = self._heap[0][0] - now if self._heap else None
            self._wake.wait(wait)
            self._wake.clear()


_WATCHDOG = _Watchdog()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_WATCHDOG._reset_after_fork)


def fork_is_safe() -> bool:
    """Whether this process may fork: forking a process with threads can deadlock the child,
    except for the watchdog's thread, which a forked child starts afresh."""
    watchdog = _WATCHDOG._thread
    others = threading.active_count() - (1 if watchdog is not None and watchdog.is_alive() else 0)
    return others == 1 and "fork" in mp.get_all_start_methods()


@contextlib.contextmanager
def deadline(seconds: float):
    """Raise `GradingTimeout` in this thread if the block runs longer than `seconds`.

    Interrupts Python code only; a single long C call (a huge integer power) finishes first,
    which is what `check_expression` is for.
    """
    token = _WATCHDOG.register(seconds)
    try:
        yield
    finally:
        _WATCHDOG.unregister(token)


def _exponents(expr: str):
    """Yield (exponent, what follows it) for each `^`: a balanced `{...}` or a single token."""
    n = len(expr)
    i = expr.find("^")
    while i >= 0:
        j = i + 1
        while j < n and expr[j] == " ":
            j += 1
        if j < n and expr[j] == "{":
            depth, k = 0, j
            while k < n:
                if expr[k] == "{":
                    depth += 1
                elif expr[k] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            yield expr[j + 1:k], expr[k + 1:k + 3]
        else:
            k = j
            while k < n and (expr[k].isdigit() or expr[k] in ".,"):
                k += 1
            k = max(k, j + 1)
            yield expr[j:k], expr[k:k + 2]
        i = expr.find("^", i + 1)


def _digit_runs(text: str):
    run = 0
    for ch in text:
        if ch.isdigit():
            run += 1
        else:
            if run:
                yield run
            run = 0
    if run:
        yield run


def check_expression(expr: str) -> None:
    """Raise `Rejected` (with the reason) for input that could make a symbolic check hang.

    Linear in ``len(expr)``; the limits are far above any MATH answer's needs.
    """
    if len(expr) > MAX_EXPRESSION_CHARS:
        raise Rejected(f"longer than {MAX_EXPRESSION_CHARS} characters")
    if not expr.isprintable():
        raise Rejected("non-printable characters")
    depth = deepest = 0
    for ch in expr:
        if ch in "{([":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "})]":
            depth -= 1
    if deepest > MAX_NESTING:
        raise Rejected(f"nested deeper than {MAX_NESTING}")
    if any(run > MAX_INTEGER_DIGITS for run in _digit_runs(expr)):
        raise Rejected(f"an integer longer than {MAX_INTEGER_DIGITS} digits")
    lowered = expr.replace("**", "^")
    if lowered.count("^") > 12:
        raise Rejected("too many powers")
    for exponent, after in _exponents(lowered):
        if "^" in exponent or "\\exp" in exponent or after.lstrip().startswith("^"):
            raise Rejected("a power tower")
        if any(run > MAX_EXPONENT_DIGITS for run in _digit_runs(exponent)):
            raise Rejected(f"an exponent with more than {MAX_EXPONENT_DIGITS} digits")
    at = lowered.find("!")
    while at >= 0:
        before = lowered[:at].rstrip()
        k = len(before)
        while k > 0 and before[k - 1].isdigit():
            k -= 1
        if before.endswith((")", "}")) or len(before) - k > MAX_FACTORIAL_DIGITS:
            raise Rejected("a large factorial")
        at = lowered.find("!", at + 1)
    for heavy in ("\\int", "\\sum", "\\prod", "\\lim", "\\binom", "\\choose", "\\Gamma"):
        if lowered.count(heavy) > 2:
            raise Rejected(f"more than two {heavy}")
