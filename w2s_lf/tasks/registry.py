"""Tasks: GSM8K, MATH and custom question/answer data behind one interface, in one registry.

A task knows how to read one raw record into an `Example`, the gold SFT target for it, the
processed evaluation record (docs/method.md layout), and its generation and grading settings.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Callable

from w2s_lf.errors import InputError, W2SError
from w2s_lf.latex import last_boxed

CALCULATOR_NOTE = re.compile(r"<<.*?>>")


@dataclass(frozen=True)
class Example:
    """One question with its gold solution, in a task-independent shape."""

    question: str
    solution: str
    answer: str
    id: str | None = None
    tag: dict = field(default_factory=dict)


def zero_shot_prompt(question: str) -> str:
    return f"Question: {question}\nAnswer:"


@dataclass(frozen=True)
class Task:
    name: str
    answer_key: str                 # the marker that precedes the final answer in a response
    max_new_tokens: int
    numeric: bool                   # final answers are plain numbers (enables numeric fallbacks)
    source_name: str                # `source` field of processed records
    parse: Callable[["Task", dict, str, int], Example]
    gold_target: Callable[[Example], str]
    default_sizes: tuple[int, int]  # train_1, train_2 when splitting a hub dataset
    hf_name: str | None = None
    hf_config: str | None = None
    stop: tuple[str, ...] = ("Question", "Answer")
    # Field names for custom tasks (question, answer, optional solution).
    fields: tuple[str, str, str | None] = ("question", "answer", None)

    def chat_target(self, example: Example) -> str:
        """The gold SFT target for chat models: the worked solution without the task's own answer
        marker, ending with the answer in `\\boxed{}`, the convention chat models answer in. A
        solution whose last `\\boxed{}` already holds the answer (MATH's) is kept as it is."""
        body = self.gold_target(example)
        if self.answer_key in body:
            body = body.rsplit(self.answer_key, 1)[0]
        body = body.rstrip()
        if last_boxed(body) == example.answer:
            return body
        return f"{body}\nThe answer is \\boxed{{{example.answer}}}" if body else f"The answer is \\boxed{{{example.answer}}}"

    def read(self, record: dict, path: str = "<record>", line: int = 0) -> Example:
        return self.parse(self, record, path, line)

    def processed(self, example: Example, split: str) -> dict:
        """The evaluation record of docs/method.md: {source, question, solution, answer, tag}."""
        source = self.source_name if split == "test" else f"{self.source_name}_{split.upper()}"
        return {"source": source, "question": example.question, "solution": example.solution,
                "answer": example.answer, "tag": example.tag}


def _text(record: dict, key: str, path: str, line: int, allow_empty: bool = False) -> str:
    if key not in record:
        raise InputError("missing", path, line, key)
    value = record[key]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", path, line, key)
    if not allow_empty and not value.strip():
        raise InputError("is empty", path, line, key)
    return value


def gsm8k_final_answer(solution: str, path: str = "<record>", line: int = 0, key: str = "answer") -> str:
    """The text after the one `#### ` marker of a GSM8K solution, verbatim (commas kept, as the
    paper's processed train_2 keeps `2,125`). The marker usually opens the last line, but 118 of
    the paper's 14,000 train answers put it at the end of a sentence, so we count markers."""
    count = solution.count("#### ")
    if count != 1:
        raise InputError(f"expected exactly one '#### ' line, found {count}", path, line, key)
    return solution.split("#### ", 1)[1]


def _parse_gsm8k(task: Task, record: dict, path: str, line: int) -> Example:
    question = _text(record, "question", path, line)
    if "solution" in record:
        # Already processed (the paper's raw test.jsonl is stored this way): keep its answer,
        # which drops the commas of the `#### 2,125` line.
        solution = _text(record, "solution", path, line)
        gsm8k_final_answer(solution, path, line, "solution")
        answer = _text(record, "answer", path, line)
    else:
        solution = _text(record, "answer", path, line)
        answer = gsm8k_final_answer(solution, path, line, "answer")
    return Example(question, solution, answer, record.get("id"), {})


def _gsm8k_target(example: Example) -> str:
    return CALCULATOR_NOTE.sub("", example.solution)


def _parse_math(task: Task, record: dict, path: str, line: int) -> Example:
    question = _text(record, "problem" if "problem" in record else "question", path, line)
    solution = _text(record, "solution", path, line)
    if "answer" in record:
        answer = _text(record, "answer", path, line)
    else:   # hub copies of MATH keep the answer only inside the last \boxed{}
        answer = last_boxed(solution)
        if answer is None:
            raise InputError("no 'answer' field and no \\boxed{} answer in the solution", path, line, "solution")
    tag = record.get("tag") or {k: record[k] for k in ("subject", "level", "unique_id") if k in record}
    return Example(question, solution, answer, record.get("id", record.get("unique_id")), tag)


def _math_target(example: Example) -> str:
    return example.solution + " The answer is: " + example.answer


def _parse_custom(task: Task, record: dict, path: str, line: int) -> Example:
    q_key, a_key, s_key = task.fields
    question = _text(record, q_key, path, line)
    answer = _text(record, a_key, path, line)
    solution = _text(record, s_key, path, line, allow_empty=True) if s_key else ""
    return Example(question, solution, answer, record.get("id"), {})


def _custom_target(example: Example) -> str:
    answer = "The answer is: " + example.answer
    return f"{example.solution} {answer}" if example.solution else answer


TASKS: dict[str, Task] = {
    "gsm8k": Task("gsm8k", "####", 1024, True, "GSM8K", _parse_gsm8k, _gsm8k_target,
                  (7000, 7000), hf_name="openai/gsm8k", hf_config="main"),
    "math": Task("math", "The answer is:", 2048, False, "MATH", _parse_math, _math_target,
                 (6000, 6000), hf_name="DigitalLearningGmbH/MATH-lighteval", hf_config=None),
    "custom": Task("custom", "The answer is:", 1024, False, "CUSTOM", _parse_custom, _custom_target,
                   (1000, 1000)),
}


def get_task(name: str, question_field: str = "question", answer_field: str = "answer",
             solution_field: str | None = None, numeric: bool | None = None) -> Task:
    """Look a task up by name; `custom` takes the names of its fields."""
    if name not in TASKS:
        near = difflib.get_close_matches(name, TASKS, n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        raise W2SError(f"unknown task '{name}'{hint}; choose one of: {', '.join(TASKS)}")
    task = TASKS[name]
    if name == "custom":
        from dataclasses import replace
        task = replace(task, fields=(question_field, answer_field, solution_field),
                       numeric=bool(numeric))
    return task
