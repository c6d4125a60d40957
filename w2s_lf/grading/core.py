"""One item: extract, normalise, compare, in the chosen mode; failures become wrong answers.

Two modes, one interface. "seed" is the paper's grader as its released results show it (for
reproducing the paper's numbers and its data selection; `seed.py`); "robust" is the default and
is right about numbers, LaTeX and chat-model phrasings: `extract.py`, `normalise.py` and
`compare.py` are its three steps, pure functions. Robust grading defers to math-verify
(`defer.py`, bounded in time) where its own steps are unsure: a comparison `compare` leaves
undecided, and a MATH response where extraction found nothing because it seemed to loop.
Elsewhere our extraction stands: math-verify's reading is only safe with its LaTeX parser
(its plain-text parser runs `eval`), and that reading of unboxed worked solutions agrees with
the truth less often than ours (tests/grading/heldout.py). A grading failure (an exception or a
timeout) on one item marks that item wrong with a `reason`; it never propagates to the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from w2s_lf.errors import W2SError
from w2s_lf.grading import compare, defer, extract, normalise, seed
from w2s_lf.tasks import Task, get_task

MODES = ("robust", "seed")


@dataclass(frozen=True)
class Grade:
    pred: str                   # normalised prediction ("" when none was found)
    gold: str                   # normalised gold answer
    correct: bool
    reason: str | None = None   # why the item is wrong without a real comparison, if it is

    def as_dict(self) -> dict:
        return {"pred": self.pred, "gold": self.gold, "result": self.correct}


def resolve_task(task: str | Task) -> Task:
    return task if isinstance(task, Task) else get_task(task)


def check_mode(mode: str) -> None:
    """Raise W2SError for a mode that is not one of MODES."""
    if mode not in MODES:
        raise W2SError(f"unknown grading mode '{mode}'; choose one of: {', '.join(MODES)}")


def _text(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def extract_answer(response: str, task: str | Task, mode: str = "robust") -> str:
    """The final answer of a model response, normalised for the mode ("" when there is none)."""
    check_mode(mode)
    t = resolve_task(task)
    if mode == "seed":
        return seed.extract(_text(response), t.answer_key)
    text = _text(response)
    found = extract.extract(text, t.numeric)
    answer = found.answer
    if not found.sure:   # what math-verify reads where our loop heuristic found none
        answer = defer.read(text) or answer
    return normalise.canonical(answer, t.numeric) if answer else ""


def normalize_answer(answer: str, task: str | Task, mode: str = "robust") -> str:
    """A gold (or already extracted) answer normalised as `extract_answer` normalises predictions."""
    check_mode(mode)
    if mode == "seed":
        return seed.normalize_final_answer(_text(answer))
    return normalise.canonical(_text(answer), resolve_task(task).numeric)


def _compare(pred: str, gold: str, task: Task, mode: str) -> tuple[bool, str | None]:
    if mode == "seed":
        return pred == gold, (None if pred else "no answer found")
    verdict, reason = compare.compare(pred, gold, task.numeric)
    if verdict is None:
        return defer.verify(pred, gold)
    return verdict, reason


def is_equivalent(pred: str, gold: str, task: str | Task, mode: str = "robust") -> bool:
    """Whether two extracted final answers are the same answer (seed: normalised string equality)."""
    check_mode(mode)
    t = resolve_task(task)
    try:
        return _compare(normalize_answer(pred, t, mode), normalize_answer(gold, t, mode), t, mode)[0]
    except Exception:   # noqa: BLE001 - same contract as grade(): a failure is "not equivalent"
        return False


def grade(response: str, gold: str, task: str | Task, mode: str = "robust") -> Grade:
    """Grade one response against a gold final answer (GSM8K: the text after `#### `)."""
    check_mode(mode)
    t = resolve_task(task)
    pred = gold_n = ""
    try:
        gold_n = normalize_answer(gold, t, mode)
        pred = extract_answer(response, t, mode)
        correct, reason = _compare(pred, gold_n, t, mode)
        return Grade(pred, gold_n, bool(correct), reason)
    except Exception as e:   # noqa: BLE001 - one bad item must not stop a batch
        return Grade(pred, gold_n, False, f"error: {type(e).__name__}: {e}"[:200])
