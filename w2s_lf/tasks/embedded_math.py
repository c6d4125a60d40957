"""An offline MATH-style task: short competition-style problems with LaTeX answers, from a seed.

Each record has the raw MATH layout, `{problem, solution, answer, subject, level, unique_id}`, and
the solution ends with the answer in `\\boxed{}` as MATH solutions do. Answers span the forms MATH
grading must handle: integers, negative numbers, fractions (`\\frac{7}{12}`), radicals
(`5\\sqrt{2}`), multiples of pi (`9\\pi`) and ordered pairs; and, as MATH's Prealgebra has them,
word problems (the embedded GSM8K-style ones, so that the tiny test model, trained on those,
answers some questions of the tiny MATH pipeline). The generator uses its own
`random.Random(seed)`, so the same seed always gives the same data.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

from w2s_lf.tasks import embedded_gsm8k as embedded
from w2s_lf.tasks.embedded_gsm8k import draw_distinct
from w2s_lf.tasks.registry import CALCULATOR_NOTE


def _frac(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def _sum(a: int, b: int) -> str:
    return f"{a}+{b}" if b >= 0 else f"{a}-{-b}"


def _linear(rng: random.Random) -> tuple[str, str, str, str]:
    a, x, b = rng.randint(2, 9), rng.randint(-9, 12), rng.randint(1, 30)
    c = a * x + b
    problem = f"Solve for $x$: ${a}x + {b} = {c}$."
    solution = (f"Subtracting {b} from both sides gives ${a}x = {c - b}$. "
                f"Dividing both sides by {a} gives $x = \\boxed{{{x}}}$.")
    return problem, solution, str(x), "Algebra"


def _fractions(rng: random.Random) -> tuple[str, str, str, str]:
    p, q = rng.sample(range(2, 10), 2)
    total = Fraction(1, p) + Fraction(1, q)
    problem = f"Compute $\\frac{{1}}{{{p}}} + \\frac{{1}}{{{q}}}$. Express your answer as a common fraction."
    solution = (f"Over the common denominator {p * q}, the sum is "
                f"$\\frac{{{q}}}{{{p * q}}} + \\frac{{{p}}}{{{p * q}}} = \\frac{{{p + q}}}{{{p * q}}}$, "
                f"which simplifies to $\\boxed{{{_frac(total)}}}$.")
    return problem, solution, _frac(total), "Prealgebra"


def _gcd(rng: random.Random) -> tuple[str, str, str, str]:
    g = rng.randint(2, 12)
    m, n = rng.sample([k for k in range(2, 12)], 2)
    a, b = g * m, g * n
    d = math.gcd(a, b)
    problem = f"What is the greatest common divisor of ${a}$ and ${b}$?"
    solution = (f"Both ${a}$ and ${b}$ are multiples of ${d}$, and $\\frac{{{a}}}{{{d}}} = {a // d}$ and "
                f"$\\frac{{{b}}}{{{d}}} = {b // d}$ share no common factor, so the answer is $\\boxed{{{d}}}$.")
    return problem, solution, str(d), "Number Theory"


def _circle(rng: random.Random) -> tuple[str, str, str, str]:
    r = rng.randint(2, 12)
    area = f"{r * r}\\pi"
    problem = f"A circle has radius ${r}$. What is its area? Express your answer in terms of $\\pi$."
    solution = f"The area is $\\pi r^2 = \\pi \\cdot {r}^2 = \\boxed{{{area}}}$."
    return problem, solution, area, "Geometry"


def _radical(rng: random.Random) -> tuple[str, str, str, str]:
    outer, inner = rng.randint(2, 7), rng.choice([2, 3, 5, 6, 7])
    n = outer * outer * inner
    answer = f"{outer}\\sqrt{{{inner}}}"
    problem = f"Simplify $\\sqrt{{{n}}}$."
    solution = (f"Since ${n} = {outer * outer} \\cdot {inner}$ and ${outer * outer} = {outer}^2$, "
                f"$\\sqrt{{{n}}} = \\boxed{{{answer}}}$.")
    return problem, solution, answer, "Algebra"


def _probability(rng: random.Random) -> tuple[str, str, str, str]:
    red, blue = rng.randint(1, 9), rng.randint(1, 9)
    p = Fraction(red, red + blue)
    problem = (f"A bag holds ${red}$ red marbles and ${blue}$ blue marbles. One marble is drawn at random. "
               f"What is the probability that it is red? Express your answer as a common fraction.")
    solution = (f"There are ${red + blue}$ marbles, ${red}$ of them red, so the probability is "
                f"$\\frac{{{red}}}{{{red + blue}}} = \\boxed{{{_frac(p)}}}$.")
    return problem, solution, _frac(p), "Counting & Probability"


def _midpoint(rng: random.Random) -> tuple[str, str, str, str]:
    x1, y1 = rng.randint(-8, 8), rng.randint(-8, 8)
    x2, y2 = x1 + 2 * rng.randint(1, 6), y1 + 2 * rng.randint(-5, 5)
    mx, my = (x1 + x2) // 2, (y1 + y2) // 2
    answer = f"({mx},{my})"
    problem = f"What is the midpoint of the segment with endpoints $({x1},{y1})$ and $({x2},{y2})$?"
    solution = (f"The midpoint averages the coordinates: $\\left(\\frac{{{_sum(x1, x2)}}}{{2}}, "
                f"\\frac{{{_sum(y1, y2)}}}{{2}}\\right) = \\boxed{{{answer}}}$.")
    return problem, solution, answer, "Algebra"


def _word_problem(gsm_template):
    """A GSM8K-style word problem (`w2s_lf.tasks.embedded_gsm8k`) written as MATH writes Prealgebra word
    problems: the same steps without calculator notes, the answer boxed at the end."""
    def make(rng: random.Random) -> tuple[str, str, str, str]:
        question, steps, answer = gsm_template(rng)
        solution = " ".join(CALCULATOR_NOTE.sub("", step) for step in steps)
        return question, f"{solution} The answer is $\\boxed{{{answer}}}$.", str(answer), "Prealgebra"
    return make


TEMPLATES = (_linear, _fractions, _gcd, _circle, _radical, _probability, _midpoint,
             *(_word_problem(t) for t in embedded.TEMPLATES))


def generate_problems(n: int, seed: int, prefix: str = "embedded_math") -> list[dict]:
    """`n` raw MATH-format records, a pure function of `(n, seed)`."""
    rng = random.Random(seed)
    records = []
    for k in range(n):
        problem, solution, answer, subject = rng.choice(TEMPLATES)(rng)
        records.append({"problem": problem, "solution": solution, "answer": answer, "subject": subject,
                        "level": rng.randint(1, 3), "unique_id": f"{prefix}/{k}.json"})
    return records


def embedded_math_splits(sizes: tuple[int, int, int], seed: int) -> dict[str, list[dict]]:
    """train_1 / train_2 / test with no problem text repeated across (or within) splits."""
    n1, n2, nt = sizes
    pool = draw_distinct(generate_problems, n1 + n2 + nt, seed, "problem")
    for k, record in enumerate(pool):
        record["unique_id"] = f"embedded_math/{k}.json"
    return {"train_1": pool[:n1], "train_2": pool[n1:n1 + n2], "test": pool[n1 + n2:]}
