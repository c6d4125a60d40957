"""An offline GSM8K-style task: word problems with exact integer answers, generated from a seed.

Each problem is a short chain of arithmetic steps written the GSM8K way, with calculator notes
`<<a*b=c>>` and a final `#### N` line, so every downstream step treats it exactly like GSM8K.
The generator uses its own `random.Random(seed)`, so the same seed always gives the same data.
"""

from __future__ import annotations

import random

NAMES = ["Ava", "Ben", "Carla", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal",
         "Kira", "Liam", "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara"]
ITEMS = [("apples", "box"), ("pencils", "pack"), ("cookies", "tray"), ("stickers", "sheet"),
         ("marbles", "bag"), ("eggs", "carton"), ("books", "shelf"), ("cards", "deck")]


def _shop(rng: random.Random) -> tuple[str, list[str], int]:
    name = rng.choice(NAMES)
    item, unit = rng.choice(ITEMS)
    count, price, paid_extra = rng.randint(2, 9), rng.randint(2, 15), rng.randint(1, 20)
    cost = count * price
    total = cost + paid_extra
    question = (f"{name} buys {count} {unit}s of {item}. Each {unit} costs ${price}. "
                f"{name} also pays ${paid_extra} for delivery. How much does {name} pay in total?")
    steps = [f"The {unit}s cost {count} * {price} = $<<{count}*{price}={cost}>>{cost}.",
             f"With delivery, {name} pays {cost} + {paid_extra} = $<<{cost}+{paid_extra}={total}>>{total}."]
    return question, steps, total


def _share(rng: random.Random) -> tuple[str, list[str], int]:
    name, friend = rng.sample(NAMES, 2)
    item, unit = rng.choice(ITEMS)
    per_unit, units, friends = rng.randint(3, 12), rng.randint(2, 8), rng.randint(2, 6)
    total = per_unit * units
    give = rng.randint(1, total // friends)
    given = give * friends
    left = total - given
    question = (f"{name} has {units} {unit}s with {per_unit} {item} in each. {name} gives {give} {item} "
                f"to each of {friends} friends, including {friend}. How many {item} does {name} have left?")
    steps = [f"{name} starts with {units} * {per_unit} = <<{units}*{per_unit}={total}>>{total} {item}.",
             f"{name} gives away {give} * {friends} = <<{give}*{friends}={given}>>{given} {item}.",
             f"{name} has {total} - {given} = <<{total}-{given}={left}>>{left} {item} left."]
    return question, steps, left


def _rate(rng: random.Random) -> tuple[str, list[str], int]:
    name = rng.choice(NAMES)
    rate, hours, days = rng.randint(8, 30), rng.randint(2, 8), rng.randint(2, 6)
    daily = rate * hours
    total = daily * days
    question = (f"{name} earns ${rate} an hour and works {hours} hours a day. "
                f"How much does {name} earn in {days} days?")
    steps = [f"Each day {name} earns {rate} * {hours} = $<<{rate}*{hours}={daily}>>{daily}.",
             f"In {days} days {name} earns {daily} * {days} = $<<{daily}*{days}={total}>>{total}."]
    return question, steps, total


def _half(rng: random.Random) -> tuple[str, list[str], int]:
    name = rng.choice(NAMES)
    item, _ = rng.choice(ITEMS)
    first = 2 * rng.randint(5, 40)
    second = first // 2
    total = first + second
    question = (f"{name} collected {first} {item} on Monday and half as many on Tuesday. "
                f"How many {item} did {name} collect in the two days?")
    steps = [f"On Tuesday {name} collected {first} / 2 = <<{first}/2={second}>>{second} {item}.",
             f"Altogether {name} collected {first} + {second} = <<{first}+{second}={total}>>{total} {item}."]
    return question, steps, total


TEMPLATES = (_shop, _share, _rate, _half)


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
