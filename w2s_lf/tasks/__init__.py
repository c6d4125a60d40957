"""Tasks: GSM8K, MATH and custom question/answer data as one interface, and `prepare`, which
splits a dataset into train_1 / train_2 / test and writes LLaMA-Factory gold files.

    from w2s_lf.tasks import get_task
    task = get_task("gsm8k")          # parse records, gold targets, answer keys, token budget

`registry` holds the `Task` interface and the three tasks; `embedded_gsm8k` and `embedded_math`
generate offline GSM8K- and MATH-style problems from a seed; `prepare` writes the splits.
"""

from w2s_lf.tasks.registry import (
    CALCULATOR_NOTE,
    Example,
    Task,
    get_task,
    zero_shot_prompt,
)

__all__ = ["CALCULATOR_NOTE", "Example", "Task", "get_task", "zero_shot_prompt"]
