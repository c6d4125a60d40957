"""Safe evaluation of LaTeX expressions: a recursive-descent parser over tokens.

Numbers, `+ - * / ^ !`, implicit products (`2\\sqrt{3}`, `3\\pi`, `x(x+1)`), `\\frac`, `\\sqrt`,
`\\sqrt[n]`, `\\binom`, `\\pi`, `\\infty`, `i` (the imaginary unit), the elementary functions
(`\\sin x`, `\\cos^2(2x)`, `\\ln`, `\\log` (base 10), `\\log_3 27`, `\\exp`) and brackets.
Variables (`x`, `a_1`, `\\theta`) take the values of `env`; without one, evaluation raises
`VariableFound`. A lone `e` is Euler's number (as math-verify reads it); a lone `E` is undecided. Rational arithmetic stays exact
(`Fraction`); roots of non-powers, `\\pi` and functions give floats, `i` complex numbers.

Nothing is ever evaluated as code, and every power, root, factorial and binomial is capped
before it is computed, so one expression costs microseconds to a millisecond.
"""

from __future__ import annotations

import cmath
import math
from fractions import Fraction

MAX_EXACT_BITS = 50_000      # larger exact values become floats (big-int gcds get slow)
MAX_ROOT_INDEX = 12
MAX_FACTORIAL = 100
MAX_BINOMIAL = 1000
GREEK = frozenset("\\" + name for name in (
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta",
    "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "phi", "varphi", "chi", "psi", "omega",
    "Gamma", "Delta", "Theta", "Lambda", "Sigma", "Phi", "Psi", "Omega"))
_FUNCTIONS = {
    "\\sin": math.sin, "\\cos": math.cos, "\\tan": math.tan, "\\arcsin": math.asin, "\\arccos": math.acos,
    "\\arctan": math.atan, "\\sec": lambda x: 1 / math.cos(x), "\\csc": lambda x: 1 / math.sin(x),
    "\\cot": lambda x: 1 / math.tan(x), "\\ln": math.log, "\\exp": math.exp,
    "\\sinh": math.sinh, "\\cosh": math.cosh, "\\tanh": math.tanh,
}
_ATOM_COMMANDS = frozenset(("\\frac", "\\sqrt", "\\pi", "\\binom", "\\log")) | set(_FUNCTIONS) | GREEK
_CLOSERS = {"(": ")", "{": "}", "[": "]"}


class Undecided(Exception):
    """Not an expression this parser understands: math-verify must decide."""


class VariableFound(Undecided):
    """A variable, and no values for variables: the caller may retry with some (`env`)."""


def _clean(x):
    """A computed value, checked: no NaN or infinity from overflow; complex only if imaginary;
    exact only while small (a float beyond `MAX_EXACT_BITS`)."""
    if isinstance(x, Fraction):
        if max(x.numerator.bit_length(), x.denominator.bit_length()) <= MAX_EXACT_BITS:
            return x
        try:
            return float(x)
        except OverflowError:
            raise Undecided("too large") from None
    if isinstance(x, complex):
        if not (math.isfinite(x.real) and math.isfinite(x.imag)):
            raise Undecided("not a finite number")
        return x.real if x.imag == 0 else x
    if isinstance(x, float) and math.isnan(x):
        raise Undecided("not a number")
    return x


def _mul(a, b):
    if (a == 0 and not _infinite(b)) or (b == 0 and not _infinite(a)):
        return Fraction(0)
    return _clean(a * b)


def _infinite(x) -> bool:
    return isinstance(x, float) and math.isinf(x)


def divide(a, b):
    if b == 0:
        raise Undecided("division by zero")
    return _clean(a / b)


def _int_root(n: int, k: int) -> int | None:
    """The exact k-th root of n >= 0, or None."""
    if n >= 2 ** 1000:
        return None
    r = round(n ** (1.0 / k))
    for c in (r - 1, r, r + 1):
        if c >= 0 and c ** k == n:
            return c
    return None


def _root(x, k: int):
    if not 1 <= k <= MAX_ROOT_INDEX:
        raise Undecided("root index")
    if isinstance(x, complex):
        raise Undecided("root of a complex number")
    if x < 0:
        if k == 2:   # the principal root: \sqrt{-4} = 2i
            return _clean(1j * _root(-x, 2))
        if k % 2 == 0:
            raise Undecided("even root of a negative number")
        return -_root(-x, k)
    if isinstance(x, Fraction):
        num, den = _int_root(x.numerator, k), _int_root(x.denominator, k)
        if num is not None and den is not None:
            return Fraction(num, den)
    return _clean(float(x) ** (1.0 / k))


def _power(base, exponent):
    if isinstance(exponent, Fraction) and exponent.denominator == 1:
        e = exponent.numerator
        if base == 0 and e < 0:
            raise Undecided("division by zero")
        if isinstance(base, Fraction):
            bits = abs(e) * max(base.numerator.bit_length(), base.denominator.bit_length())
            if bits <= MAX_EXACT_BITS:
                return base ** e
            return _clean(float(base) ** e)
        if abs(e) > 10_000:
            raise Undecided("power out of range")
        return _clean(base ** e)
    if isinstance(exponent, Fraction) and exponent.denominator <= MAX_ROOT_INDEX:
        return _power(_root(base, exponent.denominator), Fraction(exponent.numerator))
    if isinstance(base, complex) or isinstance(exponent, complex) or base < 0:
        raise Undecided("a power with several values")
    return _clean(float(base) ** float(exponent))


def _exp(x):
    try:
        return _clean(cmath.exp(x) if isinstance(x, complex) else math.exp(x))
    except OverflowError:
        raise Undecided("exponential out of range") from None


def _integer(x) -> int:
    if isinstance(x, Fraction) and x.denominator == 1:
        return x.numerator
    raise Undecided("not an integer")


def _real_function(function, x):
    if isinstance(x, complex):
        raise Undecided("a function of a complex number")
    try:
        return _clean(float(function(float(x))))
    except (ValueError, ZeroDivisionError):
        raise Undecided("outside the function's domain") from None


class Expression:
    """Recursive descent over tokens: sum, product (explicit or implicit), unary, power, atom."""

    def __init__(self, tokens: list[str], env=None):
        """`env(name)` gives a variable's value; None: variables are not understood."""
        self.tokens, self.i, self.env = tokens, 0, env

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
            value = _clean(value + right if sign == "+" else value - right)
        return value

    def _starts_atom(self, token: str | None) -> bool:
        return token is not None and (token[0].isdigit() or token[0] == "." or token in ("(", "{")
                                      or token in _ATOM_COMMANDS or (len(token) == 1 and token.isalpha()))

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
            elif self._starts_atom(token):
                value = _mul(value, self.power())   # implicit: 2\sqrt{3}, 3\pi, x(x+1)
            else:
                return value

    def unary(self):
        if self.peek() in ("-", "+"):
            sign = self.take()
            value = self.unary()
            return _mul(Fraction(-1), value) if sign == "-" else value
        return self.power()

    def exponent(self):
        if self.peek() == "{":
            return self.group("{", "}")
        token = self.take()
        if token.isdigit() and len(token) == 1:   # 2^10 is 2^1 0 in LaTeX: ambiguous, not read
            return Fraction(int(token))
        if len(token) == 1 and token.isalpha():
            return self.variable(token)
        raise Undecided("exponent without braces")

    def power(self):
        base = self.postfix()
        if self.peek() == "^":
            self.take()
            if self.tokens[self.i:self.i + 1] == ["\\circ"] or self.tokens[self.i:self.i + 3] == ["{", "\\circ", "}"]:
                self.i += 1 if self.peek() == "\\circ" else 3   # 30^\circ inside \sin 30^\circ
                return _mul(base, math.pi / 180)
            return _power(base, self.exponent())
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

    def variable(self, name: str):
        if self.peek() == "_":   # a_1, x_{n}
            self.take()
            if self.peek() == "{":
                start = self.i
                self.skip_group()
                name += "_" + "".join(self.tokens[start:self.i])
            else:
                name += "_" + self.take()
        if name == "i":
            return 1j
        if name == "e" and not self.inside_word():   # Euler's number (as math-verify reads it)
            if self.peek() == "^":
                self.take()
                return _exp(self.exponent())
            return math.e
        if name == "E" and not self.inside_word():
            raise Undecided("E: a choice, Euler's number or a variable?")
        if self.env is None:
            raise VariableFound(name)
        return self.env(name)

    def inside_word(self) -> bool:
        """Whether the letter just taken stands next to another letter (`sidelength`)."""
        before = self.tokens[self.i - 2] if self.i >= 2 else ""
        after = self.peek() or ""
        return (len(before) == 1 and before.isalpha()) or (len(after) == 1 and after.isalpha())

    def skip_group(self):
        depth = 0
        while True:
            token = self.take()
            depth += token == "{"
            depth -= token == "}"
            if depth == 0:
                return

    def argument(self):
        """A function's argument: a bracketed group, or the product of atoms that follows
        (`\\sin 2x`), stopping at an operator or another function (`2\\sin b \\cos a`)."""
        if self.peek() in ("(", "{"):
            return self.group(self.peek(), _CLOSERS[self.peek()])
        value = self.power()
        while self._starts_atom(self.peek()) and self.peek() not in _FUNCTIONS \
                and self.peek() not in ("\\log", "(", "{"):
            value = _mul(value, self.power())
        return value

    def function(self, name: str):
        power = None
        if self.peek() == "^":    # \sin^2 x
            self.take()
            power = self.exponent()
        base = None
        if name == "\\log":
            base = Fraction(10)
            if self.peek() == "_":
                self.take()
                base = self.group("{", "}") if self.peek() == "{" else self.atom()
        x = self.argument()
        if base is not None:
            value = divide(_real_function(math.log, x), _real_function(math.log, base))
        else:
            value = _real_function(_FUNCTIONS[name], x)
        return value if power is None else _power(value, power)

    def atom(self):
        token = self.peek()
        if token is None:
            raise Undecided("missing operand")
        if token[0].isdigit() or token[0] == ".":
            self.take()
            return Fraction(token.rstrip(".") or "0")
        if token in _CLOSERS:
            return self.group(token, _CLOSERS[token])
        self.take()
        if len(token) == 1 and token.isalpha() or token in GREEK:
            return self.variable(token.lstrip("\\"))
        if token in _FUNCTIONS or token == "\\log":
            return self.function(token)
        if token == "\\frac":
            numerator = self.group("{", "}")
            return divide(numerator, self.group("{", "}"))
        if token == "\\sqrt":
            index = 2
            if self.peek() == "[":
                index = _integer(self.group("[", "]"))
            opener = self.peek()
            if opener not in ("{", "("):
                raise Undecided("\\sqrt without an argument")
            return _root(self.group(opener, _CLOSERS[opener]), index)
        if token == "\\binom":
            n, k = _integer(self.group("{", "}")), _integer(self.group("{", "}"))
            if not 0 <= n <= MAX_BINOMIAL:
                raise Undecided("binomial out of range")
            return Fraction(math.comb(n, k) if 0 <= k else 0)
        if token == "\\pi":
            return math.pi
        if token == "\\infty":
            return math.inf
        raise Undecided(f"not understood: {token}")
