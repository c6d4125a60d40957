"""Prompts: the paper's zero-shot and few-shot (ICL) text, demonstration choice, chat styling.

Chat style (`--prompt-style chat`): a system turn asking for `\\boxed{}`, each demonstration as a
user/assistant pair, the question as the last user turn, rendered by the model's chat template.

The few-shot layout is the paper's (docs/method.md), byte for byte: each demonstration is
``"Question: {q}\\nAnswer: {response}"``, demonstrations are joined by ``"\\n\\n"``, then
``"\\n\\n"`` and the zero-shot prompt of the question follow.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from pathlib import Path

from w2s_lf.errors import InputError, W2SError
from w2s_lf.io import read_jsonl, sha256_file
from w2s_lf.tasks import zero_shot_prompt

PREFIX, SUFFIX = "Question: ", "\nAnswer:"
STRATEGIES = ("paper", "first")
PROMPT_STYLES = ("raw", "chat")
# The paper's helper shuffles with seed 42 and takes 4 demonstrations.
PAPER_SEED, PAPER_SHOTS = 42, 4


@dataclass(frozen=True)
class Demo:
    id: int | None
    question: str
    response: str

    def text(self) -> str:
        return f"{PREFIX}{self.question}\nAnswer: {self.response}"


def question_of_prompt(prompt: str, where: str = "<demo>", line: int | None = None) -> str:
    """The question inside a zero-shot prompt `Question: {q}\\nAnswer:` (weak results carry only
    the prompt, as the paper's results.jsonl does)."""
    if not (prompt.startswith(PREFIX) and prompt.endswith(SUFFIX)):
        raise InputError("is not a zero-shot prompt 'Question: ...\\nAnswer:' "
                         "(give records with a 'question' field instead)", where, line, "prompt")
    return prompt[len(PREFIX):-len(SUFFIX)]


def few_shot_prompt(demos: list[Demo], question: str) -> str:
    return "\n\n".join(d.text() for d in demos) + "\n\n" + zero_shot_prompt(question)


def load_demo_pool(path: str | Path) -> list[Demo]:
    """Weak results (`{id, prompt|question, response, ...}` per line) as candidate demonstrations,
    in file order. Demonstrations use the weak model's own responses, never gold (docs/method.md)."""
    demos = []
    for number, record in enumerate(read_jsonl(path, required=("response",)), start=1):
        if "question" in record:
            question = record["question"]
        elif isinstance(record.get("chat"), dict) and "user" in record["chat"]:   # chat-style results
            question = record["chat"]["user"]
        elif "prompt" in record:
            question = question_of_prompt(record["prompt"], str(path), number)
        else:
            raise InputError("missing (need 'question' or 'prompt')", path, number, "prompt")
        if not isinstance(record["response"], str):
            raise InputError("expected a string", path, number, "response")
        demos.append(Demo(record.get("id"), question, record["response"]))
    return demos


def answer_marker(task, prompt_style: str) -> str:
    """What a usable demonstration's response must contain: the task's answer key (`####`,
    `The answer is:`) for raw prompts, `\\boxed{` for chat models."""
    return task.answer_key if prompt_style == "raw" else "\\boxed{"


def choose_demos(pool: list[Demo], strategy: str = "paper", shots: int = PAPER_SHOTS,
                 seed: int = PAPER_SEED, ids: list[int] | None = None,
                 answer_key: str | None = None) -> list[Demo]:
    """Pick the demonstrations.

    * `paper`: the paper's helper (`get_few_shot_prompts`): Python `random.Random(seed).shuffle`
      of the pool (file order), then the first `shots` records whose response contains
      `answer_key` (every record when it is None). The helper filters a full-weak file this way
      and a results file by correctness instead; the paper's released prompt (1 of its 4
      demonstrations correct) came from the full-weak branch, and a correctness filter would let
      train_2 gold choose what the strong model sees, so only the answer-key branch is offered.
      Like the helper, it uses fewer than `shots` when fewer responses qualify (with a warning);
      when none does (a weak model that never writes the key, e.g. a tiny test model), the
      shuffle's first `shots`, with a warning, where the helper would prompt with none.
      It does NOT reproduce the released Llama-2-7B GSM8K choice (train_2 ids 2619, 456, 102,
      3037): no seed-42 shuffle, sample or permutation of 7000 items that we tried (Python
      `random`, numpy legacy and Generator, torch) yields them, so the helper must have drawn
      from the RNG before shuffling. Pass `ids` to use the paper's exact demonstrations.
    * `first`: the first `shots` records.
    * `ids`: the records with these ids, in the given order (overrides the strategy).
    """
    if ids:
        by_id = {d.id: d for d in pool}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise W2SError(f"demonstration ids not in the demo file: {missing}")
        return [by_id[i] for i in ids]
    if strategy not in STRATEGIES:
        raise W2SError(f"unknown demo strategy '{strategy}'; choose one of: {', '.join(STRATEGIES)}")
    if len(pool) < shots:
        raise W2SError(f"the demo file has {len(pool)} records; {shots} demonstrations needed")
    if strategy == "first":
        return pool[:shots]
    order = list(pool)
    random.Random(seed).shuffle(order)
    chosen = [d for d in order if answer_key is None or answer_key in d.response][:shots]
    if not chosen:   # the helper would prompt with no demonstration at all; keep the shuffle's first
        print(f"warning: none of the demo file's {len(pool)} responses contains the answer key {answer_key!r}: "
              f"using the first {shots} after the shuffle (--demo-ids to choose)", file=sys.stderr)
        return order[:shots]
    if len(chosen) < shots:   # the helper then uses what it found; say so
        print(f"warning: only {len(chosen)} of the demo file's {len(pool)} responses contain the answer key "
              f"{answer_key!r}: {len(chosen)} demonstrations instead of {shots}", file=sys.stderr)
    return chosen


def demos_provenance(path: str | Path, demos: list[Demo], strategy: str, seed: int,
                     ids: list[int] | None) -> dict:
    """What `<out>.demos.json` records: where the demonstrations came from and what they were."""
    return {"file": str(path), "sha256": sha256_file(path),
            "strategy": "ids" if ids else strategy, "seed": seed,
            "ids": [d.id for d in demos],
            "demos": [{"id": d.id, "question": d.question, "response": d.response} for d in demos]}


# Chat models answer in \boxed{} (the convention of Qwen2.5-Math and most instruct models); the
# same system turn goes into generation prompts and into every chat-style training example.
CHAT_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


def chat_messages(question: str, demos: list[Demo] = ()) -> list[dict]:
    """A chat conversation: the system turn, each demonstration as a user/assistant pair, then the
    question as the last user turn (the paper's few-shot layout, as chat turns)."""
    messages = [{"role": "system", "content": CHAT_SYSTEM}]
    for d in demos:
        messages += [{"role": "user", "content": d.question}, {"role": "assistant", "content": d.response}]
    return messages + [{"role": "user", "content": question}]


def chat_fields(question: str) -> dict:
    """What a chat-style result record carries besides its rendered prompt: the system and user
    turns a chat-template training example needs (`w2s_lf.builders` reads them)."""
    return {"system": CHAT_SYSTEM, "user": question}


def stop_strings(task, prompt_style: str) -> tuple[str, ...]:
    """The paper's stop strings for raw prompts. Chat models end their turn with EOS (their
    end-of-turn token), and "Answer" may well appear inside a chat answer ("**Answer:** 3")."""
    return task.stop if prompt_style == "raw" else ()


def chat_renderer(tokenizer_dir: str):
    """A function messages -> the model's chat template applied to them, ready to generate.

    Rendering with the tokenizer itself (not LLaMA-Factory's copy of the template) gives an
    untrained model exactly the format it was tuned on; the LLaMA-Factory template used to train
    on the same turns must render them identically (tests/test_chat.py checks SmolLM2's). A
    template that rejects a system turn (Gemma) gets the system text before the first user turn."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    if not getattr(tokenizer, "chat_template", None):
        raise W2SError(f"--prompt-style chat: the tokenizer in {tokenizer_dir} has no chat template")

    def render(messages: list[dict]) -> str:
        try:
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception:   # noqa: BLE001 - jinja's raise_exception: e.g. "System role not supported"
            if messages[0]["role"] != "system":
                raise
            system, first, *rest = messages
            folded = {"role": "user", "content": f"{system['content']}\n\n{first['content']}"}
            return tokenizer.apply_chat_template([folded, *rest], tokenize=False, add_generation_prompt=True)
    return render


def clean_response(text: str) -> str:
    """docs/method.md: outer whitespace stripped, then outer `.` characters stripped."""
    return text.strip().strip(".")
