"""Exact arithmetic on text that a student or a model wrote, without `eval`.

The text is parsed with `ast` and interpreted here, node by node, under a whitelist: numbers,
+ - * / // % ** (also written × ÷ − ^), unary minus, parentheses, percentages ("50%"), mixed numbers
("1 1/2") and a few functions (abs, round, min, max, sqrt, floor, ceil, pow). No name, attribute,
import, string, comprehension or lambda is ever looked up or run: anything the interpreter does
not know is refused with `MathsRefused`, whose message says what was refused.

Numbers are `fractions.Fraction`, so 0.1 + 0.2 is 3/10 and 1/3 stays 1/3. Every run is bounded
(`Limits`): length of the text, nodes and nesting of the tree, digits of any number, size of an
exponent, evaluation steps and wall time; a bound that trips refuses the whole input.

`learner.maths.program` reuses the interpreter for model-written `def solution():` programs.
"""
from __future__ import annotations

import ast
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from learner.maths.errors import MathsRefused, NoExactValue
from learner.maths.numbers import (
    decimal_literal,
    round_half_up,
    show,
    show_decimal,
    terminates,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    max_chars: int = 2000          # a question is a line or two; this is room for a long one
    max_nodes: int = 400
    max_depth: int = 100           # the interpreter recurses once per level; far below Python's limit
    max_digits: int = 1000         # of any numerator or denominator, including intermediate results
    max_exponent: int = 10_000
    max_steps: int = 10_000        # node evaluations
    max_loop: int = 10_000         # rounds of one loop (programs)
    max_seconds: float = 0.5

    def __post_init__(self) -> None:
        for name in ("max_chars", "max_nodes", "max_depth", "max_digits", "max_exponent", "max_steps", "max_loop"):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be at least 1.")
        if self.max_seconds <= 0:
            raise ValueError("Limits.max_seconds must be positive.")


EXPRESSION_LIMITS = Limits()
# A word-problem program: a dozen assignments, perhaps a loop of a few hundred rounds.
PROGRAM_LIMITS = Limits(max_chars=6000, max_nodes=3000, max_steps=200_000, max_seconds=2.0)

# Values a program can hold: a number, a truth value (only in conditions) or a list of numbers.
Value = Fraction | bool | tuple


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    expression: str                # the input as the engine read it, in school notation
    value: Fraction
    steps: tuple[str, ...]         # "3 + 4 × 2", "= 3 + 8", "= 11"


# -- from school notation to Python syntax ---------------------------------------------------------

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_VULGAR = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5), "⅖": (2, 5),
           "⅗": (3, 5), "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8),
           "⅞": (7, 8), "⅐": (1, 7), "⅑": (1, 9), "⅒": (1, 10)}
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,]|\.\d)")
# "50%", unless a number or bracket follows ("7 % 3" is the remainder)
_PERCENT = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?|\.\d+)\s*%(?!\s*[\d(.])")
_MIXED = re.compile(r"(?<![\w./])(\d+)\s+(\d+)/(\d+)(?![\w.]|\s*\*\*|\s*\^|/)")
# "2/3" written tight is one number; wrapping it keeps 1/2 ÷ 1/4 from reading as ((1/2)/1)/4
_TIGHT_FRACTION = re.compile(r"(?<![\w./)])(\d+)/(\d+)(?![\w.(/]|\s*\*\*|\s*\^)")
TIMES_X = re.compile(r"(?<=[\d)])\s*[xX]\s*(?=[\d(])")


def to_python_syntax(text: str) -> str:
    """School notation to the syntax the interpreter parses: × ÷ − ^ ² ½ 1,000 50% 1 1/2 2/3 3 x 4."""
    text = text.strip()
    for char, (n, d) in _VULGAR.items():
        text = re.sub(rf"(\d)\s*{char}", rf"mixed(\1,{n},{d})", text)
        text = text.replace(char, f"frac({n},{d})")
    text = re.sub(r"[⁰¹²³⁴⁵⁶⁷⁸⁹]+", lambda m: "**" + m.group(0).translate(_SUPERSCRIPTS), text)
    for chars, op in (("×✕✖⋅·∙", "*"), ("÷∕⁄", "/"), ("−–—", "-")):
        text = re.sub(f"[{chars}]", op, text)
    text = text.replace("^", "**")
    if not re.search(r"[A-Za-z]", text):   # in max(1,000) a comma separates arguments
        text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)
    text = TIMES_X.sub("*", text)
    text = _PERCENT.sub(r"percent(\1)", text)
    text = _MIXED.sub(r"mixed(\1,\2,\3)", text)
    return _TIGHT_FRACTION.sub(r"frac(\1,\2)", text)


# -- parsing under bounds --------------------------------------------------------------------------

_OPENERS, _CLOSERS = "([{", ")]}"


def parse(source: str, limits: Limits, *, mode: str) -> ast.AST:
    """`ast.parse` behind cheap checks, so hostile input never reaches the parser's own limits
    (a crash or a MemoryError there would be the caller's problem)."""
    if len(source) > limits.max_chars:
        raise MathsRefused(f"The input is {len(source)} characters long; the engine reads at most "
                           f"{limits.max_chars}.")
    depth = deepest = 0
    for char in source:
        if char in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        elif char in _CLOSERS:
            depth -= 1
    if deepest > limits.max_depth:
        raise MathsRefused(f"The brackets are nested {deepest} deep; the engine allows {limits.max_depth}.")
    try:
        tree = ast.parse(source, mode=mode)
    except (SyntaxError, ValueError) as exc:
        raise MathsRefused(f"The engine cannot read this as maths ({_parse_problem(exc)}).") from None
    except (RecursionError, MemoryError):
        raise MathsRefused("The input is nested too deeply to read.") from None
    _check_shape(tree, limits)
    return tree


def _parse_problem(exc: Exception) -> str:
    message = getattr(exc, "msg", None) or str(exc)
    return message.split("\n")[0][:120]


def _check_shape(tree: ast.AST, limits: Limits) -> None:
    """Count nodes and measure depth without recursion (the tree may be deeper than the stack)."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > limits.max_nodes:
            raise MathsRefused(f"The input has more than {limits.max_nodes} parts; the engine reads shorter ones.")
        if depth > limits.max_depth:
            raise MathsRefused(f"The input is nested more than {limits.max_depth} deep.")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


# -- the interpreter -------------------------------------------------------------------------------

_DESCRIBED = {
    ast.Attribute: "attribute access (x.y)", ast.Lambda: "a lambda", ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension", ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator expression",
    ast.Dict: "a dictionary", ast.Set: "a set", ast.JoinedStr: "an f-string", ast.Await: "await",
    ast.Yield: "yield", ast.YieldFrom: "yield", ast.Starred: "starred arguments", ast.NamedExpr: "the := operator",
    ast.Slice: "a slice", ast.Tuple: "a list of values", ast.List: "a list of values", ast.Subscript: "indexing (x[i])",
    ast.Compare: "a comparison", ast.BoolOp: "and/or", ast.IfExp: "a conditional expression",
}
_BIN_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
                ast.Pow: "**"}
_LOG2_10 = 3.3219280948873626


def describe(node: ast.AST) -> str:
    """A refused node in words a teacher understands."""
    if isinstance(node, ast.Constant):
        return "text in quotes" if isinstance(node.value, (str, bytes)) else f"the value {node.value!r}"
    if isinstance(node, ast.Name):
        return f"the name '{node.id}'"
    return _DESCRIBED.get(type(node), f"'{type(node).__name__}'")


class Interpreter:
    """Walks a checked tree and computes exact values. `program=True` also allows what a
    word-problem program needs in expressions: variables, comparisons, and/or/not, `a if c else b`,
    lists of numbers, indexing, `len`, `sum`, `int`, `float` and `math.floor`-style calls."""

    def __init__(self, source: str, limits: Limits, *, program: bool = False) -> None:
        self.source = source
        self.limits = limits
        self.program = program
        self.steps = 0
        self.deadline = time.monotonic() + limits.max_seconds
        self.max_bits = int(limits.max_digits * _LOG2_10) + 1
        self.variables: dict[str, Value] = {}

    # bounds

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise MathsRefused(f"The computation takes more than {self.limits.max_steps} steps; the engine stops there.")
        if time.monotonic() > self.deadline:
            raise MathsRefused(f"The computation took longer than {self.limits.max_seconds:g} s; the engine stops there.")

    def checked(self, value: Fraction) -> Fraction:
        if max(value.numerator.bit_length(), value.denominator.bit_length()) > self.max_bits:
            raise MathsRefused(f"A number in this computation has more than {self.limits.max_digits} digits; "
                               "the engine works with smaller numbers.")
        return value

    # expressions

    def evaluate(self, node: ast.AST) -> Value:
        self.tick()
        if isinstance(node, ast.Expression):
            return self.evaluate(node.body)
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.BinOp):
            return self.binary(type(node.op), self.number(node.left), self.number(node.right))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -self.number(node.operand)
            if isinstance(node.op, ast.UAdd):
                return self.number(node.operand)
            if isinstance(node.op, ast.Not) and self.program:
                return not self.truth(node.operand)
            raise MathsRefused("The engine does not know the operator in this input.")
        if isinstance(node, ast.Call):
            return self._call(node)
        if self.program:
            return self._program_expression(node)
        raise MathsRefused(f"The engine does not run {describe(node)}; it computes numbers only.")

    def number(self, node: ast.AST) -> Fraction:
        value = self.evaluate(node)
        if isinstance(value, bool) or not isinstance(value, Fraction):
            raise MathsRefused("A list or a true/false value is used where a number is needed.")
        return value

    def truth(self, node: ast.AST) -> bool:
        value = self.evaluate(node)
        if isinstance(value, tuple):
            raise MathsRefused("A list is used as a condition.")
        return bool(value)

    def _constant(self, node: ast.Constant) -> Value:
        value = node.value
        if isinstance(value, bool) and self.program:
            return value  # type: ignore[return-value]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MathsRefused(f"The engine does not run {describe(node)}; it computes numbers only.")
        if isinstance(value, int):
            return self.checked(Fraction(value))
        written = ast.get_source_segment(self.source, node) or repr(value)
        try:   # the digits as written: 0.1 is exactly 1/10
            return self.checked(decimal_literal(written, max_digits=self.limits.max_digits))
        except ValueError:
            raise MathsRefused(f"The engine cannot read the number {written[:20]!r}.") from None

    def binary(self, op: type, a: Fraction, b: Fraction) -> Fraction:
        if op is ast.Add:
            return self.checked(a + b)
        if op is ast.Sub:
            return self.checked(a - b)
        if op is ast.Mult:
            return self.checked(a * b)
        if op in (ast.Div, ast.FloorDiv, ast.Mod):
            if b == 0:
                raise NoExactValue("Division by zero has no value.")
            return self.checked(a / b if op is ast.Div else Fraction(a // b) if op is ast.FloorDiv else a % b)
        if op is ast.Pow:
            return self.power(a, b)
        raise MathsRefused("The engine does not know the operator in this input.")

    def power(self, base: Fraction, exponent: Fraction) -> Fraction:
        if exponent.denominator != 1:
            raise NoExactValue("The engine raises numbers to whole-number powers only.")
        n = exponent.numerator
        if abs(n) > self.limits.max_exponent:
            raise MathsRefused(f"The exponent {show(exponent)[:20]} is larger than the {self.limits.max_exponent} "
                               "the engine allows.")
        if base == 0 and n < 0:
            raise NoExactValue("Zero to a negative power has no value (it divides by zero).")
        bits = max(base.numerator.bit_length(), base.denominator.bit_length())
        if (bits - 1) * abs(n) > self.max_bits:   # decided before the number is built
            raise MathsRefused(f"The result would have more than {self.limits.max_digits} digits; the engine works "
                               "with smaller numbers.")
        return self.checked(base ** n)

    # functions

    def _call(self, node: ast.Call) -> Value:
        name = self._function_name(node.func)
        if node.keywords:
            raise MathsRefused(f"The engine calls {name}() with plain arguments only.")
        function = self._functions().get(name)
        if function is None:
            raise MathsRefused(f"The engine does not run the function '{name}'.")
        low, high, run = function
        if not low <= len(node.args) <= high:
            raise MathsRefused(f"{name}() takes {low}{'' if low == high else f' to {high}'} argument(s) here.")
        return run([self.evaluate(arg) for arg in node.args])

    def _function_name(self, func: ast.AST) -> str:
        if isinstance(func, ast.Name):
            return func.id
        # `math.floor(x)` as a coder model writes it: the pair names one of the engine's own
        # functions; no attribute of any object is ever looked up.
        if (self.program and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                and func.value.id == "math" and func.attr in _MATH_MODULE):
            return func.attr
        raise MathsRefused(f"The engine does not run {describe(func)}.")

    def _functions(self) -> dict[str, tuple[int, int, Callable[[list[Value]], Value]]]:
        table = {
            "abs": (1, 1, lambda a: abs(self._n(a[0]))),
            "round": (1, 2, lambda a: self._round(a)),
            "min": (1, 50, lambda a: min(self._numbers(a))),
            "max": (1, 50, lambda a: max(self._numbers(a))),
            "sqrt": (1, 1, lambda a: exact_sqrt(self._n(a[0]))),
            "floor": (1, 1, lambda a: Fraction(math.floor(self._n(a[0])))),
            "ceil": (1, 1, lambda a: Fraction(math.ceil(self._n(a[0])))),
            "pow": (2, 2, lambda a: self.power(self._n(a[0]), self._n(a[1]))),
            # the forms to_python_syntax writes for 2/3, 1 1/2 and 50%
            "frac": (2, 2, lambda a: self.binary(ast.Div, self._n(a[0]), self._n(a[1]))),
            "mixed": (3, 3, lambda a: self._mixed(a)),
            "percent": (1, 1, lambda a: self._n(a[0]) / 100),
        }
        if self.program:
            table |= {
                "int": (1, 1, lambda a: Fraction(math.trunc(self._n(a[0])))),
                "float": (1, 1, lambda a: self._n(a[0])),    # stays exact; shown as a decimal
                "sum": (1, 1, lambda a: self.checked(sum(self._list(a[0]), Fraction(0)))),
                "len": (1, 1, lambda a: Fraction(len(self._list(a[0])))),
                "fabs": (1, 1, lambda a: abs(self._n(a[0]))),
            }
        return table

    def _n(self, value: Value) -> Fraction:
        if isinstance(value, bool) or not isinstance(value, Fraction):
            raise MathsRefused("A list or a true/false value is used where a number is needed.")
        return value

    def _list(self, value: Value) -> tuple:
        if not isinstance(value, tuple):
            raise MathsRefused("A number is used where a list is needed.")
        return value

    def _numbers(self, args: list[Value]) -> list[Fraction]:
        values = list(self._list(args[0])) if len(args) == 1 and isinstance(args[0], tuple) else args
        if not values:
            raise MathsRefused("min() or max() of an empty list has no value.")
        return [self._n(v) for v in values]

    def _round(self, args: list[Value]) -> Fraction:
        places = self._n(args[1]) if len(args) == 2 else Fraction(0)
        if places.denominator != 1 or abs(places) > 100:
            raise MathsRefused("round() takes a whole number of places, at most 100.")
        return round_half_up(self._n(args[0]), int(places))

    def _mixed(self, args: list[Value]) -> Fraction:
        whole, numerator, denominator = (self._n(a) for a in args)
        part = self.binary(ast.Div, numerator, denominator)
        return self.checked(whole + part if whole >= 0 else whole - part)

    def _program_expression(self, node: ast.AST) -> Value:
        """Hook for learner.maths.program; plain expressions never get here."""
        raise MathsRefused(f"The engine does not run {describe(node)}.")


_MATH_MODULE = frozenset({"floor", "ceil", "sqrt", "fabs", "pow"})


def exact_sqrt(value: Fraction) -> Fraction:
    if value < 0:
        raise NoExactValue("A negative number has no square root among the real numbers.")
    top, bottom = math.isqrt(value.numerator), math.isqrt(value.denominator)
    if top * top != value.numerator or bottom * bottom != value.denominator:
        raise NoExactValue(f"√{show(value)} is not a fraction; the engine works with exact values only.")
    return Fraction(top, bottom)


# -- the public entry points -----------------------------------------------------------------------

def evaluate(text: str, *, limits: Limits = EXPRESSION_LIMITS) -> Fraction:
    """The exact value of an arithmetic expression in school notation ("2/3 + 1/6" → 5/6)."""
    if len(text) > limits.max_chars:   # before any regex runs over it
        raise MathsRefused(f"The input is {len(text)} characters long; the engine reads at most {limits.max_chars}.")
    source = to_python_syntax(text)
    tree = parse(source, limits, mode="eval")
    value = Interpreter(source, limits).evaluate(tree)
    assert isinstance(value, Fraction)   # expression mode produces numbers only
    return value


def evaluate_with_steps(text: str, *, limits: Limits = EXPRESSION_LIMITS, max_lines: int = 12) -> Evaluation:
    """The value with the working a teacher writes: one operation at a time, in the order of
    operations ("3 + 4 × 2", "= 3 + 8", "= 11"). Longer working than `max_lines` keeps only the
    first and last lines."""
    value = evaluate(text, limits=limits)
    source = to_python_syntax(text)
    interpreter = Interpreter(source, limits)
    tree = _display_tree(parse(source, limits, mode="eval").body, interpreter)  # type: ignore[attr-defined]
    decimals = bool(re.search(r"\d\.\d|(?<!\w)\.\d", text))
    lines = [_render(tree, decimals)]
    while not isinstance(tree, _Atom):
        tree = _reduce_once(tree, interpreter)
        line = "= " + _render(tree, decimals)
        if line != lines[-1]:
            lines.append(line)
    final = show_value(value, decimals=decimals)
    if lines[-1] not in (final, f"= {final}"):   # a single number as written, such as 6/8
        lines.append(f"= {final}")
    if len(lines) > max_lines:
        lines = [lines[0], lines[-1]]
    return Evaluation(expression=lines[0], value=value, steps=tuple(lines))


def show_value(value: Fraction, *, decimals: bool = False) -> str:
    """How a result reads: a decimal when the question used decimals and the value terminates,
    otherwise a whole number or a fraction in lowest terms."""
    return show_decimal(value) if decimals and terminates(value) else show(value)


# -- working, one operation at a time ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Atom:
    value: Fraction
    text: str           # as the student wrote it: "2/3", "50%", "1 1/2", "0.25"


@dataclass(frozen=True, slots=True)
class _Operation:
    op: type
    left: object
    right: object


@dataclass(frozen=True, slots=True)
class _Negation:
    operand: object


@dataclass(frozen=True, slots=True)
class _Function:
    name: str
    args: tuple


_SHOWN_OP = {ast.Add: "+", ast.Sub: "-", ast.Mult: "×", ast.Div: "÷", ast.FloorDiv: "div", ast.Mod: "mod",
             ast.Pow: "^"}
_PRECEDENCE = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2, ast.FloorDiv: 2, ast.Mod: 2, ast.Pow: 4}


def _display_tree(node: ast.AST, interpreter: Interpreter) -> object:
    if isinstance(node, ast.Constant):
        return _Atom(interpreter.number(node), ast.get_source_segment(interpreter.source, node) or str(node.value))
    if isinstance(node, ast.BinOp):
        return _Operation(type(node.op), _display_tree(node.left, interpreter), _display_tree(node.right, interpreter))
    if isinstance(node, ast.UnaryOp):
        inner = _display_tree(node.operand, interpreter)
        if isinstance(node.op, ast.UAdd):
            return inner
        if isinstance(inner, _Atom) and inner.value >= 0 and not inner.text.startswith("-"):
            return _Atom(-inner.value, f"-{inner.text}")
        return _Negation(inner)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = tuple(_display_tree(a, interpreter) for a in node.args)
        if node.func.id in ("frac", "mixed", "percent") and all(isinstance(a, _Atom) for a in args):
            texts = [a.text for a in args]  # type: ignore[attr-defined]
            shown = {"frac": "{}/{}", "mixed": "{} {}/{}", "percent": "{}%"}[node.func.id].format(*texts)
            return _Atom(interpreter.number(node), shown)
        return _Function(node.func.id, args)
    raise MathsRefused(f"The engine does not run {describe(node)}.")


def _reduce_once(node: object, interpreter: Interpreter) -> object:
    """Carry out the first operation that is due: the leftmost one whose operands are numbers."""
    if isinstance(node, _Operation):
        if not isinstance(node.left, _Atom):
            return _Operation(node.op, _reduce_once(node.left, interpreter), node.right)
        if not isinstance(node.right, _Atom):
            return _Operation(node.op, node.left, _reduce_once(node.right, interpreter))
        interpreter.tick()
        return _result(interpreter.binary(node.op, node.left.value, node.right.value))
    if isinstance(node, _Negation):
        if not isinstance(node.operand, _Atom):
            return _Negation(_reduce_once(node.operand, interpreter))
        return _result(-node.operand.value)
    if isinstance(node, _Function):
        for i, arg in enumerate(node.args):
            if not isinstance(arg, _Atom):
                return _Function(node.name, node.args[:i] + (_reduce_once(arg, interpreter),) + node.args[i + 1:])
        _low, _high, run = interpreter._functions()[node.name]
        value = run([a.value for a in node.args])
        assert isinstance(value, Fraction)
        return _result(value)
    assert isinstance(node, _Atom)
    return _result(node.value)


def _result(value: Fraction) -> _Atom:
    return _Atom(value, "")   # shown by value: as a decimal or a fraction, decided when rendering


def _render(node: object, decimals: bool, parent: int = 0, right_side: bool = False) -> str:
    if isinstance(node, _Atom):
        text = node.text or show_value(node.value, decimals=decimals)
        # -3 + 4 and 1 1/2 + 2 read plainly; 4 - (-3), 2 × (1 1/2) and (2/3)^2 need their brackets
        bracketed = ((node.value < 0 and (right_side or parent >= 4)) or (" " in text and parent >= 3)
                     or ("/" in text and parent >= 4))
        return f"({text})" if bracketed else text
    if isinstance(node, _Negation):
        return f"-{_render(node.operand, decimals, 3)}"
    if isinstance(node, _Function):
        return f"{node.name}({', '.join(_render(a, decimals) for a in node.args)})"
    assert isinstance(node, _Operation)
    level = _PRECEDENCE[node.op]
    # left-associative, except powers: a - (b - c) and (a ^ b) ^ c keep their brackets
    left = _render(node.left, decimals, level + (1 if node.op is ast.Pow else 0))
    right = _render(node.right, decimals, level + (0 if node.op is ast.Pow else 1), right_side=True)
    text = f"{left} {_SHOWN_OP[node.op]} {right}" if node.op is not ast.Pow else f"{left}^{right}"
    return f"({text})" if level < parent else text
