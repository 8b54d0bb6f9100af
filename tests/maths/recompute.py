"""An independent recomputation of generated practice keys, from the question text alone.

It shares no code with learner.maths: each question shape is read with its own regular expression
and computed with plain Python (`fractions`, `decimal` with ROUND_HALF_UP, a recursive-descent
parser of its own), so a generator whose question and key disagree is caught. Used by tests/maths
and bench/correctness.py.
"""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from math import gcd

_N = r"-?\d+(?:\.\d+)?"


def _f(text: str) -> Fraction:
    return Fraction(Decimal(text))


def _fraction_op(q: str) -> Fraction | None:
    m = re.fullmatch(r"What is (\d+)/(\d+) ([-+×÷]) (\d+)/(\d+)\? Give your answer as a fraction in its simplest form\.",
                     q)
    if not m:
        return None
    a, b = Fraction(int(m[1]), int(m[2])), Fraction(int(m[4]), int(m[5]))
    return {"+": a + b, "-": a - b, "×": a * b, "÷": a / b}[m[3]]


def _simplest(q: str) -> Fraction | None:
    m = re.fullmatch(r"Write (\d+)/(\d+) in its simplest form\.", q)
    if not m:
        return None
    n, d = int(m[1]), int(m[2])
    g = gcd(n, d)
    return Fraction(n // g, d // g)


def _missing(q: str) -> Fraction | None:
    m = re.fullmatch(r"Fill in the missing number: (\d+)/(\d+) = (\?|\d+)/(\?|\d+)", q)
    if not m:
        return None
    n, d = int(m[1]), int(m[2])
    if m[3] == "?":
        return Fraction(n * int(m[4]), d)
    return Fraction(d * int(m[3]), n)


def _decimal_op(q: str) -> Fraction | None:
    m = re.fullmatch(rf"What is ({_N}) ([-+×÷]) ({_N})\?", q)
    if not m:
        return None
    a, b = Decimal(m[1]), Decimal(m[3])
    if m[2] == "÷":
        return Fraction(a) / Fraction(b)
    return Fraction({"+": a + b, "-": a - b, "×": a * b}[m[2]])


_PLACE = {"the nearest whole number": Decimal(1), "the nearest ten": Decimal("1E1"),
          "the nearest hundred": Decimal("1E2"), "1 decimal place": Decimal("0.1"),
          "2 decimal places": Decimal("0.01"), "3 decimal places": Decimal("0.001")}


def _rounding(q: str) -> Fraction | None:
    m = re.fullmatch(rf"Round ({_N}) to (.+)\.", q)
    if not m:
        return None
    step, value = _PLACE[m[2]], Decimal(m[1])
    if step >= 10:
        return Fraction((value / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step)
    return Fraction(value.quantize(step, rounding=ROUND_HALF_UP))


def _percent(q: str) -> Fraction | None:
    if m := re.fullmatch(rf"What is ({_N})% of ({_N})\?", q):
        return _f(m[1]) * _f(m[2]) / 100
    if m := re.fullmatch(rf"(Increase|Decrease) ({_N}) by ({_N})%\.", q):
        sign = 1 if m[1] == "Increase" else -1
        return _f(m[2]) * (100 + sign * _f(m[3])) / 100
    if m := re.fullmatch(rf"A price rises from \$({_N}) to \$({_N})\. What is the percentage increase\?", q):
        return (_f(m[2]) - _f(m[1])) / _f(m[1])
    if m := re.fullmatch(rf"What percentage of ({_N}) is ({_N})\?", q):
        return _f(m[2]) / _f(m[1])
    return None


def _ratio(q: str) -> tuple[Fraction, ...] | Fraction | None:
    if m := re.fullmatch(r"Simplify the ratio (\d+):(\d+)\.", q):
        a, b = int(m[1]), int(m[2])
        g = gcd(a, b)
        return Fraction(a // g), Fraction(b // g)
    if m := re.fullmatch(r"Share (\d+) in the ratio ([\d:]+)\. How much is the (\w+) share\?", q):
        total, parts = int(m[1]), [int(p) for p in m[2].split(":")]
        part = max(parts) if m[3] in ("larger", "largest") else min(parts)
        return Fraction(total * part, sum(parts))
    return None


def _order(q: str) -> Fraction | None:
    m = re.fullmatch(r"Work out (.+)\.", q)
    if not m:
        return None
    tokens = re.findall(r"\d+|[-+×÷()²³]", m[1])
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def atom() -> Fraction:
        token = take()
        if token == "(":
            value = total()
            take()
        else:
            value = Fraction(int(token))
        while peek() in ("²", "³"):
            value = value ** (2 if take() == "²" else 3)
        return value

    def product() -> Fraction:
        value = atom()
        while peek() in ("×", "÷"):
            value = value * atom() if take() == "×" else value / atom()
        return value

    def total() -> Fraction:
        value = product()
        while peek() in ("+", "-"):
            value = value + product() if take() == "+" else value - product()
        return value

    return total()


def _equation(q: str) -> Fraction | None:
    m = re.fullmatch(r"Solve (.+)\.", q)
    if not m:
        return None
    eq = m[1].replace(" ", "")
    if e := re.fullmatch(r"x\+(\d+)=(-?\d+)", eq):
        return Fraction(int(e[2]) - int(e[1]))
    if e := re.fullmatch(r"x-(\d+)=(-?\d+)", eq):
        return Fraction(int(e[2]) + int(e[1]))
    if e := re.fullmatch(r"(\d+)x=(-?\d+)", eq):
        return Fraction(int(e[2]), int(e[1]))
    if e := re.fullmatch(r"x/(\d+)=(-?\d+)", eq):
        return Fraction(int(e[2]) * int(e[1]))
    if e := re.fullmatch(r"(\d+)x([-+])(\d+)=(-?\d+)", eq):
        b = int(e[3]) if e[2] == "+" else -int(e[3])
        return Fraction(int(e[4]) - b, int(e[1]))
    if e := re.fullmatch(r"(\d+)\(x\+(\d+)\)=(-?\d+)", eq):
        return Fraction(int(e[3]), int(e[1])) - int(e[2])
    if e := re.fullmatch(r"(\d+)x\+(\d+)=(\d+)x([-+])(\d+)", eq):
        d = int(e[5]) if e[4] == "+" else -int(e[5])
        return Fraction(d - int(e[2]), int(e[1]) - int(e[3]))
    return None


def _word(q: str) -> Fraction | None:
    if m := re.search(r"bakes (\d+) trays of (\d+) muffins and sells (\d+) of them", q):
        return Fraction(int(m[1]) * int(m[2]) - int(m[3]))
    if m := re.search(r"(\d+) stickers are shared equally among (\d+) friends\. Then each friend gets (\d+) more", q):
        return Fraction(int(m[1]), int(m[2])) + int(m[3])
    if m := re.search(rf"buys (\d+) notebooks at \$({_N}) each and pays with a \$(\d+) note", q):
        return int(m[3]) - int(m[1]) * _f(m[2])
    if m := re.search(rf"costs \$({_N})\. It is on sale for (\d+)% off", q):
        return _f(m[1]) * (100 - int(m[2])) / 100
    if m := re.search(r"travels at (\d+) km per hour for (\d+) hours, then (\d+) km more", q):
        return Fraction(int(m[1]) * int(m[2]) + int(m[3]))
    if m := re.search(r"A class has (\d+) students\. (\d+)/(\d+) of them walk", q):
        return int(m[1]) - Fraction(int(m[1]) * int(m[2]), int(m[3]))
    return None


_READERS = (_fraction_op, _simplest, _missing, _decimal_op, _rounding, _percent, _ratio, _order, _equation, _word)


def recompute(question: str) -> tuple[Fraction, ...] | None:
    """The true value(s) of a generated question, or None when no reader knows its shape."""
    for reader in _READERS:
        value = reader(question)
        if value is not None:
            return value if isinstance(value, tuple) else (value,)
    return None
