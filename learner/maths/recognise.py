"""Finds the questions in a message that the engine can compute, and computes them.

`recognise(text)` returns one `Computation` per computable question, in the order they appear:
arithmetic ("3 + 4 × 2"), fraction operations ("2/3 + 1/6"), decimals, percentages ("15% of 80",
"increase 80 by 15%", "the percentage change from 80 to 100", "what percent of 80 is 12"),
conversions ("0.75 as a fraction"), simplifying ("simplify 6/8", "simplify 12:18"), ratios
("share 20 in the ratio 2:3"), rounding ("round 3.456 to 1 decimal place"), linear equations
("2x + 3 = 11") and unit conversions ("5 km in m"). Text with no computation gives nothing; a
number alone, a date or a range ("pages 5-10") is not a computation.

Each `Computation` holds the exact result, the worked steps a teacher writes, and the wrong
answers the known misconceptions give (for naming a student's mistake). Word problems are
computed from model-written programs instead: `computation_from_programs` runs several and keeps
the result most of them agree on (self-consistency).
"""
from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from math import gcd, lcm

from learner.maths import misconceptions as known
from learner.maths.errors import MathsError
from learner.maths.evaluate import (
    EXPRESSION_LIMITS,
    TIMES_X,
    Interpreter,
    evaluate,
    evaluate_with_steps,
    parse,
    show_value,
    to_python_syntax,
)
from learner.maths.linear import solve_linear, variable_of
from learner.maths.misconceptions import WrongAnswer
from learner.maths.numbers import (
    decimal_literal,
    round_to,
    show,
    show_decimal,
    show_mixed,
    terminates,
)
from learner.maths.program import ProgramResult, run_program
from learner.maths.units import UNIT_PATTERN, convert, unit_named

MAX_TEXT_CHARS = 4000        # a chat message; longer text is read up to here
MAX_COMPUTATIONS = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class Computation:
    kind: str                      # arithmetic | fractions | decimals | percentage | conversion | ratio |
                                   # rounding | equation | units | word_problem
    expression: str                # the question as the engine read it: "2/3 + 1/6", "15% of 80"
    values: tuple[Fraction, ...]   # the exact result; two or more for a shared amount
    result: str                    # as a teacher writes it: "5/6", "x = 4", "8 and 12", "25%", "250 cm"
    statement: str                 # one line with both: "2/3 + 1/6 = 5/6"
    steps: tuple[str, ...]
    wrong_answers: tuple[WrongAnswer, ...] = ()
    claimed: str | None = None     # what the text itself says the result is ("… = 3/9"), if anything
    require_simplest: bool = False

    @property
    def value(self) -> Fraction | None:
        return self.values[0] if len(self.values) == 1 else None


# -- the recognisers, most specific first ----------------------------------------------------------

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_PCT = r"\s*(?:%|percent\b|per cent\b)"
_CUR = r"[$£€]?\s*"


def _number(text: str) -> Fraction:
    return decimal_literal(text.replace(",", "").strip())


def _money(currency: str, value: Fraction) -> str:
    shown = show_decimal(value) if terminates(value) else show_decimal(value, places=2)
    if currency and value.denominator != 1 and terminates(value * 100):
        shown = show_decimal(value, places=2)
    return f"{currency}{shown}"


def _computation(kind: str, expression: str, values: Sequence[Fraction], result: str, steps: Sequence[str], *,
                 wrong: Sequence[WrongAnswer] = (), statement: str | None = None, claimed: str | None = None,
                 require_simplest: bool = False) -> Computation:
    return Computation(kind=kind, expression=expression, values=tuple(values), result=result,
                       statement=statement or f"{expression} = {result}", steps=tuple(steps),
                       wrong_answers=tuple(wrong), claimed=claimed, require_simplest=require_simplest)


def _percent_of(m: re.Match) -> Computation:
    p, n, cur = _number(m["p"]), _number(m["n"]), m["cur"].strip()
    value = p * n / 100
    expression = f"{show_decimal(p)}% of {cur}{show_decimal(n)}"
    steps = (f"{show_decimal(p)}% = {show_decimal(p)}/100", f"{show_decimal(n)} ÷ 100 = {show_value(n / 100, decimals=True)}",
             f"{show_value(n / 100, decimals=True)} × {show_decimal(p)} = {show_value(value, decimals=True)}")
    return _computation("percentage", expression, [value], _money(cur, value), steps, wrong=known.percent_of(p, n))


def _fraction_of(m: re.Match) -> Computation:
    numerator, denominator, n, cur = int(m["fn"]), int(m["fd"]), _number(m["n"]), m["cur"].strip()
    if denominator == 0:
        raise MathsError("Division by zero has no value.")
    value = Fraction(numerator, denominator) * n
    expression = f"{numerator}/{denominator} of {cur}{show_decimal(n)}"
    one_part = n / denominator
    steps = (f"{show_decimal(n)} ÷ {denominator} = {show_value(one_part, decimals=True)}",
             f"{show_value(one_part, decimals=True)} × {numerator} = {show_value(value, decimals=True)}")
    wrong = known.word_problem(value, [(n / denominator, known.WORD_MISSED_STEP),
                                       (n * denominator / numerator if numerator else n, known.WORD_WRONG_OPERATION)])
    return _computation("fractions", expression, [value], _money(cur, value), steps, wrong=wrong)


def _percent_change_amount(m: re.Match) -> Computation:
    verb = (m["verb"] or "").lower()
    increase = not verb.startswith(("decreas", "reduc", "off", "discount"))
    p, n, cur = _number(m["p"]), _number(m["n"]), m["cur"].strip()
    change = n * p / 100
    value = n + change if increase else n - change
    word = "increased" if increase else "decreased"
    expression = f"{cur}{show_decimal(n)} {word} by {show_decimal(p)}%"
    steps = (f"{show_decimal(p)}% of {show_decimal(n)} = {show_value(change, decimals=True)}",
             (f"{show_decimal(n)} {'+' if increase else '-'} {show_value(change, decimals=True)} = "
             f"{show_value(value, decimals=True)}"))
    return _computation("percentage", expression, [value], _money(cur, value), steps,
                        wrong=known.percent_change_amount(n, p, increase=increase))


def _percent_change(m: re.Match) -> Computation:
    a, b = _number(m["a"]), _number(m["b"])
    if a == 0:
        raise MathsError("A change from zero has no percentage.")
    value = (b - a) / a
    shown = f"{show_value(value * 100, decimals=True) if terminates(value * 100) else show_decimal(value * 100, places=1)}%"
    expression = f"the percentage change from {show_decimal(a)} to {show_decimal(b)}"
    steps = (f"change = {show_decimal(b)} - {show_decimal(a)} = {show_decimal(b - a)}",
             f"{show_decimal(b - a)} ÷ {show_decimal(a)} = {show_value(value, decimals=True)}",
             f"{show_value(value, decimals=True)} × 100 = {shown}")
    return _computation("percentage", expression, [value], shown, steps, wrong=known.percent_change(a, b),
                        statement=f"The percentage change from {show_decimal(a)} to {show_decimal(b)} is {shown}")


def _percent_ratio(m: re.Match) -> Computation:
    part = _number(m["part1"] or m["part2"] or m["part3"])
    whole = _number(m["whole1"] or m["whole2"] or m["whole3"] or m["whole4"])
    if whole == 0:
        raise MathsError("A percentage of zero has no value.")
    value = part / whole
    shown = f"{show_decimal(value * 100) if terminates(value * 100) else show_decimal(value * 100, places=1)}%"
    expression = f"{show_decimal(part)} as a percentage of {show_decimal(whole)}"
    steps = (f"{show_decimal(part)} ÷ {show_decimal(whole)} = {show_value(value, decimals=True)}",
             f"{show_value(value, decimals=True)} × 100 = {shown}")
    return _computation("percentage", expression, [value], shown, steps, wrong=known.percent_ratio(part, whole))


def _conversion(m: re.Match) -> Computation:
    written, target = m["x"].strip(), m["target"].lower()
    value = _written_value(written)
    if target == "fraction":
        result = show(value)
        steps = [f"{written} = {result}"]
        if "." in written:
            places = len(written.split(".")[1].rstrip("%"))
            scaled = f"{_number(written.rstrip('%')) * 10 ** places}/{10 ** places}".replace("/1", "/1") \
                if not written.endswith("%") else ""
            steps = ([f"{written} = {scaled}"] if scaled else []) + [f"= {result} in its simplest form"]
        elif written.endswith("%"):
            steps = [f"{written} = {written[:-1].strip()}/100", f"= {result} in its simplest form"]
        return _computation("conversion", f"{written} as a fraction", [value], result, steps, require_simplest=True)
    if target == "decimal":
        result = show_decimal(value) if terminates(value) else f"{show_decimal(value, places=3)}…"
        steps = [f"{written} = {result}"]
        return _computation("conversion", f"{written} as a decimal", [value], result, steps)
    shown = show_decimal(value * 100) if terminates(value * 100) else show_decimal(value * 100, places=1)
    steps = [f"{written} × 100% = {shown}%"]
    return _computation("conversion", f"{written} as a percentage", [value], f"{shown}%", steps)


def _written_value(written: str) -> Fraction:
    text = written.replace(" ", "")
    if text.endswith("%"):
        return _number(text[:-1]) / 100
    if "/" in text:
        top, bottom = text.split("/")
        if int(bottom) == 0:
            raise MathsError("Division by zero has no value.")
        return Fraction(int(top), int(bottom))
    return _number(text)


def _simplify_fraction(m: re.Match) -> Computation:
    n, d = int(m["n"]), int(m["d"])
    if d == 0:
        raise MathsError("Division by zero has no value.")
    common = gcd(n, d)
    value = Fraction(n, d)
    steps = [f"The greatest common factor of {n} and {d} is {common}."]
    if common > 1:
        steps.append(f"{n} ÷ {common} = {n // common} and {d} ÷ {common} = {d // common}")
    steps.append(f"{n}/{d} = {show(value)}")
    return _computation("fractions", f"{n}/{d} in its simplest form", [value], show(value), steps,
                        wrong=known.simplify_fraction(n, d), statement=f"{n}/{d} = {show(value)} in its simplest form",
                        require_simplest=True)


def _ratio_parts(text: str) -> list[int]:
    return [int(p) for p in re.split(r"\s*:\s*", text.strip())]


def _ratio_share(m: re.Match) -> Computation:
    total, cur, parts = _number(m["total"]), m["cur"].strip(), _ratio_parts(m["ratio"])
    if sum(parts) == 0:
        raise MathsError("A ratio of zeros cannot share anything.")
    one = total / sum(parts)
    shares = [one * p for p in parts]
    result = " and ".join(_money(cur, s) for s in shares) if len(shares) == 2 else \
        ", ".join(_money(cur, s) for s in shares[:-1]) + " and " + _money(cur, shares[-1])
    ratio = ":".join(str(p) for p in parts)
    steps = (f"{' + '.join(str(p) for p in parts)} = {sum(parts)} parts",
             f"one part = {show_decimal(total)} ÷ {sum(parts)} = {show_value(one, decimals=True)}",
             ", ".join(f"{p} × {show_value(one, decimals=True)} = {show_value(s, decimals=True)}"
                       for p, s in zip(parts, shares)))
    expression = f"{cur}{show_decimal(total)} shared in the ratio {ratio}"
    return _computation("ratio", expression, shares, result, steps, wrong=known.ratio_share(total, parts),
                        statement=f"{expression} gives {result}")


def _simplify_ratio(m: re.Match) -> Computation:
    parts = _ratio_parts(m["ratio"])
    common = 0
    for p in parts:
        common = gcd(common, p)
    if common == 0:
        raise MathsError("A ratio of zeros has no simplest form.")
    simplest = [p // common for p in parts]
    ratio, result = ":".join(map(str, parts)), ":".join(map(str, simplest))
    steps = (f"The greatest common factor of {', '.join(map(str, parts))} is {common}.",
             f"Divide every part by {common}: {result}")
    return _computation("ratio", f"{ratio} in its simplest form", [Fraction(s) for s in simplest], result, steps,
                        wrong=known.simplify_ratio(parts), statement=f"{ratio} = {result} in its simplest form",
                        require_simplest=True)


_PLACES = {"whole number": Fraction(1), "integer": Fraction(1), "one": Fraction(1), "unit": Fraction(1),
           "ten": Fraction(10), "tens": Fraction(10), "hundred": Fraction(100), "hundreds": Fraction(100),
           "thousand": Fraction(1000), "thousands": Fraction(1000), "tenth": Fraction(1, 10),
           "tenths": Fraction(1, 10), "hundredth": Fraction(1, 100), "hundredths": Fraction(1, 100),
           "thousandth": Fraction(1, 1000), "thousandths": Fraction(1, 1000)}
_SMALL = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}


def _rounding(m: re.Match) -> Computation:
    value = _number(m["x"].lstrip("-")) * (-1 if m["x"].startswith("-") else 1)
    if m["k"]:
        places = int(m["k"]) if m["k"].isdigit() else _SMALL[m["k"].lower()]
        step = Fraction(1, 10 ** places)
        place_words = f"{places} decimal place{'s' if places != 1 else ''}"
    else:
        step = _PLACES[m["place"].lower()]
        place_words = f"the nearest {m['place'].lower()}"
    result = round_to(value, step)
    shown = show_decimal(result, places=_places_of(step)) if step < 1 else show(result)
    look = step / 10
    steps = (f"Look at the digit in the {_place_name(look)} place of {m['x']}.",
             f"{'5 or more: round up' if abs(value) - abs(round_to(value, step)) < 0 else 'less than 5: round down'}"
             f" → {shown}" if abs(result) != abs(value) else f"{m['x']} is already exact → {shown}")
    return _computation("rounding", f"{m['x']} rounded to {place_words}", [result], shown, steps,
                        wrong=known.rounding(value, step))


def _places_of(step: Fraction) -> int:
    places = 0
    while (step * 10 ** places).denominator != 1:
        places += 1
    return places


def _place_name(step: Fraction) -> str:
    names = {Fraction(1, 10000): "ten-thousandths", Fraction(1, 1000): "thousandths", Fraction(1, 100): "hundredths",
             Fraction(1, 10): "tenths", Fraction(1): "ones", Fraction(10): "tens", Fraction(100): "hundreds"}
    return names.get(step, f"{show(step)}s")


def _units(m: re.Match) -> Computation:
    value = _number(m["x"])
    source, target = unit_named(m["src"]), unit_named(m["dst"])
    if source is None or target is None or source.dimension != target.dimension or source == target:
        raise MathsError("These units cannot be converted into each other.")
    result = convert(value, source, target)
    shown = f"{show_decimal(result) if terminates(result) else show_decimal(result, places=3)} {target.symbol}"
    if source.dimension == "temperature":
        steps: tuple[str, ...] = (f"{show_decimal(value)} {source.symbol} = {shown}",)
        wrong: tuple[WrongAnswer, ...] = ()
    else:
        factor = source.factor / target.factor
        how = (f"1 {source.symbol} = {show_value(factor, decimals=True)} {target.symbol}" if factor >= 1
               else f"1 {target.symbol} = {show_value(1 / factor, decimals=True)} {source.symbol}")
        operation = (f"{show_decimal(value)} × {show_value(factor, decimals=True)}" if factor >= 1
                     else f"{show_decimal(value)} ÷ {show_value(1 / factor, decimals=True)}")
        steps = (how, f"{operation} = {shown}")
        wrong = known.unit_conversion(value, factor, target.symbol)
    expression = f"{show_decimal(value)} {source.symbol} in {target.symbol}"
    return _computation("units", expression, [result], shown, steps, wrong=wrong,
                        statement=f"{show_decimal(value)} {source.symbol} = {shown}")


_UNIT = rf"(?:{UNIT_PATTERN})(?![a-z])"
_PATTERNS: tuple[tuple[re.Pattern, Callable[[re.Match], Computation]], ...] = tuple(
    (re.compile(p, re.IGNORECASE), f) for p, f in (
        ((rf"(?:percent(?:age)?\s+(?:change|increase|decrease|rise|fall)\s+)from\s+[$£€]?\s*(?P<a>{_NUM})\s+to\s+"
         rf"[$£€]?\s*(?P<b>{_NUM})"), _percent_change),
        ((rf"from\s+[$£€]?\s*(?P<a>{_NUM})\s+to\s+[$£€]?\s*(?P<b>{_NUM})\b[^.?!\n]{{0,60}}?\bpercent(?:age)?\s+"
         r"(?:change|increase|decrease|rise|fall)"), _percent_change),
        ((rf"what\s+percent(?:age)?\s+(?:of\s+(?P<whole1>{_NUM})\s+is\s+(?P<part1>{_NUM})|is\s+(?P<part2>{_NUM})\s+"
         rf"of\s+(?P<whole2>{_NUM}))|(?P<part3>{_NUM})\s+(?:is\s+what\s+percent(?:age)?\s+of\s+(?P<whole3>{_NUM})|"
         rf"out\s+of\s+(?P<whole4>{_NUM})\s+as\s+a\s+percent(?:age)?)"), _percent_ratio),
        ((rf"(?P<verb>increase|decrease|reduce|raise)\s+(?P<cur>{_CUR})(?P<n>{_NUM})(?:\s+[a-z]+)?\s+by\s+"
         rf"(?P<p>{_NUM}){_PCT}"), _percent_change_amount),
        ((rf"(?P<cur>{_CUR})(?P<n>{_NUM})(?:\s+[a-z]+)?\s+(?P<verb>increased|decreased|reduced|raised)\s+by\s+"
         rf"(?P<p>{_NUM}){_PCT}"), _percent_change_amount),
        ((rf"(?P<p>{_NUM}){_PCT}\s+(?P<verb>off|discount\s+on)\s+(?:an?\s+|the\s+)?(?:price\s+of\s+)?"
         rf"(?P<cur>{_CUR})(?P<n>{_NUM})"), _percent_change_amount),
        (rf"(?P<p>{_NUM}){_PCT}\s+of\s+(?:an?\s+|the\s+)?(?P<cur>{_CUR})(?P<n>{_NUM})", _percent_of),
        (rf"(?<![\d/.])(?P<fn>\d+)\s*/\s*(?P<fd>\d+)\s+of\s+(?:an?\s+|the\s+)?(?P<cur>{_CUR})(?P<n>{_NUM})",
         _fraction_of),
        ((rf"(?P<x>\d+\s*/\s*\d+|(?:{_NUM})\s*%?)\s+(?:as|to|into|in)\s+an?\s+"
         r"(?P<target>fraction|decimal|percentage|percent)\b"), _conversion),
        (r"simplify\s+(?:the\s+fraction\s+)?(?P<n>\d+)\s*/\s*(?P<d>\d+)", _simplify_fraction),
        (r"(?<![\d/.])(?P<n>\d+)\s*/\s*(?P<d>\d+)\s+(?:in|to)\s+(?:its\s+)?(?:simplest|lowest)\s+(?:form|terms)",
         _simplify_fraction),
        ((rf"(?:share|divide|split)\s+(?P<cur>{_CUR})(?P<total>{_NUM})(?:\s+[a-z]+){{0,4}}?\s+in(?:to)?\s+(?:the\s+|a\s+)?"
         r"ratio\s+(?:of\s+)?(?P<ratio>\d+(?:\s*:\s*\d+)+)"), _ratio_share),
        (r"simplify\s+(?:the\s+ratio\s+)?(?P<ratio>\d+(?:\s*:\s*\d+)+)", _simplify_ratio),
        (r"(?P<ratio>\d+(?:\s*:\s*\d+)+)\s+in\s+(?:its\s+)?simplest\s+form", _simplify_ratio),
        ((rf"round\s+(?P<x>-?(?:{_NUM}))\s+to\s+(?:the\s+)?(?:nearest\s+)?(?:(?P<k>\d+|one|two|three|four|five)\s+"
         r"(?:decimal\s+places?|d\.?\s?p\.?)|(?P<place>whole number|integer|one|unit|tens?|hundreds?|thousands?|"
         r"tenths?|hundredths?|thousandths?))\b"), _rounding),
        (rf"(?P<x>{_NUM})\s*(?P<src>{_UNIT})\s+(?:to|into|in)\s+(?P<dst>{_UNIT})", _units),
        (rf"how\s+many\s+(?P<dst>{_UNIT})\s+(?:are\s+)?(?:there\s+)?(?:in|make)\s+(?P<x>{_NUM})\s*(?P<src>{_UNIT})",
         _units),
    ))


# -- expressions and equations in the rest of the text ---------------------------------------------

_WORD_OPERATORS = ((r"\bmultiplied\s+by\b", "×"), (r"\bdivided\s+by\b", "÷"), (r"\btimes\b", "×"),
                   (r"\bplus\b", "+"), (r"\bminus\b", "-"))
_TOKEN = re.compile(r"""
  (?P<num>[$£€]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*%)?|[$£€]?\.\d+(?:\s*%)?)
| (?P<letter>(?<![A-Za-z])[A-Za-z](?![A-Za-z]))
| (?P<op>\*\*|[-+*/×÷^=·−])
| (?P<open>[(\[])
| (?P<close>[)\]])
| (?P<sup>[²³])
| (?P<space>[ \t]+)
| (?P<other>.|\n)
""", re.VERBOSE)


def expression_runs(text: str) -> list[str]:
    """Maximal stretches of numbers, operators, brackets and single letters."""
    text = text.replace("−", "-").replace("–", "-").replace("\xa0", " ")   # minus signs and no-break spaces
    runs, current = [], ""
    for m in _TOKEN.finditer(text):
        if m.lastgroup == "other":
            if current.strip():
                runs.append(current.strip())
            current = ""
        else:
            current += m.group(0)
    if current.strip():
        runs.append(current.strip())
    return runs


def _trim(run: str, keep_letters: bool) -> str:
    """Drop what cannot start or end an expression: "I 3 + 4 =" → "3 + 4"."""
    edge = r"[A-Za-z]" if not keep_letters else r"(?!)"
    previous = None
    while previous != run:
        previous = run
        run = re.sub(rf"^(?:{edge}|[+*/×÷^=·)\]])\s*", "", run).strip()
        run = re.sub(rf"\s*(?:{edge}|[-+*/×÷^=·−(\[])$", "", run).strip()
    return run


def _balanced(text: str) -> str:
    for opener, closer in ("()", "[]"):
        while text.count(opener) > text.count(closer) and text.startswith(opener):
            text = text[1:].strip()
        while text.count(closer) > text.count(opener) and text.endswith(closer):
            text = text[:-1].strip()
    return text


def _is_computation(expression: str, *, claimed: bool = False) -> bool:
    """An operation, not a lone number, fraction, percentage, date or range. "5-10" written tight
    with nothing after it is a range (pages 5-10); "12 - 7", or "12-7 = 5" with a result, subtracts;
    "60 / 12 = 7" with a result divides (or simplifies: "6/8 = 3/4"), so it is checked too."""
    if re.search(r"\d+/\d+/\d+", expression) or (not claimed and re.fullmatch(r"\d+-\d+(?:-\d+)*", expression)):
        return False
    try:
        tree = parse(to_python_syntax(expression.replace("$", "").replace("£", "").replace("€", "")),
                     EXPRESSION_LIMITS, mode="eval")
    except MathsError:
        return False
    body = tree.body  # type: ignore[attr-defined]
    while isinstance(body, ast.UnaryOp):
        body = body.operand
    if isinstance(body, ast.Constant):
        return False
    lone = ("mixed", "percent") if claimed else ("frac", "mixed", "percent")
    return not (isinstance(body, ast.Call) and isinstance(body.func, ast.Name) and body.func.id in lone)


def cut_off(side: str) -> bool:
    """A side that starts with an operator ("* 1/4", "- 5 + 3") lost its left operand to the words
    before it; "-5 + 3" (a tight minus) is a negative number."""
    return re.match(r"\s*(?:[+*/×÷^·]|[-−](?!\d))", side) is not None


_ARTICLE = re.compile(r"(?<=[\d)])\s+[aAI]$")   # "= 104000 a year": the article, not an unknown a
_LETTER_LABEL = re.compile(r"^[A-Za-z]\s*=\s*(?=[^=]+=)")
# "to a 12 - 2 = 10 pound weight", "that's 60 / 12 = 5": a word's letter before the numbers (x is times)
_LEADING_ARTICLE = re.compile(r"^[A-WYZa-wyz]\s+(?=[$£€\d(])")


def as_arithmetic(run: str) -> str:
    """A run as arithmetic where its letters are words, not unknowns: the x of "7 x 8" and "3x4" is
    times when no other letter is left ("3x + 4 = 10" keeps its unknown), and an "a" or "I" before
    or after the numbers is a word of the sentence ("a 12 - 2 = 10 pound weight", "= 104000 a year")."""
    run = _LEADING_ARTICLE.sub("", _ARTICLE.sub("", run.strip()))
    label = _LETTER_LABEL.match(run)
    if label and not re.search(r"[A-Za-z]", TIMES_X.sub(" × ", run[label.end():])):
        run = "= " + run[label.end():]     # "B = 64 / 8 = 7": a named result worked out, not an equation
    times = TIMES_X.sub(" × ", run)
    return times if not re.search(r"[A-Za-z]", _trim(times, keep_letters=False)) else run


def _from_run(run: str) -> list[Computation]:
    """The computations a run of maths states: an equation to solve, or an arithmetic chain with each
    of its expressions ("Total = 6 + 4 × 2 = 6 + 8 = 15": 6 + 4 × 2 and 6 + 8) checked against the
    chain's last result, which is what the writer claims."""
    run = as_arithmetic(run)
    if "=" in run and re.search(r"[A-Za-z]", run):
        equation = _equation(_trim(run, keep_letters=True))
        return [equation] if equation is not None else []
    raw = run.split("=")
    while raw and not raw[0].strip():      # a label before the chain: "Total = 15 × 80 = 1199"
        raw.pop(0)
    if raw and cut_off(raw[0]):            # "64 cars * 1/4 = 16": its left operand is in the words
        raw.pop(0)
    sides = [_balanced(_trim(side, keep_letters=False)) for side in raw]
    if not sides:
        return []
    claimed = next((s for s in reversed(sides[1:]) if s), None)
    computations = []
    for position, side in enumerate(sides[:-1] if claimed is not None else sides):
        if not side or not _is_computation(side, claimed=claimed is not None):
            continue
        if re.search(r"[A-Za-z]", side) or (position > 0 and side == claimed):
            continue
        try:
            computations.append(_expression(side, claimed=claimed))
        except (MathsError, ValueError, ZeroDivisionError):   # the engine's to refuse, not to crash on
            continue
    return computations


def _equation(run: str) -> Computation | None:
    if run.count("=") != 1:
        return None
    left, right = (s.strip() for s in run.split("="))
    variable = variable_of(run)
    if not left or not right or variable is None:
        return None
    # "x = 4" states a result; it asks nothing
    if re.fullmatch(rf"{variable}", left) and _is_number(right) or re.fullmatch(rf"{variable}", right) and _is_number(left):
        return None
    solution = solve_linear(run)
    shown_value = show(solution.value)
    a1, b1 = solution.left
    a2, b2 = solution.right
    if a2 == 0:
        wrong = known.linear_equation(a1, b1, b2, variable=variable)
    elif a1 == 0:
        wrong = known.linear_equation(a2, b2, b1, variable=variable)
    else:
        wrong = known.linear_both_sides(a1, b1, a2, b2, variable=variable)
    bracket = re.fullmatch(r"\s*(\d+)\s*\(\s*[a-z]\s*([-+])\s*(\d+)\s*\)\s*", left)
    if bracket and a2 == 0:
        k, b = Fraction(int(bracket[1])), Fraction(int(bracket[3])) * (1 if bracket[2] == "+" else -1)
        wrong = known.bracket_equation(k, b, b2, variable=variable) + wrong
    distinct = {w.values: w for w in reversed(wrong)}   # the first listed wins when two give one value
    wrong = tuple(w for w in wrong if distinct[w.values] is w)
    return _computation("equation", solution.equation, [solution.value], f"{variable} = {shown_value}", solution.steps,
                        wrong=wrong, statement=f"{solution.equation}, so {variable} = {shown_value}")


def _is_number(text: str) -> bool:
    try:
        evaluate(text)
    except MathsError:
        return False
    return not _is_computation(text)


def _expression(expression: str, *, claimed: str | None) -> Computation:
    clean = expression.replace("$", "").replace("£", "").replace("€", "")
    evaluation = evaluate_with_steps(clean)
    value = evaluation.value
    fraction = _fraction_operation(clean)
    if fraction is not None:
        return _fraction_computation(fraction, evaluation.expression, value, claimed)
    decimal = re.fullmatch(rf"\s*({_NUM})\s*([-+×*])\s*({_NUM})\s*", clean)
    decimals = bool(re.search(r"\d\.\d|(?<!\d)\.\d", clean))
    wrong: tuple[WrongAnswer, ...] = ()
    kind = "decimals" if decimals else "arithmetic"
    if decimal and decimals:
        op = "×" if decimal[2] in "*×" else decimal[2]
        wrong = known.decimal_operation(decimal[1].replace(",", ""), op, decimal[3].replace(",", ""))
    else:
        wrong = known.order_of_operations(*order_variants(clean), right=value) \
            if len(re.findall(r"[-+*/×÷^]", clean)) >= 2 else ()
    result = show_value(value, decimals=decimals)
    return _computation(kind, evaluation.expression, [value], result, evaluation.steps, wrong=wrong, claimed=claimed)


_OPERAND = r"(?:(\d+)\s+)?(\d+)(?:\s*/\s*(\d+))?"


def _fraction_operation(expression: str) -> tuple[tuple[int, int], str, tuple[int, int], tuple[str, str]] | None:
    """Two operands (whole, fraction or mixed number, at least one a fraction) and one operation."""
    m = re.fullmatch(rf"\s*{_OPERAND}\s*([-+×*÷/])\s*{_OPERAND}\s*", expression)
    if m is None or (m[3] is None and m[7] is None):
        return None
    operands = []
    for whole, top, bottom in ((m[1], m[2], m[3]), (m[5], m[6], m[7])):
        if bottom is None:
            if whole is not None:
                return None
            operands.append((int(top), 1))
        else:
            if int(bottom) == 0:
                return None
            w = int(whole) if whole else 0
            operands.append((w * int(bottom) + int(top), int(bottom)))
    op = {"*": "×", "/": "÷"}.get(m[4], m[4])
    written = (m.group(0).split(m[4])[0].strip(), m.group(0).split(m[4], 1)[1].strip())
    return operands[0], op, operands[1], written


def _fraction_computation(parts, shown: str, value: Fraction, claimed: str | None) -> Computation:
    (n1, d1), op, (n2, d2), (first, second) = parts
    steps: list[str] = [shown]
    for written, (n, d) in ((first, (n1, d1)), (second, (n2, d2))):
        if " " in written:
            steps.append(f"{written} = {n}/{d}")
    if op in "+-":
        if d1 == d2:
            steps.append(f"The denominators are the same: {n1} {op} {n2} = {n1 + n2 if op == '+' else n1 - n2}, "
                         f"so the result is {n1 + n2 if op == '+' else n1 - n2}/{d1}")
            raw = (n1 + n2 if op == "+" else n1 - n2, d1)
        else:
            common = lcm(d1, d2)
            a, b = n1 * (common // d1), n2 * (common // d2)
            steps.append(f"A common denominator of {d1} and {d2} is {common}.")
            rewritten = [f"{n}/{d} = {m}/{common}" for n, d, m in ((n1, d1, a), (n2, d2, b)) if d != common]
            steps.append(" and ".join(rewritten))
            raw = (a + b if op == "+" else a - b, common)
            steps.append(f"{a}/{common} {op} {b}/{common} = {raw[0]}/{common}")
    elif op == "×":
        raw = (n1 * n2, d1 * d2)
        steps.append(f"Multiply the numerators and the denominators: ({n1} × {n2})/({d1} × {d2}) = {raw[0]}/{raw[1]}")
    else:
        raw = (n1 * d2, d1 * n2)
        steps.append(f"Dividing by {n2}/{d2} is multiplying by {d2}/{n2}: {n1}/{d1} × {d2}/{n2} = {raw[0]}/{raw[1]}")
    if Fraction(*raw) != value:   # unreachable unless the arithmetic above is wrong; never show it
        raise MathsError("The fraction working did not check out.")
    if raw[1] != value.denominator or raw[0] != value.numerator:
        steps.append(f"Simplify: {raw[0]}/{raw[1]} = {show(value)}")
    if abs(value) > 1 and value.denominator != 1:
        steps.append(f"As a mixed number: {show_mixed(value)}")
    wrong = known.fraction_operation(n1, d1, op, n2, d2)
    return _computation("fractions", shown, [value], show(value), steps, wrong=wrong, claimed=claimed)


def order_variants(expression: str) -> tuple[Fraction | None, Fraction | None]:
    """The value of a flat expression worked left to right, and with + and - done before × and ÷
    (the two order-of-operations slips); None where that reading has no value or is the same
    expression (brackets decide everything)."""
    tokens = re.findall(r"\d+(?:\.\d+)?|\*\*|[-+*/×÷^()]", expression.replace(",", ""))
    results = []
    for precedence in ({"+": 1, "-": 1, "×": 1, "÷": 1, "^": 3}, {"+": 2, "-": 2, "×": 1, "÷": 1, "^": 3}):
        try:
            results.append(_shunting_yard(tokens, precedence))
        except (MathsError, IndexError, ZeroDivisionError):
            results.append(None)
    return results[0], results[1]


def _shunting_yard(tokens: list[str], precedence: dict[str, int]) -> Fraction:
    symbols = {"*": "×", "/": "÷", "**": "^"}
    interpreter = Interpreter("", EXPRESSION_LIMITS)
    apply = {"+": ast.Add, "-": ast.Sub, "×": ast.Mult, "÷": ast.Div, "^": ast.Pow}
    output: list[Fraction] = []
    ops: list[str] = []

    def reduce() -> None:
        op = ops.pop()
        b, a = output.pop(), output.pop()
        interpreter.tick()
        output.append(interpreter.binary(apply[op], a, b))

    for token in tokens:
        token = symbols.get(token, token)
        if token[0].isdigit():
            output.append(decimal_literal(token))
        elif token == "(":
            ops.append(token)
        elif token == ")":
            while ops[-1] != "(":
                reduce()
            ops.pop()
        else:
            while ops and ops[-1] != "(" and (precedence[ops[-1]] > precedence[token] or
                                              (precedence[ops[-1]] == precedence[token] and token != "^")):
                reduce()
            ops.append(token)
    while ops:
        reduce()
    if len(output) != 1:
        raise MathsError("Not a flat expression.")
    return output[0]


def recognise(text: str) -> tuple[Computation, ...]:
    """Every computable question in `text`, computed; questions the engine refuses or cannot
    compute exactly are left out (they are not the engine's to answer)."""
    text = (text or "")[:MAX_TEXT_CHARS]
    for pattern, symbol in _WORD_OPERATORS:
        text = re.sub(pattern, f" {symbol} ", text, flags=re.IGNORECASE)
    text = text.replace("−", "-").replace("–", "-").replace("\xa0", " ")
    found: list[tuple[int, Computation]] = []
    for pattern, build in _PATTERNS:
        for m in pattern.finditer(text):
            try:
                found.append((m.start(), build(m)))
            except (MathsError, ValueError, KeyError):
                continue
            # blank it out so the arithmetic scan below does not read "15% of 80" again
            text = text[:m.start()] + "¦" * (m.end() - m.start()) + text[m.end():]
    offset = 0
    for run in expression_runs(text):
        offset = text.find(run, offset)
        try:
            computations = _from_run(run)
        except (MathsError, ValueError, ZeroDivisionError):
            continue
        found.extend((offset, computation) for computation in computations)
    found.sort(key=lambda pair: pair[0])
    unique: list[Computation] = []
    for _, computation in found:
        if all(c.statement != computation.statement for c in unique):
            unique.append(_with_stated_unknown(computation, text))
    return tuple(unique[:MAX_COMPUTATIONS])


def _with_stated_unknown(computation: Computation, text: str) -> Computation:
    """"Solve 2x + 3 = 11. I got x = 7": the student's "x = 7" is their claimed result."""
    if computation.kind != "equation" or computation.claimed is not None:
        return computation
    variable = computation.result.split("=")[0].strip()
    # "x = 7" on its own, not the end of the equation ("2*x + x = 24") nor a step of working ("x = 24/3 = 8")
    stated = next((m for m in re.finditer(
        rf"(?<![\w.]){variable}\s*=\s*(-?\d+(?:\.\d+)?(?:\s*/\s*\d+)?)(?!\w|\.\d|\s*[-+*/×÷^(=])", text)
        if not re.search(r"[-+*/×÷^()=\d]\s*$", text[:m.start()])), None)
    if stated is None:
        return computation
    return replace(computation, claimed=f"{variable} = {stated.group(1)}")


# -- word problems, computed from programs ---------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class ProgramVotes:
    computation: Computation | None    # None when too few programs agree
    agreeing: int                      # programs that returned the chosen value
    ran: int                           # programs that returned any value
    refusals: tuple[str, ...]          # why the others gave none


def chosen_value(values: Sequence[Fraction | None], *, min_agreeing: int) -> tuple[Fraction | None, int]:
    """The vote over programs' values: the value at least `min_agreeing` of them returned, with no
    other value as common (None on a tie or too few), and how many returned the leading value."""
    ranked = Counter(v for v in values if v is not None).most_common(2)
    if not ranked:
        return None, 0
    agreeing = ranked[0][1]
    if agreeing < min_agreeing or (len(ranked) > 1 and ranked[1][1] == agreeing):
        return None, agreeing
    return ranked[0][0], agreeing


def votes_settled(values: Sequence[Fraction | None], *, remaining: int, min_agreeing: int) -> bool:
    """More programs cannot change the vote: the leading value has `min_agreeing` programs and more
    than the runner-up could reach with the `remaining` ones. Writing stops there (a program costs
    seconds before the reply can start)."""
    ranked = Counter(v for v in values if v is not None).most_common(2)
    if not ranked or ranked[0][1] < min_agreeing:
        return False
    runner_up = ranked[1][1] if len(ranked) > 1 else 0
    return ranked[0][1] > runner_up + remaining


_NEGATIVE_WORDS = re.compile(r"negative|below\s+zero|minus|(?<![\w.])-\s*\d|\bdebt|\bowe", re.IGNORECASE)


def plausible_answer(value: Fraction, question: str) -> bool:
    """A word problem's answer a program may give: not negative unless the problem speaks of
    negatives (three programs agreed on -12 for "how many hours", GSM8K #67)."""
    return value >= 0 or _NEGATIVE_WORDS.search(question) is not None


def program_value(source: str, question: str) -> Fraction | None:
    """What a program returns for `question`, or None when the engine refuses it or the value is
    not a plausible answer."""
    try:
        value = run_program(source).value
    except MathsError:
        return None
    return value if plausible_answer(value, question) else None


def computation_from_programs(question: str, programs: Sequence[str], *, min_agreeing: int = 2) -> ProgramVotes:
    """Self-consistency over model-written programs for one word problem: run each (restricted,
    bounded), and keep the value that at least `min_agreeing` of them return and no other value
    matches as often. One program alone can be trusted with `min_agreeing=1`."""
    results: list[ProgramResult] = []
    refusals: list[str] = []
    for source in programs:
        try:
            result = run_program(source)
        except MathsError as exc:
            refusals.append(str(exc))
            continue
        if plausible_answer(result.value, question):
            results.append(result)
        else:
            refusals.append(f"The program returned {show(result.value)}, a negative answer to a problem that "
                            "mentions nothing negative.")
    value, agreeing = chosen_value([r.value for r in results], min_agreeing=min_agreeing)
    if value is None:
        return ProgramVotes(computation=None, agreeing=agreeing, ran=len(results), refusals=tuple(refusals))
    chosen = next(r for r in results if r.value == value)
    decimals = value.denominator != 1 and terminates(value)
    shown = show_value(value, decimals=decimals)
    question_line = " ".join(question.split())
    expression = question_line if len(question_line) <= 160 else question_line[:159] + "…"
    computation = _computation("word_problem", expression, [value], shown, chosen.trace,
                               statement=f"The answer to the word problem is {shown}")
    return ProgramVotes(computation=computation, agreeing=agreeing, ran=len(results), refusals=tuple(refusals))
