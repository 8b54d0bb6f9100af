"""Runs the short programs a coder model writes for a word problem (program-aided solving, PAL),
without `exec`: the engine interprets the tree itself, statement by statement, under a whitelist.

The restricted form is one function with no arguments, as a coder model writes it:

    def solution():
        boxes = 15
        per_box = 20
        seen = boxes * per_box * 40 / 100
        return seen + 3 * 5

Inside it: assignments (also `a, b = 1, 2`, `x += 1`, `x: int = 3`), `if`/`elif`/`else`, `for` over
`range(...)` or a list, `while`, `break`, `continue`, `pass`, `return`, comments and docstrings.
Expressions are those of `learner.maths.evaluate` plus variables, comparisons, and/or/not,
`a if c else b`, lists of numbers, indexing, `sum`, `len`, `int`, `float`, `range`, and the
engine's own `floor`, `ceil`, `sqrt` (also spelled `math.floor` etc.; `import math` names them and
imports nothing). Around the function only `print(solution())`-style calls and
`if __name__ == "__main__":` are accepted, and never run. Anything else is refused.

Numbers stay exact, so `float(x)` and `/` keep fractions; the result is a `Fraction`.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from fractions import Fraction

from learner.maths.errors import MathsRefused
from learner.maths.evaluate import (
    PROGRAM_LIMITS,
    Interpreter,
    Limits,
    Value,
    describe,
    parse,
    show_value,
)
from learner.maths.numbers import show, terminates

MAX_TRACE_LINES = 30
ENTRY_NAME = "solution"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgramResult:
    value: Fraction
    trace: tuple[str, ...]     # the assignments as they ran: "total = boxes * per_box = 300"
    steps: int                 # evaluation steps used (of Limits.max_steps)


class _Return(Exception):
    def __init__(self, value: Value) -> None:
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def program_from_reply(text: str) -> str | None:
    """The program in a model's reply: the fenced block that defines a function, else the text from
    the first `def` on; None when there is none."""
    for block in re.findall(r"```[ \t]*(?:python|py)?[ \t]*\n(.*?)```", text or "", re.DOTALL | re.IGNORECASE):
        if re.search(r"^\s*def\s+\w+\s*\(", block, re.MULTILINE):
            return block.strip("\n")
    match = re.search(r"^([ \t]*)def\s+\w+\s*\(", text or "", re.MULTILINE)
    if match is None:
        return None
    lines = text[match.start():].splitlines()
    kept = [lines[0]]
    for line in lines[1:]:   # the function body and what directly follows it, up to the prose
        if line.strip() and not line.startswith((" ", "\t")) and not re.match(r"(print|if __name__|\w+\s*=)", line):
            break
        kept.append(line)
    return "\n".join(kept).rstrip().rstrip("`").rstrip()


def run_program(source: str, *, limits: Limits = PROGRAM_LIMITS) -> ProgramResult:
    """Run the restricted program and return what its function returns; `MathsRefused` (or
    `NoExactValue`) says why there is no result."""
    tree = parse(source, limits, mode="exec")
    assert isinstance(tree, ast.Module)
    function = _entry_function(tree)
    runner = _ProgramRunner(source, limits)
    try:
        runner.block(function.body)
    except _Return as returned:
        value = returned.value
    except (_Break, _Continue):
        raise MathsRefused("`break` or `continue` is used outside a loop.") from None
    else:
        raise MathsRefused(f"The function {function.name}() ends without returning a number.")
    if isinstance(value, bool) or not isinstance(value, Fraction):
        raise MathsRefused(f"The function {function.name}() returns a list or a true/false value, not a number.")
    return ProgramResult(value=value, trace=tuple(runner.trace), steps=runner.steps)


def _entry_function(tree: ast.Module) -> ast.FunctionDef:
    functions = [s for s in tree.body if isinstance(s, ast.FunctionDef)]
    if not functions:
        raise MathsRefused("The program has no function; write it as def solution(): ... return the answer.")
    if len(functions) > 1:
        raise MathsRefused(f"The program defines {len(functions)} functions; the engine runs one, "
                           f"def {ENTRY_NAME}(), with everything inside it.")
    function = functions[0]
    arguments = function.args
    if (arguments.args or arguments.posonlyargs or arguments.kwonlyargs or arguments.vararg or arguments.kwarg
            or function.decorator_list):
        raise MathsRefused(f"The function {function.name}() must take no arguments and have no decorators.")
    for statement in tree.body:
        if statement is not function and not _harmless_top_level(statement, function.name):
            raise MathsRefused(f"Outside the function the program has {_statement_words(statement)}; the engine "
                               "accepts only the function (and a call that prints it).")
    return function


def _harmless_top_level(statement: ast.stmt, name: str) -> bool:
    """What a model writes around the function that the engine can skip: `import math`, a
    docstring, `print(solution())`, `answer = solution()`, `print(answer)`, and these under
    `if __name__ == "__main__":`."""
    if _is_import_math(statement) or _is_docstring(statement):
        return True

    def calls_entry(node: ast.AST) -> bool:
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name \
            and not node.args and not node.keywords

    def printed(node: ast.AST) -> bool:
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
                and not node.keywords and len(node.args) == 1
                and (calls_entry(node.args[0]) or isinstance(node.args[0], ast.Name)))

    if isinstance(statement, ast.Expr):
        return calls_entry(statement.value) or printed(statement.value)
    if isinstance(statement, ast.Assign):
        return all(isinstance(t, ast.Name) for t in statement.targets) and calls_entry(statement.value)
    if isinstance(statement, ast.If):
        test = statement.test
        is_main = (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
                   and len(test.comparators) == 1 and isinstance(test.comparators[0], ast.Constant)
                   and test.comparators[0].value == "__main__")
        return is_main and not statement.orelse and all(_harmless_top_level(s, name) for s in statement.body)
    return False


def _is_import_math(statement: ast.stmt) -> bool:
    return (isinstance(statement, ast.Import) and len(statement.names) == 1 and statement.names[0].name == "math"
            and statement.names[0].asname is None)


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) \
        and isinstance(statement.value.value, str)


_STATEMENT_WORDS = {
    ast.Import: "an import", ast.ImportFrom: "an import", ast.ClassDef: "a class", ast.FunctionDef: "a function",
    ast.AsyncFunctionDef: "a function", ast.With: "a with block", ast.Try: "a try block", ast.Raise: "raise",
    ast.Global: "global", ast.Nonlocal: "nonlocal", ast.Delete: "del", ast.Assert: "assert",
    ast.AsyncFor: "async for", ast.AsyncWith: "async with", ast.Match: "a match block",
}


def _statement_words(statement: ast.stmt) -> str:
    if isinstance(statement, ast.Expr):
        return describe(statement.value) if not isinstance(statement.value, ast.Call) else "a call"
    return _STATEMENT_WORDS.get(type(statement), f"'{type(statement).__name__}'")


class _ProgramRunner(Interpreter):
    def __init__(self, source: str, limits: Limits) -> None:
        super().__init__(source, limits, program=True)
        self.trace: list[str] = []

    # statements

    def block(self, statements: list[ast.stmt]) -> None:
        for statement in statements:
            self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        self.tick()
        if isinstance(node, ast.Assign):
            value = self.evaluate(node.value)
            for target in node.targets:
                self._assign(target, value, node.value)
        elif isinstance(node, ast.AugAssign):
            if not isinstance(node.target, ast.Name):
                raise MathsRefused("The engine assigns to plain names only (no x[i] += or x.y +=).")
            current = self._lookup(node.target.id)
            value = self.binary(type(node.op), self._n(current), self.number(node.value))
            # traced as "total = total + i = 6", the way the update reads on paper
            self._assign(node.target, value, ast.BinOp(left=node.target, op=node.op, right=node.value))
        elif isinstance(node, ast.AnnAssign):
            if node.value is None:
                return
            self._assign(node.target, self.evaluate(node.value), node.value)
        elif isinstance(node, ast.If):
            self.block(node.body if self.truth(node.test) else node.orelse)
        elif isinstance(node, ast.For):
            self._for(node)
        elif isinstance(node, ast.While):
            self._while(node)
        elif isinstance(node, ast.Return):
            if node.value is None:
                raise MathsRefused("The function returns nothing; it must return the answer.")
            raise _Return(self.evaluate(node.value))
        elif isinstance(node, ast.Break):
            raise _Break()
        elif isinstance(node, ast.Continue):
            raise _Continue()
        elif isinstance(node, ast.Pass) or _is_docstring(node) or _is_import_math(node):
            return
        else:
            raise MathsRefused(f"The engine does not run {_statement_words(node)} in a program.")

    def _assign(self, target: ast.AST, value: Value, expression: ast.AST) -> None:
        if isinstance(target, ast.Name):
            self._bind(target.id, value, expression)
            return
        if isinstance(target, ast.Tuple) and all(isinstance(t, ast.Name) for t in target.elts):
            if not isinstance(value, tuple) or len(value) != len(target.elts):
                raise MathsRefused("The names on the left and the values on the right do not match in number.")
            for name, item in zip(target.elts, value):
                self._bind(name.id, item, None)  # type: ignore[attr-defined]
            return
        raise MathsRefused(f"The engine assigns to plain names only, not to {describe(target)}.")

    def _bind(self, name: str, value: Value, expression: ast.AST | None) -> None:
        if name.startswith("__"):
            raise MathsRefused(f"The engine does not use names like '{name}'.")
        self.variables[name] = value
        if len(self.trace) < MAX_TRACE_LINES and isinstance(value, Fraction) and not isinstance(value, bool):
            shown = show_value(value, decimals=value.denominator != 1 and terminates(value))
            formula = _formula(expression) if expression is not None else ""
            self.trace.append(f"{name} = {formula} = {shown}" if formula and formula != shown else f"{name} = {shown}")

    def _for(self, node: ast.For) -> None:
        if node.orelse:
            raise MathsRefused("The engine does not run for ... else.")
        if not isinstance(node.target, ast.Name):
            raise MathsRefused("A for loop must count with one plain name.")
        items = self.evaluate(node.iter)
        if not isinstance(items, tuple):
            raise MathsRefused("A for loop must go over range(...) or a list.")
        for item in items:
            self.variables[node.target.id] = item
            if not self._round(node.body):
                break

    def _round(self, body: list[ast.stmt]) -> bool:
        """One round of a loop's body; False when it ended with `break`."""
        try:
            self.block(body)
        except _Break:
            return False
        except _Continue:
            pass
        return True

    def _while(self, node: ast.While) -> None:
        if node.orelse:
            raise MathsRefused("The engine does not run while ... else.")
        rounds = 0
        while self.truth(node.test):
            rounds += 1
            if rounds > self.limits.max_loop:
                raise MathsRefused(f"A while loop ran more than {self.limits.max_loop} rounds; the engine stops there.")
            if not self._round(node.body):
                break

    # expressions only programs have

    def _lookup(self, name: str) -> Value:
        if name not in self.variables:
            raise MathsRefused(f"The program uses the name '{name}' before giving it a value.")
        return self.variables[name]

    def _program_expression(self, node: ast.AST) -> Value:
        if isinstance(node, ast.Name):
            return self._lookup(node.id)
        if isinstance(node, ast.Compare):
            left = self.number(node.left)
            for op, comparator in zip(node.ops, node.comparators):
                compare = _COMPARISONS.get(type(op))
                if compare is None:
                    raise MathsRefused("The engine compares numbers with == != < <= > >= only.")
                right = self.number(comparator)
                if not compare(left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(self.truth(v) for v in node.values)
            return any(self.truth(v) for v in node.values)
        if isinstance(node, ast.IfExp):
            return self.evaluate(node.body if self.truth(node.test) else node.orelse)
        if isinstance(node, (ast.List, ast.Tuple)):
            return tuple(self.evaluate(e) for e in node.elts)
        if isinstance(node, ast.Subscript):
            items = self._list(self.evaluate(node.value))
            index = self.number(node.slice)
            if index.denominator != 1 or not -len(items) <= index < len(items):
                raise MathsRefused(f"The index {show(index)} is outside the list of {len(items)}.")
            return items[int(index)]
        return super()._program_expression(node)

    def _functions(self):  # type: ignore[override]
        return super()._functions() | {
            "range": (1, 3, self._range),
            "list": (1, 1, lambda a: self._list(a[0])),
        }

    def _range(self, args: list[Value]) -> tuple:
        numbers = [self._n(a) for a in args]
        if any(n.denominator != 1 for n in numbers):
            raise MathsRefused("range() takes whole numbers.")
        bounds = [int(n) for n in numbers]
        start, stop, step = (0, bounds[0], 1) if len(bounds) == 1 else (bounds[0], bounds[1], bounds[2] if
                                                                        len(bounds) == 3 else 1)
        if step == 0:
            raise MathsRefused("range() with a step of 0 never ends.")
        span = range(start, stop, step)
        if len(span) > self.limits.max_loop:   # decided from the length, before a single round runs
            raise MathsRefused(f"A loop of {len(span)} rounds is longer than the {self.limits.max_loop} the engine "
                               "allows.")
        return tuple(Fraction(i) for i in span)


_COMPARISONS = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
}


def _formula(expression: ast.AST) -> str:
    """The right-hand side as a teacher reads it (15 * 20 → 15 × 20); printing only, nothing runs."""
    if isinstance(expression, ast.Constant):
        return ""
    text = ast.unparse(expression)
    return re.sub(r" \* ", " × ", re.sub(r" / ", " ÷ ", text))[:120]

