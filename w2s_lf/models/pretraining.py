"""`smollm2-strong`: SmolLM2-135M-Instruct after continued pretraining on worked word problems.

Why: the weak-to-strong recipe assumes a strong model with latent skill the weak model lacks,
which the paper's 70B models had from web pretraining. Its first test is stage I: the strong
model's few-shot answers, prompted with weak outputs as demonstrations, must be better than
the weak labels. SmolLM2-135M-Instruct's are not (5% right on the demo's train_2 against 16%
for the weak labels), so the CPU demo's weak-to-strong stages had nothing to build on.

What simulates the pretraining: a generated corpus of "web pages" of grade-school word problems
worked in the generic GSM8K layout (`Question: ...`, `Answer:` then one `a op b = c.` step per
line, a last `#### N` line), as such text appears on the web, and a fifth of arithmetic practice
pages (times tables, sums, differences). It is built so that the demo task (`w2s_lf.tasks.embedded_gsm8k`)
never appears in it: other names, other items, other wordings, other number ranges (factors
3-12, amounts 10-60; the demo draws every number from 2-9, so the ranges overlap but differ).
Caveat, stated plainly: five of its 13 templates chain the same operations as the demo's five
(a*b+c, a*b-c, (a+b)/c, a+(a+b)), each worded three other ways; the rest chain others (a*b*c,
(a-b)*c, a*(b+c), a+b-c, three steps, one step). So the strong model has seen this *kind* of
problem, never a demo question, a train_2 gold answer or a test question
(tests/models/test_pretraining.py checks every split of the demo's seeds, down to 4-word runs).
Without the layout (narrative arithmetic only), the same kind of training made arithmetic
better but broke few-shot format following (ENVIRONMENT.md): the layout is part of the skill.
One wording per template gave 27% few-shot accuracy on the calibration train_2, three gave 39%
(24 steps each; 36 steps: 46%, what is built).

The corpus is a pure function of its seed; the builder trains on it with a plain torch loop
(LoRA merged into the weights, float32, packed blocks) and saves a normal Hugging Face folder.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable

# Nothing here is in w2s_lf.tasks.embedded_gsm8k's NAMES or ITEMS (checked in tests/models/test_pretraining.py).
NAMES = ["Abe", "Bianca", "Chen", "Dora", "Emil", "Fatima", "Gus", "Hana", "Ivan", "Jade",
         "Kofi", "Lena", "Mateo", "Nadia", "Oscar", "Priya", "Raul", "Sofia", "Tomas", "Uma",
         "Victor", "Wendy", "Yusuf", "Zoe"]
# (item, container): containers hold a number of items each.
ITEMS = [("muffins", "tin"), ("buttons", "jar"), ("candles", "case"), ("bottles", "crate"),
         ("stamps", "album"), ("shells", "bucket"), ("beads", "string"), ("bricks", "pallet"),
         ("tomatoes", "basket"), ("nails", "packet"), ("pens", "cup"), ("flowers", "vase")]

# The build: 36 steps of 8 blocks of 256 tokens (73,728 tokens, ~77% of the 640 pages), LoRA
# rank 16 at 2e-3. Chosen on the demo's calibration split (data.seed=1042) by the few-shot
# accuracy on its train_2, see recipes/cpu_demo.yaml; DRILL_SHARE: arithmetic pages among them.
PAGES, STEPS, BLOCK, BATCH, LEARNING_RATE, LORA_RANK, WARMUP, SEED = 640, 36, 256, 8, 2e-3, 16, 5, 0
DRILL_SHARE = 0.2

Problem = tuple[str, list[tuple[int, str, int, int]], int]   # question, steps (a, op, b, a op b), answer


def _factor(rng: random.Random) -> int:
    return rng.randint(3, 12)


def _amount(rng: random.Random) -> int:
    return rng.randint(10, 60)


def _pick(rng: random.Random) -> tuple[str, str, str]:
    name, (item, container) = rng.choice(NAMES), rng.choice(ITEMS)
    return name, item, container


def _say(rng: random.Random, phrasings: tuple[str, ...], **fields) -> str:
    """One of several wordings of the same problem: web text says one thing many ways."""
    return rng.choice(phrasings).format(**fields)


# -- the demo's operation chains, each worded several ways, none the demo's ---------------------

RESTOCK = (
    "A shop had {have} {item} on a shelf. {name} unpacked {count} {container}s with {each} {item} "
    "in each and put them on the shelf too. How many {item} are on the shelf now?",
    "{name} owns {have} {item}. For a birthday, {name} receives {count} {container}s holding {each} "
    "{item} apiece. How many {item} does {name} own after the birthday?",
    "There were {have} {item} in a classroom. A teacher brought {count} more {container}s, each with "
    "{each} {item}. How many {item} are in the classroom altogether?")


def _restock(rng: random.Random) -> Problem:            # a*b + c
    name, item, container = _pick(rng)
    have, count, each = _amount(rng), _factor(rng), _factor(rng)
    added = count * each
    question = _say(rng, RESTOCK, name=name, item=item, container=container, have=have, count=count, each=each)
    return question, [(count, "*", each, added), (have, "+", added, have + added)], have + added


LOST = (
    "{name} filled {count} {container}s with {each} {item} each. Then {lost} of the {item} were lost. "
    "How many {item} does {name} still have?",
    "A market stand received {count} {container}s of {item}, {each} per {container}. By noon {lost} "
    "{item} had been sold. How many {item} remain at the stand?",
    "{name} made {count} {container}s, putting {each} {item} into every one, and later used {lost} "
    "{item} for a project. How many {item} were not used?")


def _lost(rng: random.Random) -> Problem:               # a*b - c
    name, item, container = _pick(rng)
    count, each = _factor(rng), _factor(rng)
    packed = count * each
    lost = rng.randint(1, packed - 1)
    question = _say(rng, LOST, name=name, item=item, container=container, count=count, each=each, lost=lost)
    return question, [(count, "*", each, packed), (packed, "-", lost, packed - lost)], packed - lost


GROUPS = (
    "{name} found {first} {item} in the morning and {second} in the afternoon, then put them into "
    "{groups} equal piles. How many {item} are in each pile?",
    "A class collected {first} {item} on one day and {second} on the next. The {item} were divided "
    "evenly among {groups} teams. How many {item} did each team get?",
    "{name} has {first} {item} and is given {second} more. {name} splits all of them evenly into "
    "{groups} {container}s. How many {item} go into each {container}?")


def _groups(rng: random.Random) -> Problem:             # (a+b)/c
    name, item, container = _pick(rng)
    groups, each = _factor(rng), _factor(rng)
    total = groups * each
    first = rng.randint(1, total - 1)
    question = _say(rng, GROUPS, name=name, item=item, container=container, first=first,
                    second=total - first, groups=groups)
    return question, [(first, "+", total - first, total), (total, "/", groups, each)], each


STREAK = (
    "{name} sorted {first} {item} last week. This week {name} sorted {extra} {item} more than last "
    "week. How many {item} did {name} sort over the two weeks?",
    "In the first game {name} scored {first} points. In the second game {name} scored {extra} points "
    "more than in the first. How many points did {name} score in both games?",
    "A bakery sold {first} {item} on Friday and {extra} more {item} on Saturday than on Friday. How "
    "many {item} did it sell on the two days together?")


def _streak(rng: random.Random) -> Problem:             # a + (a+b)
    name, item, _ = _pick(rng)
    first, extra = _amount(rng), _factor(rng)
    second = first + extra
    question = _say(rng, STREAK, name=name, item=item, first=first, extra=extra)
    return question, [(first, "+", extra, second), (first, "+", second, first + second)], first + second


STALL = (
    "{name} sold {count} {item} at a market stall for ${price} each and paid ${cost} for the stall. "
    "How many dollars did {name} make after paying for the stall?",
    "{name} worked {count} days and was paid ${price} for each day. Then {name} spent ${cost} on a "
    "gift. How many dollars does {name} have left?",
    "Tickets to a concert cost ${price} each. A club bought {count} tickets and got ${cost} off the "
    "bill. How many dollars did the club pay?")


def _stall(rng: random.Random) -> Problem:              # a*b - c, money
    name, item, _ = _pick(rng)
    count, price = _factor(rng), _factor(rng)
    income = count * price
    cost = rng.randint(1, income - 1)
    question = _say(rng, STALL, name=name, item=item, count=count, price=price, cost=cost)
    return question, [(count, "*", price, income), (income, "-", cost, income - cost)], income - cost


# -- other chains -----------------------------------------------------------------------------

def _warehouse(rng: random.Random) -> Problem:          # a*b*c
    _, item, container = _pick(rng)
    rows, per_row, each = _factor(rng), rng.randint(2, 6), _factor(rng)
    containers = rows * per_row
    question = (f"A storeroom has {rows} shelves. Each shelf holds {per_row} {container}s and each "
                f"{container} holds {each} {item}. How many {item} are in the storeroom?")
    return question, [(rows, "*", per_row, containers), (containers, "*", each, containers * each)], containers * each


def _discount(rng: random.Random) -> Problem:           # (a-b)*c
    name, item, _ = _pick(rng)
    price, off, count = _amount(rng), rng.randint(2, 9), _factor(rng)
    question = (f"One pack of {item} costs ${price}. During a sale each pack is ${off} cheaper. "
                f"{name} buys {count} packs in the sale. How many dollars does {name} pay?")
    sale = price - off
    return question, [(price, "-", off, sale), (sale, "*", count, sale * count)], sale * count


def _crew(rng: random.Random) -> Problem:               # a*(b+c)
    _, item, _ = _pick(rng)
    workers, morning, evening = _factor(rng), _factor(rng), _factor(rng)
    daily = morning + evening
    question = (f"A crew of {workers} workers each wrap {morning} {item} before noon and {evening} "
                f"{item} after noon. How many {item} does the crew wrap in a day?")
    return question, [(morning, "+", evening, daily), (workers, "*", daily, workers * daily)], workers * daily


def _shopping(rng: random.Random) -> Problem:           # a*b + c*d
    name, item, _ = _pick(rng)
    n1, p1, n2, p2 = _factor(rng), _factor(rng), _factor(rng), _factor(rng)
    c1, c2 = n1 * p1, n2 * p2
    question = (f"{name} bought {n1} {item} for ${p1} each and {n2} notebooks for ${p2} each. "
                f"How many dollars did {name} spend?")
    return question, [(n1, "*", p1, c1), (n2, "*", p2, c2), (c1, "+", c2, c1 + c2)], c1 + c2


def _bus(rng: random.Random) -> Problem:                # a + b - c
    start, board = _amount(rng), _factor(rng)
    leave = rng.randint(1, start + board - 1)
    question = (f"A train left the station with {start} passengers. At the next stop {board} people "
                f"got on and {leave} got off. How many passengers are on the train now?")
    mid = start + board
    return question, [(start, "+", board, mid), (mid, "-", leave, mid - leave)], mid - leave


def _bundles(rng: random.Random) -> Problem:            # (a*b)/c
    name, item, container = _pick(rng)
    kids, each = _factor(rng), _factor(rng)
    total = kids * each
    divisors = [d for d in range(2, 13) if total % d == 0]
    per = rng.choice(divisors)
    count = total // per
    question = (f"{name} has {count} {container}s of {per} {item} and hands them out evenly to "
                f"{kids} children. How many {item} does each child receive?")
    return question, [(count, "*", per, total), (total, "/", kids, each)], each


def _budget(rng: random.Random) -> Problem:             # a - b - c
    name = rng.choice(NAMES)
    first, second = _amount(rng), _amount(rng)
    start = first + second + rng.randint(5, 60)
    question = (f"{name} took ${start} to the fair, spent ${first} on rides and ${second} on food. "
                f"How many dollars did {name} bring home?")
    mid = start - first
    return question, [(start, "-", first, mid), (mid, "-", second, mid - second)], mid - second


def _single(rng: random.Random) -> Problem:             # one step: a*b or a/b
    name, item, container = _pick(rng)
    count, each = _factor(rng), _factor(rng)
    if rng.random() < 0.5:
        question = f"{name} has {count} {container}s with {each} {item} in each. How many {item} is that?"
        return question, [(count, "*", each, count * each)], count * each
    total = count * each
    question = f"{name} packs {total} {item} into {container}s of {each}. How many {container}s are filled?"
    return question, [(total, "/", each, count)], count


TEMPLATES: tuple[Callable[[random.Random], Problem], ...] = (
    _restock, _lost, _groups, _streak, _stall,
    _warehouse, _discount, _crew, _shopping, _bus, _bundles, _budget, _single)


def worked_problem(question: str, steps: list[tuple[int, str, int, int]], answer: int) -> str:
    """The generic layout of a worked problem (the demo's gold targets have the same shape)."""
    lines = [f"{a} {op} {b} = {result}." for a, op, b, result in steps]
    return f"Question: {question}\nAnswer: " + "\n".join(lines) + f"\n#### {answer}"


def problems(n: int, seed: int) -> list[tuple[str, str]]:
    """`n` (question, worked text) pairs, a pure function of `(n, seed)`."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        question, steps, answer = rng.choice(TEMPLATES)(rng)
        assert _checks(steps, answer), (question, steps)
        out.append((question, worked_problem(question, steps, answer)))
    return out


def _checks(steps, answer) -> bool:
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
           "/": lambda a, b: a / b}
    return all(ops[op](a, b) == r for a, op, b, r in steps) and steps[-1][3] == answer and answer > 0


def drill(rng: random.Random) -> str:
    """An arithmetic practice page (times tables and sums, as the web has by the million): the
    arithmetic the worked problems need, with operands up to 12 (products) and 99 (sums)."""
    kind = rng.choice(("table", "sums", "differences"))
    if kind == "table":
        n = rng.randint(2, 12)
        lines = [f"{n} * {k} = {n * k}." for k in range(1, 13)]
        return f"Times table of {n}:\n" + "\n".join(lines)
    lines = []
    for _ in range(12):
        a, b = rng.randint(10, 99), rng.randint(1, 40)
        if kind == "differences":
            lines.append(f"{a + b} - {b} = {a}.")
        else:
            a, b = (a, b) if rng.random() < 0.5 else (b, a)
            lines.append(f"{a} + {b} = {a + b}.")
    return f"Practice {kind}:\n" + "\n".join(lines)


def corpus(pages: int, seed: int, drill_share: float = DRILL_SHARE, per_page: tuple[int, int] = (1, 4)) -> list[str]:
    """`pages` documents: a `drill_share` of arithmetic practice pages, the rest pages of 1-4
    worked problems joined by blank lines, as such pages hold several (and as few-shot prompts
    do). A pure function of its arguments: same seed, same bytes."""
    rng = random.Random(seed)
    drills = [rng.random() < drill_share for _ in range(pages)]
    counts = [0 if is_drill else rng.randint(*per_page) for is_drill in drills]
    texts = [text for _, text in problems(sum(counts), seed + 1)]
    docs, at = [], 0
    for count in counts:
        docs.append("\n\n".join(texts[at:at + count]) if count else drill(rng))
        at += count
    return docs


# -- the builder ------------------------------------------------------------------------------

def packed_blocks(docs: list[str], tokenizer, block: int) -> list[list[int]]:
    """Documents tokenised, each followed by EOS, concatenated and cut into `block`-token
    pieces (the last partial one dropped), as language-model pretraining packs text."""
    stream: list[int] = []
    for doc in docs:
        stream += tokenizer(doc, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    return [stream[i:i + block] for i in range(0, len(stream) - block + 1, block)]


def continued_pretraining(base: Path, out: Path, *, pages: int = PAGES, steps: int = STEPS, block: int = BLOCK,
                          batch: int = BATCH, lr: float = LEARNING_RATE, rank: int = LORA_RANK,
                          warmup: int = WARMUP, seed: int = SEED, label: str = "smollm2-strong") -> None:
    """`steps` batches of `batch` shuffled packed blocks of `corpus(pages, seed)` (at most one
    pass), language-model loss on every token; LoRA of rank `rank` on every projection, merged
    into the weights at the end; AdamW, linear warm-up then cosine decay. LoRA rather than a full
    fine-tune because it is what fits the build into minutes on 2 AVX2 cores (no weight gradients
    for the 135M frozen parameters); float32, since bf16 is emulated ~60x slower there, and the
    saved folder is float32 like the other built-in models. A progress bar goes to stderr."""
    import math
    import sys

    import torch
    from peft import LoraConfig, get_peft_model
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    blocks = packed_blocks(corpus(pages, seed), tokenizer, block)
    random.Random(seed).shuffle(blocks)
    steps = min(steps, len(blocks) // batch)
    torch.manual_seed(seed)
    model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (
        1 + math.cos(math.pi * max(0, s + 1 - warmup) / max(1, steps - warmup + 1))))
    model.train()
    with tqdm(total=steps, desc=f"building {label} (simulated pretraining, once per machine)",
              unit="step", file=sys.stderr, dynamic_ncols=True) as bar:
        for step in range(steps):
            ids = torch.tensor(blocks[step * batch:(step + 1) * batch])
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            bar.set_postfix(loss=f"{loss.item():.3f}")
            bar.update()
    model = model.merge_and_unload()
    model.config.dtype = "float32"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
