"""Practice items whose keys are computed in code, never by the model.

Each generator takes a `random.Random` and a difficulty (easy | medium | hard), picks the numbers
(so the key comes out a clean value for the level), computes the key exactly, lists the wrong
answers the common misconceptions give, and writes the worked steps. The model may later rephrase
the question's context; the numbers, the key and the verdicts stay the engine's.

`generator_for(topic)` maps the free-text topic a student or teacher typed ("Fractions",
"adding fractions", "BIDMAS", "Solving equations", "word problems") to a generator, or None when
no generator fits and the model has to write (and a program has to check) the item.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from math import gcd

from learner.maths import misconceptions as known
from learner.maths.linear import solve_linear
from learner.maths.misconceptions import Misconception, WrongAnswer
from learner.maths.numbers import round_to, show, show_decimal
from learner.maths.recognise import order_variants, recognise

DIFFICULTIES = ("easy", "medium", "hard")


@dataclass(frozen=True, slots=True, kw_only=True)
class GeneratedItem:
    topic: str                       # the generator's topic: "Fractions"
    skill: str                       # what this item practises: "fraction addition"
    difficulty: str
    question: str
    answer_key: str                  # what the student sees after answering: "5/6", "x = 4", "$7.50"
    values: tuple[Fraction, ...]     # the key's exact value(s)
    tolerance: Fraction = Fraction(0)
    require_simplest: bool = False
    wrong_answers: tuple[WrongAnswer, ...] = ()
    worked_steps: tuple[str, ...] = ()
    checked: bool = True             # the key was computed by the engine, not written by a model

    @property
    def value(self) -> Fraction | None:
        return self.values[0] if len(self.values) == 1 else None


ItemGenerator = Callable[[random.Random, str], GeneratedItem]


def _level(difficulty: str) -> str:
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"Unknown difficulty {difficulty!r}: expected one of {', '.join(DIFFICULTIES)}.")
    return difficulty


def _steps_for(expression: str) -> tuple[str, ...]:
    found = recognise(expression)
    return found[0].steps if found else ()


# -- fractions ---------------------------------------------------------------------------------------

def _proper(rng: random.Random, denominators: range) -> tuple[int, int]:
    d = rng.choice(denominators)
    return rng.randint(1, d - 1), d


def fraction_item(rng: random.Random, difficulty: str) -> GeneratedItem:
    level = _level(difficulty)
    op = {"easy": rng.choice("+-"), "medium": rng.choice("+-×"), "hard": rng.choice("×÷+")}[level]
    if level == "easy":
        d = rng.randint(3, 12)
        n1, n2 = rng.sample(range(1, d), 2) if d > 2 else (1, 1)
        first, second = (n1, d), (n2, d)
    else:
        denominators = range(2, 11) if level == "medium" else range(2, 13)
        first, second = _proper(rng, denominators), _proper(rng, denominators)
        while op in "+-" and first[1] == second[1]:
            second = _proper(rng, denominators)
    if op == "-" and Fraction(*first) < Fraction(*second):
        first, second = second, first
    if op == "-" and Fraction(*first) == Fraction(*second):
        first = (first[0] + 1, first[1]) if first[0] + 1 < first[1] else (first[0], first[1] + 1)
    a, b = Fraction(*first), Fraction(*second)
    value = {"+": a + b, "-": a - b, "×": a * b, "÷": a / b}[op]
    expression = f"{first[0]}/{first[1]} {op} {second[0]}/{second[1]}"
    skill = {"+": "adding fractions", "-": "subtracting fractions", "×": "multiplying fractions",
             "÷": "dividing fractions"}[op]
    return GeneratedItem(
        topic="Fractions", skill=skill, difficulty=level,
        question=f"What is {expression}? Give your answer as a fraction in its simplest form.",
        answer_key=show(value), values=(value,), require_simplest=True,
        wrong_answers=known.fraction_operation(first[0], first[1], op, second[0], second[1]),
        worked_steps=_steps_for(expression))


def equivalent_fraction_item(rng: random.Random, difficulty: str) -> GeneratedItem:
    level = _level(difficulty)
    d = rng.randint(2, 9 if level == "easy" else 12)
    n = rng.randint(1, d - 1)
    while gcd(n, d) != 1:
        n = rng.randint(1, d - 1)
    k = rng.randint(2, 5 if level == "easy" else 9)
    if level == "easy" or (level == "hard" and rng.random() < 0.5):
        big_n, big_d = n * k, d * k
        return GeneratedItem(
            topic="Fractions", skill="simplifying fractions", difficulty=level,
            question=f"Write {big_n}/{big_d} in its simplest form.", answer_key=f"{n}/{d}", values=(Fraction(n, d),),
            require_simplest=True, wrong_answers=known.simplify_fraction(big_n, big_d),
            worked_steps=(f"The greatest common factor of {big_n} and {big_d} is {k}.",
                          f"{big_n} ÷ {k} = {n} and {big_d} ÷ {k} = {d}", f"{big_n}/{big_d} = {n}/{d}"))
    missing_top = level == "medium" or rng.random() < 0.5
    if missing_top:
        question = f"Fill in the missing number: {n}/{d} = ?/{d * k}"
        value, added = n * k, n + (d * k - d)
        steps = (f"{d} × {k} = {d * k}, so multiply the numerator by {k} too.", f"{n} × {k} = {n * k}")
    else:
        question = f"Fill in the missing number: {n}/{d} = {n * k}/?"
        value, added = d * k, d + (n * k - n)
        steps = (f"{n} × {k} = {n * k}, so multiply the denominator by {k} too.", f"{d} × {k} = {d * k}")
    wrong = known.word_problem(Fraction(value), [(Fraction(added), known.FRACTION_EQUIVALENT_ADDED)])
    return GeneratedItem(topic="Fractions", skill="equivalent fractions", difficulty=level, question=question,
                         answer_key=str(value), values=(Fraction(value),), wrong_answers=wrong, worked_steps=steps)


def fractions_item(rng: random.Random, difficulty: str) -> GeneratedItem:
    """The "Fractions" topic: operations mostly, equivalence sometimes."""
    return (equivalent_fraction_item if rng.random() < 0.3 else fraction_item)(rng, difficulty)


# -- decimals and rounding ---------------------------------------------------------------------------

def _decimal(rng: random.Random, places: int, low: int, high: int) -> str:
    """A decimal with exactly `places` places (the last digit not 0), written as a string."""
    whole = rng.randint(low, high)
    digits = rng.randint(1, 10 ** places - 1)
    while digits % 10 == 0:
        digits = rng.randint(1, 10 ** places - 1)
    return f"{whole}.{str(digits).rjust(places, '0')}"


def decimal_item(rng: random.Random, difficulty: str) -> GeneratedItem:
    level = _level(difficulty)
    if level == "easy":
        op, a, b = "+", _decimal(rng, 1, 0, 9), _decimal(rng, 2, 0, 9)
    elif level == "medium":
        op = rng.choice("+-")
        a, b = _decimal(rng, 2, 1, 20), _decimal(rng, 1, 0, 9)
        if op == "-" and Fraction(a) < Fraction(b):
            a, b = b, a
    else:
        op, a, b = "×", _decimal(rng, 1, 0, 9), _decimal(rng, 1, 0, 5)
    if rng.random() < 0.5 and op == "+":
        a, b = b, a
    value = {"+": Fraction(a) + Fraction(b), "-": Fraction(a) - Fraction(b), "×": Fraction(a) * Fraction(b)}[op]
    expression = f"{a} {op} {b}"
    return GeneratedItem(
        topic="Decimals", skill={"+": "adding decimals", "-": "subtracting decimals", "×": "multiplying decimals"}[op],
        difficulty=level, question=f"What is {expression}?", answer_key=show_decimal(value), values=(value,),
        wrong_answers=known.decimal_operation(a, op, b), worked_steps=_steps_for(expression))


_ROUNDING_PLACES = {"easy": [("the nearest whole number", Fraction(1)), ("the nearest ten", Fraction(10))],
                    "medium": [("1 decimal place", Fraction(1, 10)), ("the nearest hundred", Fraction(100))],
                    "hard": [("2 decimal places", Fraction(1, 100)), ("3 decimal places", Fraction(1, 1000))]}


def rounding_item(rng: random.Random, difficulty: str) -> GeneratedItem:
    level = _level(difficulty)
    words, step = rng.choice(_ROUNDING_PLACES[level])
    if step >= 10:
        written = _decimal(rng, 1, int(step), int(step) * 99)
    else:
        written = _decimal(rng, {1: 2, Fraction(1, 10): 3, Fraction(1, 100): 4, Fraction(1, 1000): 5}[step], 0, 99)
    value = Fraction(written)
    key = round_to(value, step)
    places = {Fraction(1, 10): 1, Fraction(1, 100): 2, Fraction(1, 1000): 3}.get(step, 0)
    shown = show_decimal(key, places=places) if places else show(key)
    return GeneratedItem(
        topic="Decimals", skill="rounding", difficulty=level, question=f"Round {written} to {words}.",
        answer_key=shown, values=(key,), wrong_answers=known.rounding(value, step),
        worked_steps=_steps_for(f"round {written} to {words}"))


def decimals_item(rng: random.Random, difficulty: str) -> GeneratedItem:
    return (rounding_item if rng.random() < 0.35 else decimal_item)(rng, difficulty)


# -- percentages -------------------------------------------------------------------------------------

def percentage_item(rng: random.Random, difficulty: str) -> GeneratedItem:
    level = _level(difficulty)
    if level == "easy":
        p = rng.choice([10, 20, 25, 50, 75, 5])
        n = rng.randint(1, 20) * (100 // gcd(p, 100))
        value = Fraction(p * n, 100)
        question = f"What is {p}% of {n}?"
        wrong, skill = known.percent_of(p, n), "percentage of an amount"
    elif level == "medium":
        p = rng.choice([5, 10, 15, 20, 25, 30, 40])
        n = rng.randint(2, 30) * (100 // gcd(p, 100))
        increase = rng.random() < 0.5
        value = Fraction(n) * (100 + p if increase else 100 - p) / 100
        question = f"{'Increase' if increase else 'Decrease'} {n} by {p}%."
        wrong, skill = known.percent_change_amount(n, p, increase=increase), "percentage increase and decrease"
    else:
        original = rng.choice([20, 25, 40, 50, 80, 120, 200, 250])
        p = rng.choice([5, 10, 15, 20, 25, 30, 40, 50, 60, 75])
        while (original * p) % 100:
            p = rng.choice([10, 20, 25, 50])
        if rng.random() < 0.5:
            new = original + original * p // 100
            value = Fraction(new - original, original)
            question = f"A price rises from ${original} to ${new}. What is the percentage increase?"
            wrong, skill = known.percent_change(original, new), "percentage change"
        else:
            part = original * p // 100
            value = Fraction(part, original)
            question = f"What percentage of {original} is {part}?"
            wrong, skill = known.percent_ratio(part, original), "one number as a percentage of another"
        key = f"{show_decimal(value * 100)}%"
        return GeneratedItem(topic="Percentages", skill=skill, difficulty=level, question=question, answer_key=key,
                             values=(value,), wrong_answers=wrong, worked_steps=_steps_for(question))
    return GeneratedItem(topic="Percentages", skill=skill, difficulty=level, question=question,
                         answer_key=show_decimal(value), values=(value,), wrong_answers=wrong,
                         worked_steps=_steps_for(question))


# -- ratio -------------------------------------------------------------------------------------------

def ratio_item(rng: random.Random, difficulty: str) -> GeneratedItem:
    level = _level(difficulty)
    if level == "easy":
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        while gcd(a, b) != 1 or a == b:
            a, b = rng.randint(1, 9), rng.randint(1, 9)
        k = rng.randint(2, 9)
        parts = [a * k, b * k]
        question = f"Simplify the ratio {parts[0]}:{parts[1]}."
        return GeneratedItem(topic="Ratio", skill="simplifying ratios", difficulty=level, question=question,
                             answer_key=f"{a}:{b}", values=(Fraction(a), Fraction(b)), require_simplest=True,
                             wrong_answers=known.simplify_ratio(parts), worked_steps=_steps_for(question))
    count = 2 if level == "medium" else 3
    parts = [rng.randint(1, 7) for _ in range(count)]
    while len(set(parts)) != count:
        parts = [rng.randint(1, 7) for _ in range(count)]
    one_part = rng.randint(2, 15)
    total = one_part * sum(parts)
    ratio = ":".join(map(str, parts))
    index = parts.index(max(parts)) if rng.random() < 0.5 else parts.index(min(parts))
    which = "larger" if count == 2 and index == parts.index(max(parts)) else "smaller" if count == 2 else \
        "largest" if index == parts.index(max(parts)) else "smallest"
    value = Fraction(one_part * parts[index])
    question = f"Share {total} in the ratio {ratio}. How much is the {which} share?"
    return GeneratedItem(topic="Ratio", skill="sharing in a ratio", difficulty=level, question=question,
                         answer_key=show(value), values=(value,),
                         wrong_answers=known.ratio_share_part(total, parts, index),
                         worked_steps=_steps_for(f"Share {total} in the ratio {ratio}"))


# -- order of operations -----------------------------------------------------------------------------

def order_of_operations_item(rng: random.Random, difficulty: str) -> GeneratedItem:
    level = _level(difficulty)
    r = rng.randint
    power_value: Fraction | None = None
    if level == "easy":
        a, b, c = r(2, 20), r(2, 9), r(2, 9)
        expression = rng.choice([f"{a} + {b} × {c}", f"{b} × {c} - {min(a, b * c - 1)}", f"{a * b} ÷ {b} + {c}"])
    elif level == "medium":
        a, b, c, d = r(2, 9), r(2, 9), r(2, 9), r(2, 9)
        e = r(2, 6)
        expression = rng.choice([f"{a} × ({b} + {c}) - {d}", f"{a} + {b} × {c} - {d * e} ÷ {e}",
                                 f"({a} + {b}) × {c} - {d}", f"{a * b} ÷ {b} + {c} × {d}"])
    else:
        a, b, c, d = r(2, 9), r(2, 5), r(2, 6), r(2, 9)
        form = rng.randrange(3)
        if form == 0:
            expression = f"{a} + {b}² × {c}"
            power_value = Fraction(a + b * 2 * c)
        elif form == 1:
            expression = f"({a} + {b})² - {c} × {d}"
            power_value = Fraction((a + b) * 2 - c * d)
        else:
            expression = f"{a * c} ÷ {c} + {b}³ - {d}"
            power_value = Fraction(a + b * 3 - d)
    found = recognise(expression)
    value = found[0].value if found else None
    assert value is not None   # the expression is built from whole numbers and whole divisions
    left_to_right, addition_first = order_variants(expression.replace("²", "^2").replace("³", "^3"))
    return GeneratedItem(
        topic="Order of operations", skill="order of operations", difficulty=level,
        question=f"Work out {expression}.", answer_key=show(value), values=(value,),
        wrong_answers=known.order_of_operations(left_to_right, addition_first, value, power_value),
        worked_steps=found[0].steps)


# -- linear equations --------------------------------------------------------------------------------

def one_step_equation_item(rng: random.Random, difficulty: str) -> GeneratedItem:
    level = _level(difficulty)
    x = rng.randint(1, 12) if level != "hard" else rng.randint(-12, 20)
    a = rng.randint(2, 12)
    form = rng.randrange(4)
    equation = [f"x + {a} = {x + a}", f"x - {a} = {x - a}", f"{a}x = {a * x}", f"x/{a} = {x}"][form]
    if form == 3:   # x/a = x_value reads as x = a·value
        equation, x = f"x/{a} = {x}", x * a
    return _equation_item("One-step equations", "one-step equations", level, equation, Fraction(x))


def two_step_equation_item(rng: random.Random, difficulty: str) -> GeneratedItem:
    level = _level(difficulty)
    x = rng.randint(1, 10) if level == "easy" else rng.randint(-9, 15)
    a, b = rng.randint(2, 9), rng.randint(1, 20)
    if level == "hard":
        form = rng.randrange(2)
        if form == 0:
            k = rng.randint(2, 6)
            equation = f"{k}(x + {b}) = {k * (x + b)}"
        else:
            c = rng.randint(1, a - 1) if a > 2 else 1
            d = a * x + b - c * x
            equation = f"{a}x + {b} = {c}x + {d}" if d >= 0 else f"{a}x + {b} = {c}x - {-d}"
        return _equation_item("Two-step equations", "equations with brackets or x on both sides", level, equation,
                              Fraction(x))
    sign = rng.choice("+-")
    right = a * x + b if sign == "+" else a * x - b
    return _equation_item("Two-step equations", "two-step equations", level, f"{a}x {sign} {b} = {right}",
                          Fraction(x))


def _equation_item(topic: str, skill: str, level: str, equation: str, x: Fraction) -> GeneratedItem:
    solution = solve_linear(equation)
    if solution.value != x:   # the numbers were chosen for x; a mismatch would be a bug here, never shown
        raise AssertionError(f"{equation} does not give x = {x}")
    found = recognise(equation)
    wrong = found[0].wrong_answers if found else ()
    return GeneratedItem(topic=topic, skill=skill, difficulty=level, question=f"Solve {equation}.",
                         answer_key=f"x = {show(x)}", values=(x,), wrong_answers=wrong, worked_steps=solution.steps)


def equations_item(rng: random.Random, difficulty: str) -> GeneratedItem:
    return (one_step_equation_item if difficulty == "easy" else two_step_equation_item)(rng, difficulty)


# -- whole-number arithmetic -------------------------------------------------------------------------

def arithmetic_item(rng: random.Random, difficulty: str) -> GeneratedItem:
    level = _level(difficulty)
    high = {"easy": 12, "medium": 50, "hard": 250}[level]
    op = rng.choice("+-×÷")
    a, b = rng.randint(2, high), rng.randint(2, 12 if op in "×÷" else high)
    if op == "-" and a < b:
        a, b = b, a
    if op == "÷":
        a = a * b
    value = {"+": Fraction(a + b), "-": Fraction(a - b), "×": Fraction(a * b), "÷": Fraction(a, b)}[op]
    wrong_ops = {"+": [(Fraction(a - b), known.WORD_WRONG_OPERATION)], "-": [(Fraction(a + b), known.WORD_WRONG_OPERATION)],
                 "×": [(Fraction(a + b), known.WORD_WRONG_OPERATION)], "÷": [(Fraction(a * b), known.WORD_WRONG_OPERATION)]}
    expression = f"{a} {op} {b}"
    return GeneratedItem(topic="Arithmetic", skill="whole-number arithmetic", difficulty=level,
                         question=f"What is {expression}?", answer_key=show(value), values=(value,),
                         wrong_answers=known.word_problem(value, wrong_ops[op]), worked_steps=_steps_for(expression))


# -- word problems -----------------------------------------------------------------------------------

_NAMES = ("Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kofi", "Lena", "Mia", "Nico")


def _money_text(value: Fraction) -> str:
    return show(value) if value.denominator == 1 else show_decimal(value, places=2)


def word_problem_item(rng: random.Random, difficulty: str) -> GeneratedItem:
    level = _level(difficulty)
    templates = {"easy": ("trays_left", "shared_then_more"), "medium": ("trays_left", "change", "fraction_walk"),
                 "hard": ("change", "discount", "journey", "fraction_walk")}[level]
    template = rng.choice(templates)
    name = rng.choice(_NAMES)
    r = rng.randint
    wrong: list[tuple[Fraction, Misconception]]
    if template == "trays_left":
        trays, each = r(2, 6 if level == "easy" else 12), r(3, 12)
        sold = r(1, trays * each - 1)
        value = Fraction(trays * each - sold)
        question = (f"{name} bakes {trays} trays of {each} muffins and sells {sold} of them. "
                    "How many muffins are left?")
        steps = (f"{trays} × {each} = {trays * each} muffins", f"{trays * each} - {sold} = {value}")
        wrong = [(Fraction(trays * each + sold), known.WORD_WRONG_OPERATION),
                 (Fraction(trays * each), known.WORD_MISSED_STEP),
                 (Fraction(trays + each + sold), known.WORD_ADDED_ALL_NUMBERS),
                 (Fraction(trays + each - sold), known.WORD_WRONG_OPERATION)]
    elif template == "shared_then_more":
        friends, each, more = r(2, 6), r(2, 10), r(1, 9)
        total = friends * each
        value = Fraction(each + more)
        question = (f"{total} stickers are shared equally among {friends} friends. Then each friend gets {more} more "
                    "stickers. How many stickers does each friend have now?")
        steps = (f"{total} ÷ {friends} = {each}", f"{each} + {more} = {value}")
        wrong = [(Fraction(each), known.WORD_MISSED_STEP), (Fraction(total + more), known.WORD_WRONG_OPERATION),
                 (Fraction(total + friends + more), known.WORD_ADDED_ALL_NUMBERS)]
    elif template == "change":
        count = r(2, 6)
        # whole dollars, or (hard) multiples of 5 cents
        price = Fraction(r(1, 9)) if level != "hard" else Fraction(r(10, 190) * 5, 100)
        note = next(n for n in (5, 10, 20, 50, 100) if n > count * price)
        value = note - count * price
        question = (f"{name} buys {count} notebooks at ${_money_text(price)} each and pays with a ${note} note. "
                    "How much change does " + name + " get, in dollars?")
        steps = (f"{count} × {_money_text(price)} = {_money_text(count * price)}",
                 f"{note} - {_money_text(count * price)} = {_money_text(value)}")
        wrong = [(count * price, known.WORD_MISSED_STEP), (note - price, known.WORD_MISSED_STEP),
                 (note + count * price, known.WORD_WRONG_OPERATION)]
    elif template == "discount":
        price = Fraction(r(2, 40) * 5)
        percent = rng.choice([10, 20, 25, 30, 40, 50])
        value = price * (100 - percent) / 100
        question = f"A jacket costs ${show(price)}. It is on sale for {percent}% off. What is the sale price, in dollars?"
        steps = (f"{percent}% of {show(price)} = {_money_text(price * percent / 100)}",
                 f"{show(price)} - {_money_text(price * percent / 100)} = {_money_text(value)}")
        wrong = [(price * percent / 100, known.PERCENT_GAVE_CHANGE_ONLY),
                 (price - percent, known.PERCENT_ADDED_AS_NUMBER)]
    elif template == "journey":
        speed, hours, extra = r(4, 12) * 5, r(2, 5), r(3, 40)
        value = Fraction(speed * hours + extra)
        question = (f"A train travels at {speed} km per hour for {hours} hours, then {extra} km more. "
                    "How far does it travel in total, in km?")
        steps = (f"{speed} × {hours} = {speed * hours} km", f"{speed * hours} + {extra} = {value} km")
        wrong = [(Fraction(speed * hours), known.WORD_MISSED_STEP),
                 (Fraction(speed + hours + extra), known.WORD_ADDED_ALL_NUMBERS),
                 (Fraction(speed * hours - extra), known.WORD_WRONG_OPERATION)]
    else:   # fraction_walk
        denominator = rng.choice([3, 4, 5, 6, 8, 10])
        numerator = r(1, denominator - 1)
        while gcd(numerator, denominator) != 1:
            numerator = r(1, denominator - 1)
        students = denominator * r(3, 8)
        walkers = students * numerator // denominator
        value = Fraction(students - walkers)
        question = (f"A class has {students} students. {numerator}/{denominator} of them walk to school. "
                    "How many students do not walk to school?")
        steps = (f"{students} ÷ {denominator} × {numerator} = {walkers} walk", f"{students} - {walkers} = {value}")
        wrong = [(Fraction(walkers), known.WORD_MISSED_STEP),
                 (Fraction(students - numerator), known.WORD_WRONG_OPERATION),
                 (Fraction(students, denominator), known.WORD_MISSED_STEP)]
    key = _money_text(value) if template in ("change", "discount") else show(value)
    return GeneratedItem(topic="Word problems", skill=template, difficulty=level, question=question, answer_key=key,
                         values=(value,), wrong_answers=known.word_problem(value, wrong), worked_steps=steps)


# -- topics ------------------------------------------------------------------------------------------

TOPICS: dict[str, ItemGenerator] = {
    "Fractions": fractions_item,
    "Equivalent fractions": equivalent_fraction_item,
    "Decimals": decimals_item,
    "Rounding": rounding_item,
    "Percentages": percentage_item,
    "Ratio": ratio_item,
    "Order of operations": order_of_operations_item,
    "One-step equations": one_step_equation_item,
    "Two-step equations": two_step_equation_item,
    "Equations": equations_item,
    "Word problems": word_problem_item,
    "Arithmetic": arithmetic_item,
}

# First match wins: the specific phrases before the general words they contain.
_TOPIC_WORDS: tuple[tuple[str, str], ...] = (
    (r"order of op|bidmas|bodmas|pemdas|bedmas|precedence", "Order of operations"),
    (r"one[- ]step", "One-step equations"),
    (r"two[- ]step|multi[- ]step equation", "Two-step equations"),
    (r"word problem|story problem|problem solving|real[- ]life", "Word problems"),
    (r"equivalen|simplif\w* fraction|simplest form|lowest terms", "Equivalent fractions"),
    (r"fraction", "Fractions"),
    (r"round", "Rounding"),
    (r"decimal", "Decimals"),
    (r"percent|%", "Percentages"),
    (r"ratio|proportion", "Ratio"),
    (r"equation|algebra|solv\w* for|linear|unknown", "Equations"),
    ((r"arithmetic|times table|multiplication|division|addition|subtraction|mental (?:math|maths)|"
     r"number facts"), "Arithmetic"),
)


def generator_for(topic: str) -> ItemGenerator | None:
    """The generator for a topic as people name it ("Fractions", "adding fractions", "BIDMAS",
    "solving equations"), or None when none fits."""
    lowered = (topic or "").strip().lower()
    if not lowered:
        return None
    for pattern, name in _TOPIC_WORDS:
        if re.search(pattern, lowered):
            return TOPICS[name]
    return None


def generate(topic: str, *, difficulty: str = "medium", seed: int | None = None,
             rng: random.Random | None = None) -> GeneratedItem | None:
    """One item for `topic`, or None when no generator fits it."""
    generator = generator_for(topic)
    if generator is None:
        return None
    return generator(rng or random.Random(seed), _level(difficulty))
