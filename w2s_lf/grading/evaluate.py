"""Safe evaluation of constant LaTeX expressions: a recursive-descent parser over tokens.

Numbers, `+ - * / ^ !`, implicit products (`2\\sqrt{3}`, `3\\pi`, `2(5)`), `\\frac`, `\\sqrt`,
`\\sqrt[n]`, `\\binom`, `\\pi`, `\\infty` and brackets; anything else (a variable, `\\sin`, `e`)
raises `Undecided`. Rational arithmetic stays exact (`Fraction`); roots of non-powers and `\\pi`
become floats. Nothing is ever evaluated as code, and every power, root, factorial and binomial
is capped before it is computed, so one expression costs microseconds to milliseconds.
"""

from __future__ import annotations

import math
from fractions import Fraction

MAX_EXACT_POWER_BITS = 20_000
MAX_ROOT_INDEX = 12
MAX_FACTORIAL = 100
MAX_BINOMIAL = 1000


class Undecided(Exception):
    """Not a constant this parser understands: the symbolic layer must decide."""


def _finite(x: float) -> float:
    if math.isnan(x):
        raise Undecided("not a number")
    return x


def _add(a, b):
    return a + b if isinstance(a, Fraction) and isinstance(b, Fraction) else _finite(float(a) + float(b))


def _mul(a, b):
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a * b
    if a == 0 or b == 0:
        return Fraction(0)
    return _finite(float(a) * float(b))


def divide(a, b):
    if b == 0:
        raise Undecided("division by zero")
    return a / b if isinstance(a, Fraction) and isinstance(b, Fraction) else _finite(float(a) / float(b))


def _int_root(n: int, k: int) -> int | None:
    """The exact k-th root of n >= 0, or None."""
    r = round(n ** (1.0 / k)) if n < 2 ** 1000 else None
    if r is None:
        return None
    for c in (r - 1, r, r + 1):
        if c >= 0 and c ** k == n:
            return c
    return None


def _root(x, k: int):
    if not 1 <= k <= MAX_ROOT_INDEX:
        raise Undecided("root index")
    if x < 0:
        if k % 2 == 0:
            raise Undecided("complex root")
        r = _root(-x, k)
        return -r
    if isinstance(x, Fraction):
        num, den = _int_root(x.numerator, k), _int_root(x.denominator, k)
        if num is not None and den is not None:
            return Fraction(num, den)
    return _finite(float(x) ** (1.0 / k))


def _power(base, exponent):
    if isinstance(exponent, Fraction) and exponent.denominator == 1:
        e = exponent.numerator
        if isinstance(base, Fraction):
            if base == 0 and e < 0:
                raise Undecided("division by zero")
            bits = abs(e) * max(base.numerator.bit_length(), base.denominator.bit_length())
            if bits <= MAX_EXACT_POWER_BITS:
                return base ** e
        try:
            return _finite(float(base) ** e)
        except (OverflowError, ZeroDivisionError):
            raise Undecided("power out of range") from None
    if isinstance(exponent, Fraction) and exponent.denominator <= MAX_ROOT_INDEX:
        return _power(_root(base, exponent.denominator), Fraction(exponent.numerator))
    if float(base) < 0:
        raise Undecided("complex power")
    try:
        return _finite(float(base) ** float(exponent))
    except (OverflowError, ZeroDivisionError):
        raise Undecided("power out of range") from None


def _integer(x) -> int:
    if isinstance(x, Fraction) and x.denominator == 1:
        return x.numerator
    raise Undecided("not an integer")


class Expression:
    """Recursive descent over tokens: sum, product (explicit or implicit), unary, power, atom."""

    def __init__(self, tokens: list[str]):
        self.tokens, self.i = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise Undecided(f"expected {expected or 'more'}")
        self.i += 1
        return token

    def parse(self):
        value = self.sum()
        if self.peek() is not None:
            raise Undecided(f"unexpected {self.peek()}")
        return value

    def sum(self):
        value = self.product()
        while self.peek() in ("+", "-"):
            sign = self.take()
            right = self.product()
            value = _add(value, right if sign == "+" else _mul(Fraction(-1), right))
        return value

    def product(self):
        value = self.unary()
        while True:
            token = self.peek()
            if token in ("*", "\\cdot", "\\times"):
                self.take()
                value = _mul(value, self.unary())
            elif token in ("/", "\\div"):
                self.take()
                value = divide(value, self.unary())
            elif token is not None and (token[0].isdigit() or token[0] == "." or token in (
                    "(", "{", "\\frac", "\\sqrt", "\\pi", "\\binom")):
                value = _mul(value, self.power())   # implicit: 2\sqrt{3}, 3\pi, 2(5)
            else:
                return value

    def unary(self):
        if self.peek() in ("-", "+"):
            sign = self.take()
            value = self.unary()
            return _mul(Fraction(-1), value) if sign == "-" else value
        return self.power()

    def power(self):
        base = self.postfix()
        if self.peek() == "^":
            self.take()
            if self.peek() == "{":
                exponent = self.group("{", "}")
            else:
                token = self.take()
                if not (token.isdigit() and len(token) == 1):   # 2^10 is ambiguous in LaTeX
                    raise Undecided("exponent without braces")
                exponent = Fraction(int(token))
            return _power(base, exponent)
        return base

    def postfix(self):
        value = self.atom()
        while self.peek() == "!":
            self.take()
            n = _integer(value)
            if not 0 <= n <= MAX_FACTORIAL:
                raise Undecided("factorial out of range")
            value = Fraction(math.factorial(n))
        return value

    def group(self, opener: str, closer: str):
        self.take(opener)
        value = self.sum()
        self.take(closer)
        return value

    def atom(self):
        token = self.peek()
        if token is None:
            raise Undecided("missing operand")
        if token[0].isdigit() or token[0] == ".":
            self.take()
            return Fraction(token.rstrip(".") or "0")
        if token in ("(", "{", "["):
            return self.group(token, {"(": ")", "{": "}", "[": "]"}[token])
        self.take()
        if token == "\\frac":
            numerator = self.group("{", "}")
            return divide(numerator, self.group("{", "}"))
        if token == "\\sqrt":
            index = 2
            if self.peek() == "[":
                index = _integer(self.group("[", "]"))
            return _root(self.group("{", "}"), index)
        if token == "\\binom":
            n, k = _integer(self.group("{", "}")), _integer(self.group("{", "}"))
            if not 0 <= n <= MAX_BINOMIAL:
                raise Undecided("binomial out of range")
            return Fraction(math.comb(n, k) if 0 <= k else 0)
        if token == "\\pi":
            return math.pi
        if token == "\\infty":
            return math.inf
        raise Undecided(f"not a constant: {token}")
