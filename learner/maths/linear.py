"""Linear equations in one unknown, solved exactly with the working a teacher writes.

"2x + 3 = 11", "3(x - 2) = 12", "5x + 2 = 2x + 11", "x/4 = 3". Each side is read under the same
whitelist and bounds as `learner.maths.evaluate` and reduced to a·x + b; a product of two terms
in x, or a division by one, is not linear and is refused.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from fractions import Fraction

from learner.maths.errors import MathsRefused, NoExactValue
from learner.maths.evaluate import (
    EXPRESSION_LIMITS,
    Interpreter,
    Limits,
    describe,
    parse,
    to_python_syntax,
)
from learner.maths.numbers import show


@dataclass(frozen=True, slots=True, kw_only=True)
class LinearSolution:
    equation: str                      # as the engine read it: "2x + 3 = 11"
    variable: str
    value: Fraction
    left: tuple[Fraction, Fraction]    # (a, b) for a·x + b
    right: tuple[Fraction, Fraction]
    steps: tuple[str, ...]


_VARIABLE = re.compile(r"(?<![A-Za-z_])([a-zA-Z])(?![A-Za-z_(])")


def variable_of(equation: str) -> str | None:
    """The one unknown an equation uses, or None (no letter, or more than one)."""
    letters = set(_VARIABLE.findall(equation))
    return letters.pop() if len(letters) == 1 else None


def _implicit_products(text: str) -> str:
    """2x → 2*x, 3(x+1) → 3*(x+1), (x+1)(x+2) → (x+1)*(x+2), x(2) → x*(2)."""
    text = re.sub(r"(\d|\))\s*(?=[a-zA-Z(])", r"\1*", text)
    return re.sub(r"(?<![A-Za-z_])([a-zA-Z])\s*(?=\()", r"\1*", text)


def solve_linear(equation: str, *, limits: Limits = EXPRESSION_LIMITS) -> LinearSolution:
    if len(equation) > limits.max_chars:
        raise MathsRefused(f"The input is {len(equation)} characters long; the engine reads at most {limits.max_chars}.")
    shown = re.sub(r"\s+", " ", equation.strip()).replace("*", "×")
    if equation.count("=") != 1:
        raise MathsRefused("An equation needs exactly one equals sign.")
    variable = variable_of(equation)
    if variable is None:
        raise MathsRefused("The engine solves equations with exactly one unknown letter.")
    sides = []
    for side in equation.split("="):
        source = _implicit_products(to_python_syntax(side))
        tree = parse(source, limits, mode="eval")
        sides.append(_Linear(source, limits, variable).side(tree.body))  # type: ignore[attr-defined]
    (a1, b1), (a2, b2) = sides
    a, c = a1 - a2, b2 - b1
    if a == 0:
        raise NoExactValue(f"{shown} has no single solution: the {variable} terms cancel "
                           f"({'every number works' if c == 0 else 'no number works'}).")
    value = c / a
    return LinearSolution(equation=shown, variable=variable, value=value, left=(a1, b1), right=(a2, b2),
                          steps=_steps(shown, variable, (a1, b1), (a2, b2), value))


class _Linear(Interpreter):
    def __init__(self, source: str, limits: Limits, variable: str) -> None:
        super().__init__(source, limits)
        self.variable = variable

    def side(self, node: ast.AST) -> tuple[Fraction, Fraction]:
        self.tick()
        if isinstance(node, ast.Name):
            if node.id != self.variable:
                raise MathsRefused(f"The engine does not run {describe(node)}.")
            return Fraction(1), Fraction(0)
        if not any(isinstance(n, ast.Name) and n.id == self.variable for n in ast.walk(node)):
            return Fraction(0), self.number(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            a, b = self.side(node.operand)
            return (-a, -b) if isinstance(node.op, ast.USub) else (a, b)
        if isinstance(node, ast.BinOp):
            (a1, b1), (a2, b2) = self.side(node.left), self.side(node.right)
            if isinstance(node.op, ast.Add):
                return self.checked(a1 + a2), self.checked(b1 + b2)
            if isinstance(node.op, ast.Sub):
                return self.checked(a1 - a2), self.checked(b1 - b2)
            if isinstance(node.op, ast.Mult):
                if a1 and a2:
                    raise MathsRefused("The equation multiplies the unknown by itself; the engine solves linear "
                                       "equations only.")
                return self.checked(a1 * b2 + a2 * b1), self.checked(b1 * b2)
            if isinstance(node.op, ast.Div):
                if a2:
                    raise MathsRefused("The equation divides by the unknown; the engine solves linear equations only.")
                if b2 == 0:
                    raise NoExactValue("Division by zero has no value.")
                return self.checked(a1 / b2), self.checked(b1 / b2)
        raise MathsRefused("The engine solves equations built from + - × ÷ and brackets only.")


def linear_text(a: Fraction, b: Fraction, variable: str) -> str:
    """a·x + b as written: 2x + 3, x - 4, -x, (1/2)x, 7."""
    if a == 0:
        return show(b)
    coefficient = {1: "", -1: "-"}.get(a, show(a) if a.denominator == 1 else f"({show(a)})")  # type: ignore[call-overload]
    term = f"{coefficient}{variable}"
    if b == 0:
        return term
    return f"{term} {'+' if b > 0 else '-'} {show(abs(b))}"


def _steps(shown: str, x: str, left: tuple[Fraction, Fraction], right: tuple[Fraction, Fraction],
           value: Fraction) -> tuple[str, ...]:
    lines = [shown]
    if left[0] == 0 and right[0] != 0:   # 12 = 3x reads as 3x = 12
        left, right = right, left
        lines.append(f"Swap the sides: {linear_text(*left, x)} = {linear_text(*right, x)}")
    (a1, b1), (a2, b2) = left, right
    simplified = f"{linear_text(a1, b1, x)} = {linear_text(a2, b2, x)}"
    if len(lines) == 1 and simplified.replace(" ", "") != shown.replace(" ", "").replace("×", ""):
        lines.append(f"Simplify each side: {simplified}")
    a = a1 - a2
    if a2:
        verb = "Subtract" if a2 > 0 else "Add"
        lines.append(f"{verb} {linear_text(abs(a2), Fraction(0), x)} {'from' if a2 > 0 else 'to'} both sides: "
                     f"{linear_text(a, b1, x)} = {show(b2)}")
    if b1:
        verb, word = ("Subtract", "from") if b1 > 0 else ("Add", "to")
        lines.append(f"{verb} {show(abs(b1))} {word} both sides: {linear_text(a, Fraction(0), x)} = {show(b2 - b1)}")
    if a != 1:
        lines.append(f"Divide both sides by {show(a)}: {x} = {show(b2 - b1)} ÷ {_bracketed(a)} = {show(value)}")
    left_value, right_value = a1 * value + b1, a2 * value + b2
    lines.append(f"Check: with {x} = {show(value)} the left side is {show(left_value)} and the right side is "
                 f"{show(right_value)}.")
    return tuple(lines)


def _bracketed(value: Fraction) -> str:
    return f"({show(value)})" if value < 0 or value.denominator != 1 else show(value)
