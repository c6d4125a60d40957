"""Asking math-verify what the exact steps leave open, in a process this one can kill.

math-verify (Hugging Face) is the field's standard for LaTeX answers: relations, functions,
sets against tuples, whatever `compare.py` cannot settle exactly. Two questions go to it:
`verify(pred, gold)` (are two canonical answers equal?) and `read(response)` (what math-verify
reads as the answer of a MATH response where `extract.py` found none because it seemed to end in
a generation loop, a heuristic).

Why a process, and our own timeout: math-verify's timeouts are `signal.alarm`, which only works
in the main thread (from any other thread `parse` and `verify` raise `ValueError`), rounds to
whole seconds (its defaults allow 5 s to parse and 5 s per comparison, so one item can take 15 s),
and cannot interrupt a single long C call. So calls run with its timeouts off in a worker
process; the caller waits `DEFER_SECONDS` and, past that, kills the worker (the item is wrong,
"timeout") and the next call starts a fresh one. Workers are reused, one per calling thread at
a time, so calls from any thread work.

A process that is itself supervised by a killer (`batch.py`'s workers, killed past their item
deadline) calls `run_here()` and asks math-verify in-process instead, under `bounded.deadline`.

Only math-verify's LaTeX parser is used (latex2sympy, a grammar, no `eval`): its
`ExprExtractionConfig` runs sympy's `parse_expr`, which evaluates Python, so model text never
reaches it. Inputs pass `bounded.check_expression` first (responses: a length cap).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading

from w2s_lf.grading.bounded import GradingTimeout, Rejected, check_expression, deadline, fork_is_safe

DEFER_SECONDS = 2.0         # what one item may spend in math-verify
START_SECONDS = 120.0       # a worker's start (imports, grammar) is not the item's time
MAX_WORKERS = 4             # workers per process: threads beyond this wait their turn
MAX_RESPONSE_CHARS = 4000   # of a response's tail, where its answer is
_CONFIGS = None
_HERE = False               # run_here() was called: no workers, this process is supervised


# One question of each kind: the first parse builds the LaTeX grammar, the first relation, equation,
# set or absolute value imports more of sympy (up to a second each on a loaded machine).
_WARM_UP = (("x+1", "1+x"), ("x<5", "x>5"), ("2x+4y-3=0", "y=-\\frac{1}{2}x+\\frac{3}{4}"), ("|x|", "\\sqrt{x^2}"),
            ("(1,2)", "\\{1,2\\}"), ("\\begin{pmatrix}1\\\\x\\end{pmatrix}", "\\begin{pmatrix}1\\\\x\\end{pmatrix}"))


def _math_verify():
    """math-verify, imported here and warmed up (see `_WARM_UP`)."""
    global _CONFIGS
    import math_verify
    from math_verify import grader, parser
    if _CONFIGS is None:
        parser.TIMEOUT_WARNING_SHOWN = grader.TIMEOUT_WARNING_SHOWN = True   # we bound time ourselves
        answer = (math_verify.LatexExtractionConfig(boxed_match_priority=0),)
        response = (math_verify.LatexExtractionConfig(),)
        for pred, gold in _WARM_UP:
            math_verify.verify(math_verify.parse(f"${gold}$", answer, parsing_timeout=None),
                               math_verify.parse(f"${pred}$", answer, parsing_timeout=None), timeout_seconds=None)
        _CONFIGS = answer, response
    return math_verify


def load() -> None:
    """Import math-verify and build its parser in this process (before forking workers that
    will `run_here`)."""
    _math_verify()


def warm_up(workers: int = 1) -> None:
    """Make the next questions fast: start `workers` math-verify workers now (or load it here,
    after `run_here`), so that no item's time pays for a start (a second or more)."""
    if _HERE:
        load()
        return
    _POOL.warm(workers)


# ---- the questions, answered in whichever process runs them ------------------------------------

def _verify(pred: str, gold: str) -> tuple[bool, str | None]:
    mv = _math_verify()
    answer, _ = _CONFIGS
    gold_parsed = mv.parse("$" + gold + "$", answer, parsing_timeout=None)
    pred_parsed = mv.parse("$" + pred + "$", answer, parsing_timeout=None)
    if not gold_parsed or not pred_parsed:
        return False, "could not parse"
    return bool(mv.verify(gold_parsed, pred_parsed, timeout_seconds=None)), None


def _read(response: str) -> str | None:
    """The answer math-verify reads in a response, as LaTeX (sympy's), or None."""
    mv = _math_verify()
    _, reading = _CONFIGS
    found = mv.parse(response, reading, parsing_timeout=None, fallback_mode="no_fallback")
    if not found:
        return None
    from sympy import latex
    return found[0] if isinstance(found[0], str) else latex(found[0])


_QUESTIONS = {"verify": _verify, "read": _read}


def _serve(conn) -> None:
    """A worker: answer questions until the pipe closes."""
    _math_verify()
    conn.send("ready")
    while True:
        try:
            question, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply = ("ok", _QUESTIONS[question](*args))
        except Exception as e:   # noqa: BLE001 - a library failure is this item's verdict
            reply = ("error", f"error: {type(e).__name__}")
        conn.send(reply)


# ---- workers -------------------------------------------------------------------------------------

class _Worker:
    def __init__(self):
        ctx = mp.get_context("fork" if fork_is_safe() else "forkserver")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="w2s-math-verify")
        self.proc.start()
        child.close()
        self.clean = False   # True: no question pending, so the next reply answers the next question
        if not self.conn.poll(START_SECONDS) or self.conn.recv() != "ready":
            self.kill()
            raise RuntimeError("math-verify worker did not start")
        self.clean = True

    def ask(self, question: str, args: tuple, seconds: float) -> tuple[str, object]:
        """("ok", answer), ("error", reason), or ("timeout", None) when the worker overran
        `seconds` (it is then killed)."""
        self.clean = False
        try:
            self.conn.send((question, args))
            if not self.conn.poll(seconds):
                self.kill()
                return "timeout", None
            reply = self.conn.recv()
        except (EOFError, OSError):
            self.kill()
            return "error", "error: math-verify worker died"
        self.clean = True
        return reply

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()


class _Pool:
    """Idle workers, and how many exist; a thread takes one, or starts one, or waits."""

    def __init__(self):
        self.idle: list[_Worker] = []
        self.count = 0
        self.changed = threading.Condition()

    def ask(self, question: str, args: tuple, seconds: float) -> tuple[str, object]:
        worker = self._take()
        try:
            if worker is None:
                worker = _Worker()
            return worker.ask(question, args, seconds)
        finally:
            self._give_back(worker)

    def warm(self, n: int) -> None:
        """Start workers until `n` are idle (at most MAX_WORKERS in all)."""
        with self.changed:
            missing = max(0, min(n - len(self.idle), MAX_WORKERS - self.count))
            self.count += missing
        for _ in range(missing):
            try:
                worker = _Worker()
            except RuntimeError:
                worker = None
            self._give_back(worker)

    def _take(self) -> _Worker | None:
        """An idle worker, or None with a place reserved for a new one."""
        with self.changed:
            while True:
                while self.idle and not self.idle[-1].proc.is_alive():   # died while idle
                    self.idle.pop().kill()
                    self.count -= 1
                if self.idle:
                    return self.idle.pop()
                if self.count < MAX_WORKERS:
                    self.count += 1
                    return None
                self.changed.wait()

    def _give_back(self, worker: _Worker | None) -> None:
        if worker is not None and not worker.clean:   # interrupted mid-question, or killed
            worker.kill()
            worker = None
        with self.changed:
            if worker is None:
                self.count -= 1
            else:
                self.idle.append(worker)
            self.changed.notify()


_POOL = _Pool()


def _forget_workers() -> None:
    """In a forked child: the parent's workers are the parent's."""
    global _POOL
    _POOL = _Pool()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def run_here() -> None:
    """Ask math-verify in this process from now on (for processes a supervisor kills on overrun)."""
    global _HERE
    _HERE = True
    load()


def _ask(question: str, args: tuple, seconds: float) -> tuple[str, object]:
    """("ok", answer) or ("error", reason) or ("timeout", None)."""
    if _HERE:
        try:
            with deadline(seconds):
                return "ok", _QUESTIONS[question](*args)
        except GradingTimeout:
            return "timeout", None
        except Exception as e:   # noqa: BLE001 - a library failure is this item's verdict
            return "error", f"error: {type(e).__name__}"
    try:
        return _POOL.ask(question, args, seconds)
    except RuntimeError as e:
        return "error", f"error: {e}"


def verify(pred: str, gold: str, seconds: float = DEFER_SECONDS) -> tuple[bool, str | None]:
    """(equal, reason) for two canonical answers; reason is None when math-verify decided."""
    try:
        check_expression(pred)
        check_expression(gold)
    except Rejected as e:
        return False, f"not checked by math-verify: {e}"
    status, answer = _ask("verify", (pred, gold), seconds)
    if status == "ok":
        return answer
    return False, answer or "timeout"


def read(response: str, seconds: float = DEFER_SECONDS) -> str | None:
    """The answer math-verify reads in the last `MAX_RESPONSE_CHARS` of a response, as LaTeX;
    None when it reads none, or cannot say in time."""
    status, answer = _ask("read", (response[-MAX_RESPONSE_CHARS:],), seconds)
    return answer if status == "ok" else None
