"""An offline GSM8K-style task: word problems with exact integer answers, generated from a seed.

Each problem is two arithmetic steps written the GSM8K way, with calculator notes `<<a*b=c>>`
and a final `#### N` line, so every downstream step treats it exactly like GSM8K.
The generator uses its own `random.Random(seed)`, so the same seed always gives the same data.
"""

from __future__ import annotations

import random

NAMES = ["Ava", "Ben", "Carla", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal",
         "Kira", "Liam", "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara"]
ITEMS = [("apples", "box"), ("pencils", "pack"), ("cookies", "tray"), ("stickers", "sheet"),
         ("marbles", "bag"), ("eggs", "carton"), ("books", "stack"), ("cards", "deck")]

# Two steps on one-digit numbers, worded tersely: the CPU demo pays for every prompt and target
# token several times over (training, sampling, five evaluations), so short problems are what
# let it run on 200 test questions in minutes. SmolLM2-135M learns them to about 50-58% from a few
# dozen LoRA steps; without its six middle layers it reaches about 20-25% (recipes/cpu_demo.yaml).


def _digit(rng: random.Random) -> int:
    return rng.randint(2, 9)


def _step(a: int, op: str, b: int, result: int) -> str:
    """One solution line with GSM8K's calculator note: `3 * 4 = <<3*4=12>>12.`"""
    return f"{a} {op} {b} = <<{a}{op}{b}={result}>>{result}."


def _buy(rng: random.Random) -> tuple[str, list[str], int]:
    name, (item, unit) = rng.choice(NAMES), rng.choice(ITEMS)
    have, units, per = _digit(rng), _digit(rng), _digit(rng)
    bought = units * per
    total = have + bought
    question = f"{name} has {have} {item} and buys {units} {unit}s of {per}. How many {item} now?"
    return question, [_step(units, "*", per, bought),
                      _step(have, "+", bought, total)], total


def _give(rng: random.Random) -> tuple[str, list[str], int]:
    name, (item, unit) = rng.choice(NAMES), rng.choice(ITEMS)
    units, per, given = _digit(rng), _digit(rng), _digit(rng)
    start = units * per
    left = start - given
    question = f"{name} has {units} {unit}s of {per} {item} and gives away {given}. How many are left?"
    return question, [_step(units, "*", per, start),
                      _step(start, "-", given, left)], left


def _share(rng: random.Random) -> tuple[str, list[str], int]:
    name, (item, _) = rng.choice(NAMES), rng.choice(ITEMS)
    friends, each = _digit(rng), _digit(rng)
    total = friends * each
    have = rng.randint(1, total - 1)
    more = total - have
    question = (f"{name} has {have} {item}, gets {more} more and shares them equally among "
                f"{friends} friends. How many does each get?")
    return question, [_step(have, "+", more, total),
                      _step(total, "/", friends, each)], each


def _more(rng: random.Random) -> tuple[str, list[str], int]:
    name, (item, _) = rng.choice(NAMES), rng.choice(ITEMS)
    first, extra = _digit(rng), _digit(rng)
    second = first + extra
    total = first + second
    question = (f"{name} made {first} {item} on Monday and {extra} more than that on Tuesday. "
                f"How many in total?")
    return question, [_step(first, "+", extra, second),
                      _step(first, "+", second, total)], total


def _earn(rng: random.Random) -> tuple[str, list[str], int]:
    name = rng.choice(NAMES)
    rate, hours, spent = _digit(rng), _digit(rng), _digit(rng)
    earned = rate * hours
    left = earned - spent
    question = f"{name} earns ${rate} an hour for {hours} hours and spends ${spent}. How much is left?"
    return question, [_step(rate, "*", hours, earned),
                      _step(earned, "-", spent, left)], left


TEMPLATES = (_buy, _give, _share, _more, _earn)


def generate_problems(n: int, seed: int, prefix: str = "embedded") -> list[dict]:
    """`n` raw GSM8K-format records `{id, question, answer}`, a pure function of `(n, seed)`."""
    rng = random.Random(seed)
    records = []
    for k in range(n):
        question, steps, answer = rng.choice(TEMPLATES)(rng)
        records.append({"id": f"{prefix}_{k}", "question": question,
                        "answer": "\n".join(steps) + f"\n#### {answer}"})
    return records


def draw_distinct(generate, n: int, seed: int, key: str) -> list[dict]:
    """`n` records from `generate(n, seed)` whose `key` text never repeats, drawing again from
    the next seeds while duplicates leave the pool short."""
    pool, seen = [], set()
    while len(pool) < n:
        before = len(pool)
        for record in generate(n, seed):
            if record[key] not in seen:
                seen.add(record[key])
                pool.append(record)
        if len(pool) == before:
            raise ValueError(f"the generator cannot make {n} distinct problems")
        seed += 1
    return pool[:n]


def embedded_splits(sizes: tuple[int, int, int], seed: int) -> dict[str, list[dict]]:
    """train_1 / train_2 / test drawn from one stream, so no question text repeats across splits."""
    n1, n2, nt = sizes
    pool = draw_distinct(generate_problems, n1 + n2 + nt, seed, "question")
    for k, record in enumerate(pool):
        record["id"] = f"embedded_{k}"
    return {"train_1": pool[:n1], "train_2": pool[n1:n1 + n2], "test": pool[n1 + n2:]}
