"""Known misconceptions, and the wrong answers each one produces for a given problem.

A tutor that sees "2/3 + 1/6 = 3/9" should say "you added the tops and the bottoms", not just
"wrong". Each builder here takes the numbers of one kind of problem and returns the wrong answers
that the common mistakes give, each tagged with its `Misconception`. The recogniser attaches them
to a `Computation`, the generators to a `GeneratedItem`; `learner.maths.answers.judge` names the
one a student's answer matches. A mistake that happens to give the right answer is left out.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import gcd

from learner.maths.numbers import round_to, show, show_decimal, terminates


@dataclass(frozen=True, slots=True, kw_only=True)
class Misconception:
    code: str            # stable identifier for logs and tests: "fraction_added_across"
    name: str            # for a teacher: "added the numerators and the denominators"
    hint: str            # for the student: what to look at again, without giving the answer


@dataclass(frozen=True, slots=True, kw_only=True)
class WrongAnswer:
    answer: str                   # as a student would write it: "3/9"
    values: tuple[Fraction, ...]  # its exact value(s); two or more for a shared amount
    misconception: Misconception


def _m(code: str, name: str, hint: str) -> Misconception:
    return Misconception(code=code, name=name, hint=hint)


FRACTION_ADDED_ACROSS = _m(
    "fraction_added_across", "added the numerators and added the denominators",
    "Fractions are added as parts of the same-sized pieces: first write both with a common denominator, "
    "then add only the numerators.")
FRACTION_SUBTRACTED_ACROSS = _m(
    "fraction_subtracted_across", "subtracted the numerators and subtracted the denominators",
    "Write both fractions with a common denominator first; then subtract only the numerators.")
FRACTION_NO_COMMON_DENOMINATOR = _m(
    "fraction_no_common_denominator", "combined the numerators without finding a common denominator",
    "The pieces are different sizes: rewrite both fractions over the same denominator before combining "
    "the numerators.")
FRACTION_DENOMINATORS_MULTIPLIED_ONLY = _m(
    "fraction_denominators_multiplied_only", "multiplied the denominators but did not rescale the numerators",
    "When you change a denominator, multiply the numerator by the same number, so the fraction keeps its value.")
FRACTION_KEPT_DENOMINATOR_IN_PRODUCT = _m(
    "fraction_kept_denominator_in_product", "multiplied the numerators but kept the denominator",
    "To multiply fractions, multiply the numerators together and the denominators together.")
FRACTION_COMMON_DENOMINATOR_IN_PRODUCT = _m(
    "fraction_common_denominator_in_product", "wrote both over a common denominator, then multiplied only the numerators",
    "Multiplying fractions needs no common denominator: multiply the numerators and the denominators.")
FRACTION_MULTIPLIED_NOT_DIVIDED = _m(
    "fraction_multiplied_not_divided", "multiplied instead of dividing",
    "Dividing by a fraction is the same as multiplying by its reciprocal (flip the second fraction).")
FRACTION_FLIPPED_FIRST = _m(
    "fraction_flipped_first", "flipped the first fraction instead of the second",
    "Keep the first fraction as it is and flip only the one you divide by.")
FRACTION_PARTLY_SIMPLIFIED = _m(
    "fraction_partly_simplified", "divided by a common factor but not the greatest one",
    "Check whether the numerator and denominator still share a factor.")
FRACTION_EQUIVALENT_ADDED = _m(
    "fraction_equivalent_added", "added the same number to the top and bottom instead of multiplying",
    "Equivalent fractions come from multiplying (or dividing) the numerator and denominator by the same number.")
DECIMAL_ALIGNED_RIGHT = _m(
    "decimal_aligned_right", "lined the digits up on the right instead of at the decimal point",
    "Line the numbers up at the decimal point, writing zeros in empty places, before adding or subtracting.")
DECIMAL_PLACES_IN_PRODUCT = _m(
    "decimal_places_in_product", "put the decimal point in the wrong place in the product",
    "Count the digits after the decimal point in both numbers; the product has that many.")
DECIMAL_TIMES_TEN_APPENDED_ZERO = _m(
    "decimal_times_ten_appended_zero", "wrote a zero on the end instead of moving the digits",
    "Multiplying by 10 moves every digit one place to the left; adding a zero after a decimal changes nothing.")
ROUNDING_TRUNCATED = _m(
    "rounding_truncated", "cut the digits off instead of rounding",
    "Look at the next digit: 5 or more rounds up.")
ROUNDING_WRONG_PLACE = _m(
    "rounding_wrong_place", "rounded to the wrong place value",
    "Find the digit in the place the question asks for first, then look one place to its right.")
PERCENT_NOT_DIVIDED_BY_100 = _m(
    "percent_not_divided_by_100", "used the percentage as a whole number (did not divide by 100)",
    "Per cent means out of 100: 15% is 15/100 of the amount.")
PERCENT_DIVIDED_BY_PERCENT = _m(
    "percent_divided_by_percent", "divided the amount by the percentage",
    "Find 1% first (divide by 100), then multiply by the percentage.")
PERCENT_GAVE_CHANGE_ONLY = _m(
    "percent_gave_change_only", "found the change but not the new amount",
    "After finding the increase or decrease, add it to or take it from the original amount.")
PERCENT_ADDED_AS_NUMBER = _m(
    "percent_added_as_number", "added or subtracted the percentage as if it were an amount",
    "A percentage is a part of the amount: work out that part before adding or subtracting.")
PERCENT_CHANGE_WRONG_BASE = _m(
    "percent_change_wrong_base", "divided the change by the new value instead of the original",
    "Percentage change compares the change with the original amount.")
PERCENT_CHANGE_DIFFERENCE_ONLY = _m(
    "percent_change_difference_only", "gave the difference instead of the percentage change",
    "Divide the change by the original amount, then multiply by 100.")
PERCENT_OF_RATIO_INVERTED = _m(
    "percent_of_ratio_inverted", "divided the whole by the part instead of the part by the whole",
    "Percentage = part ÷ whole × 100.")
RATIO_SPLIT_EQUALLY = _m(
    "ratio_split_equally", "split the amount equally, ignoring the ratio",
    "Add the ratio numbers to find how many equal parts there are, then share by parts.")
RATIO_DIVIDED_BY_EACH_PART = _m(
    "ratio_divided_by_each_part", "divided the amount by each number in the ratio",
    "First find the total number of parts, then the value of one part.")
RATIO_REVERSED = _m(
    "ratio_reversed", "matched the shares to the ratio the wrong way round",
    "The first number in the ratio belongs to the first person (or thing) named.")
RATIO_PART_AS_FRACTION_OF_OTHER = _m(
    "ratio_part_as_fraction_of_other", "used one ratio number over the other as the fraction of the total",
    "In a ratio 2:3 the shares are 2/5 and 3/5 of the total: divide by all the parts together.")
RATIO_PARTLY_SIMPLIFIED = _m(
    "ratio_partly_simplified", "divided by a common factor but not the greatest one",
    "Check whether the numbers still share a factor.")
ORDER_LEFT_TO_RIGHT = _m(
    "order_left_to_right", "worked from left to right, ignoring the order of operations",
    "Multiplication and division come before addition and subtraction (brackets and powers first of all).")
ORDER_ADDITION_FIRST = _m(
    "order_addition_first", "added or subtracted before multiplying or dividing",
    "Do the multiplication and division before the addition and subtraction.")
ORDER_POWER_AS_PRODUCT = _m(
    "order_power_as_product", "multiplied the base by the exponent instead of raising it to the power",
    "3² means 3 × 3, not 3 × 2.")
EQUATION_SIGN_ERROR = _m(
    "equation_sign_error", "moved a number across the equals sign without changing its sign",
    "Do the same to both sides: to remove + 3, subtract 3 from both sides.")
EQUATION_DIVIDED_FIRST = _m(
    "equation_divided_first", "divided only part of one side by the coefficient",
    "Undo the addition or subtraction first, then divide the whole side by the number in front of x.")
EQUATION_SUBTRACTED_COEFFICIENT = _m(
    "equation_subtracted_coefficient", "subtracted the coefficient instead of dividing by it",
    "2x means 2 × x: undo it by dividing both sides by 2.")
EQUATION_MULTIPLIED_BY_COEFFICIENT = _m(
    "equation_multiplied_by_coefficient", "multiplied by the coefficient instead of dividing",
    "To undo 'times 3', divide by 3.")
EQUATION_INVERTED_DIVISION = _m(
    "equation_inverted_division", "divided the coefficient by the number instead of the number by the coefficient",
    "If 4x = 12, then x = 12 ÷ 4.")
EQUATION_MOVED_TERM_SIGN = _m(
    "equation_moved_term_sign", "moved an x-term across the equals sign without changing its sign",
    "Subtract the same x-term from both sides.")
EQUATION_BRACKET_PARTLY_EXPANDED = _m(
    "equation_bracket_partly_expanded", "multiplied only the first term inside the bracket",
    "The number outside the bracket multiplies every term inside it.")
UNIT_WRONG_DIRECTION = _m(
    "unit_wrong_direction", "multiplied when converting instead of dividing (or the other way round)",
    "Going to a bigger unit gives a smaller number; going to a smaller unit gives a bigger number.")
UNIT_WRONG_FACTOR = _m(
    "unit_wrong_factor", "used the wrong conversion factor",
    "Check how many of the smaller unit make one of the larger (for example 100 cm in 1 m, 1000 m in 1 km).")
WORD_WRONG_OPERATION = _m(
    "word_wrong_operation", "used the wrong operation for a step",
    "Read the step again: is it joining, taking away, equal groups, or sharing?")
WORD_MISSED_STEP = _m(
    "word_missed_step", "stopped one step early",
    "Check the question again: what exactly does it ask for at the end?")
WORD_ADDED_ALL_NUMBERS = _m(
    "word_added_all_numbers", "added all the numbers in the question",
    "Decide what each number means before combining them.")

CATALOGUE: tuple[Misconception, ...] = tuple(v for k, v in dict(globals()).items()
                                             if k.isupper() and isinstance(v, Misconception))


def _answers(candidates: Iterable[tuple[str, Sequence[Fraction], Misconception]],
             right: Sequence[Fraction]) -> tuple[WrongAnswer, ...]:
    """Keep each distinct wrong value once, never the right one."""
    seen: set[tuple[Fraction, ...]] = {tuple(right)}
    kept: list[WrongAnswer] = []
    for answer, values, misconception in candidates:
        key = tuple(values)
        if key in seen:
            continue
        seen.add(key)
        kept.append(WrongAnswer(answer=answer, values=key, misconception=misconception))
    return tuple(kept)


def _as_fraction_text(numerator: int, denominator: int) -> str:
    return f"{numerator}/{denominator}"


# -- builders, one per kind of problem -------------------------------------------------------------

def fraction_operation(n1: int, d1: int, op: str, n2: int, d2: int) -> tuple[WrongAnswer, ...]:
    """`op` is one of + - × ÷; the fractions as written (2/3 + 1/6), not simplified."""
    a, b = Fraction(n1, d1), Fraction(n2, d2)
    right = {"+": a + b, "-": a - b, "×": a * b, "÷": a / b if b else a}[op]
    candidates: list[tuple[str, Sequence[Fraction], Misconception]] = []

    def fraction(numerator: int, denominator: int, misconception: Misconception) -> None:
        if denominator > 0:   # 1/6 - 1/9 "across" gives 0/-3, which no student writes down
            candidates.append((_as_fraction_text(numerator, denominator), (Fraction(numerator, denominator),),
                               misconception))

    if op == "+":
        fraction(n1 + n2, d1 + d2, FRACTION_ADDED_ACROSS)
        if d1 != d2:
            fraction(n1 + n2, max(d1, d2), FRACTION_NO_COMMON_DENOMINATOR)
            fraction(n1 + n2, d1 * d2, FRACTION_DENOMINATORS_MULTIPLIED_ONLY)
    elif op == "-":
        fraction(n1 - n2, d1 - d2, FRACTION_SUBTRACTED_ACROSS)
        if d1 != d2:
            fraction(n1 - n2, max(d1, d2), FRACTION_NO_COMMON_DENOMINATOR)
            fraction(n1 - n2, d1 * d2, FRACTION_DENOMINATORS_MULTIPLIED_ONLY)
    elif op == "×":
        if d1 == d2:
            fraction(n1 * n2, d1, FRACTION_KEPT_DENOMINATOR_IN_PRODUCT)
        else:   # 1/2 × 1/3 → 3/6 × 2/6 → 6/6: a common denominator, then the numerators multiplied
            fraction(n1 * d2 * n2 * d1, d1 * d2, FRACTION_COMMON_DENOMINATOR_IN_PRODUCT)
    elif op == "÷":
        fraction(n1 * n2, d1 * d2, FRACTION_MULTIPLIED_NOT_DIVIDED)
        fraction(d1 * n2, n1 * d2, FRACTION_FLIPPED_FIRST)
    return _answers(candidates, (right,))


def simplify_fraction(numerator: int, denominator: int) -> tuple[WrongAnswer, ...]:
    """A fraction divided by a common factor that is not the greatest: equal in value, not simplest."""
    common = gcd(numerator, denominator)
    for factor in range(2, common):
        if common % factor == 0:
            n, d = numerator // factor, denominator // factor
            return (WrongAnswer(answer=f"{n}/{d}", values=(Fraction(n, d),), misconception=FRACTION_PARTLY_SIMPLIFIED),)
    return ()


def decimal_operation(a_text: str, op: str, b_text: str) -> tuple[WrongAnswer, ...]:
    """Place-value slips for two decimals written as `a_text` and `b_text` (+ - ×)."""
    a, b = Fraction(a_text), Fraction(b_text)
    right = {"+": a + b, "-": a - b, "×": a * b}[op]
    candidates: list[tuple[str, Sequence[Fraction], Misconception]] = []
    places_a, places_b = _places(a_text), _places(b_text)
    if op in "+-" and places_a != places_b:
        # 0.3 + 0.45 read as 3 + 45 hundredths: the digits lined up on the right
        width = max(places_a, places_b)
        digits_a, digits_b = Fraction(a_text.replace(".", "")), Fraction(b_text.replace(".", ""))
        aligned = (digits_a + digits_b if op == "+" else digits_a - digits_b) / 10 ** width
        candidates.append((show_decimal(aligned), (aligned,), DECIMAL_ALIGNED_RIGHT))
    if op == "×" and places_a + places_b > 0:
        for shift in (-1, 1):
            moved = right * Fraction(10) ** shift
            candidates.append((show_decimal(moved), (moved,), DECIMAL_PLACES_IN_PRODUCT))
        if places_a and places_b:   # 0.2 × 0.3 = 0.6: the places of one factor only
            fewer = right * Fraction(10) ** min(places_a, places_b)
            candidates.append((show_decimal(fewer), (fewer,), DECIMAL_PLACES_IN_PRODUCT))
    return _answers(candidates, (right,))


def _places(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def rounding(value: Fraction, step: Fraction) -> tuple[WrongAnswer, ...]:
    """Rounding `value` to the nearest `step` (1/10, 1, 100, ...)."""
    value, step = Fraction(value), Fraction(step)
    right = round_to(value, step)
    truncated = Fraction(int(value / step)) * step
    candidates: list[tuple[str, Sequence[Fraction], Misconception]] = [
        (_show_like(truncated, step), (truncated,), ROUNDING_TRUNCATED)]
    for other in (step / 10, step * 10):
        wrong = round_to(value, other)
        if wrong == value:   # "rounding" that leaves the number as it was is not an answer anyone gives
            continue
        candidates.append((_show_like(wrong, other), (wrong,), ROUNDING_WRONG_PLACE))
    return _answers(candidates, (right,))


def _show_like(value: Fraction, step: Fraction) -> str:
    if step >= 1:
        return show(value)
    places = 0
    while (step * 10 ** places).denominator != 1:
        places += 1
    return show_decimal(value, places=places)


def percent_of(percent: Fraction, amount: Fraction) -> tuple[WrongAnswer, ...]:
    percent, amount = Fraction(percent), Fraction(amount)
    right = percent * amount / 100
    candidates: list[tuple[str, Sequence[Fraction], Misconception]] = [
        (_plain(percent * amount), (percent * amount,), PERCENT_NOT_DIVIDED_BY_100),
    ]
    if percent:
        candidates.append((_plain(amount / percent), (amount / percent,), PERCENT_DIVIDED_BY_PERCENT))
    return _answers(candidates, (right,))


def percent_change_amount(amount: Fraction, percent: Fraction, *, increase: bool) -> tuple[WrongAnswer, ...]:
    """Increase or decrease `amount` by `percent`%."""
    amount, percent = Fraction(amount), Fraction(percent)
    change = amount * percent / 100
    right = amount + change if increase else amount - change
    as_number = amount + percent if increase else amount - percent
    candidates = [
        (_plain(change), (change,), PERCENT_GAVE_CHANGE_ONLY),
        (_plain(as_number), (as_number,), PERCENT_ADDED_AS_NUMBER),
    ]
    return _answers(candidates, (right,))


def percent_change(original: Fraction, new: Fraction) -> tuple[WrongAnswer, ...]:
    """The percentage change from `original` to `new`; values are fractions (25% is 1/4)."""
    original, new = Fraction(original), Fraction(new)
    right = (new - original) / original
    candidates: list[tuple[str, Sequence[Fraction], Misconception]] = []
    if new:
        wrong_base = (new - original) / new
        candidates.append((f"{_plain(wrong_base * 100)}%", (wrong_base,), PERCENT_CHANGE_WRONG_BASE))
    difference = new - original
    candidates.append((f"{_plain(difference)}%", (difference / 100,), PERCENT_CHANGE_DIFFERENCE_ONLY))
    return _answers(candidates, (right,))


def percent_ratio(part: Fraction, whole: Fraction) -> tuple[WrongAnswer, ...]:
    """`part` as a percentage of `whole`."""
    part, whole = Fraction(part), Fraction(whole)
    right = part / whole
    candidates: list[tuple[str, Sequence[Fraction], Misconception]] = []
    if part:
        inverted = whole / part
        candidates.append((f"{_plain(inverted * 100)}%", (inverted,), PERCENT_OF_RATIO_INVERTED))
    return _answers(candidates, (right,))


def _plain(value: Fraction) -> str:
    """A value as a student writes it: whole, a short decimal, else rounded to 2 places."""
    if value.denominator == 1 or terminates(value) and len(show_decimal(value)) <= 8:
        return show_decimal(value)
    return show_decimal(value, places=2)


def ratio_share(total: Fraction, parts: Sequence[int]) -> tuple[WrongAnswer, ...]:
    total = Fraction(total)
    one_part = total / sum(parts)
    right = tuple(one_part * p for p in parts)
    candidates: list[tuple[str, Sequence[Fraction], Misconception]] = []
    equal = tuple(total / len(parts) for _ in parts)
    candidates.append((_and(equal), equal, RATIO_SPLIT_EQUALLY))
    if all(parts):
        each = tuple(total / p for p in parts)
        candidates.append((_and(each), each, RATIO_DIVIDED_BY_EACH_PART))
    reversed_shares = tuple(reversed(right))
    candidates.append((_and(reversed_shares), reversed_shares, RATIO_REVERSED))
    if len(parts) == 2 and parts[1]:
        first = total * Fraction(parts[0], parts[1])
        pair = (first, total - first)
        candidates.append((_and(pair), pair, RATIO_PART_AS_FRACTION_OF_OTHER))
    return _answers(candidates, right)


def ratio_share_part(total: Fraction, parts: Sequence[int], index: int) -> tuple[WrongAnswer, ...]:
    """The same mistakes when the question asks for one share only."""
    total = Fraction(total)
    right = total * parts[index] / sum(parts)
    candidates: list[tuple[str, Sequence[Fraction], Misconception]] = [
        (_plain(total / len(parts)), (total / len(parts),), RATIO_SPLIT_EQUALLY)]
    if parts[index]:
        candidates.append((_plain(total / parts[index]), (total / parts[index],), RATIO_DIVIDED_BY_EACH_PART))
    other = total * parts[len(parts) - 1 - index] / sum(parts)
    candidates.append((_plain(other), (other,), RATIO_REVERSED))
    if len(parts) == 2 and parts[1 - index]:
        as_fraction = total * Fraction(parts[index], parts[1 - index])
        candidates.append((_plain(as_fraction), (as_fraction,), RATIO_PART_AS_FRACTION_OF_OTHER))
    return _answers(candidates, (right,))


def _and(values: Sequence[Fraction]) -> str:
    shown = [_plain(v) for v in values]
    return ", ".join(shown[:-1]) + " and " + shown[-1] if len(shown) > 1 else shown[0]


def simplify_ratio(parts: Sequence[int]) -> tuple[WrongAnswer, ...]:
    """A ratio divided by a common factor that is not the greatest: equal in value, not simplest."""
    common = 0
    for p in parts:
        common = gcd(common, p)
    for factor in range(2, common):
        if common % factor == 0:
            partial = tuple(Fraction(p, factor) for p in parts)
            return (WrongAnswer(answer=":".join(show(v) for v in partial), values=partial,
                                misconception=RATIO_PARTLY_SIMPLIFIED),)
    return ()


def order_of_operations(left_to_right: Fraction | None, addition_first: Fraction | None, right: Fraction,
                        power_as_product: Fraction | None = None) -> tuple[WrongAnswer, ...]:
    """The values an expression takes when evaluated in the wrong order (computed by the caller,
    which knows the expression's shape)."""
    candidates: list[tuple[str, Sequence[Fraction], Misconception]] = []
    for value, misconception in ((left_to_right, ORDER_LEFT_TO_RIGHT), (addition_first, ORDER_ADDITION_FIRST),
                                 (power_as_product, ORDER_POWER_AS_PRODUCT)):
        if value is not None:
            candidates.append((show(value), (value,), misconception))
    return _answers(candidates, (right,))


def linear_equation(a: Fraction, b: Fraction, c: Fraction, *, variable: str = "x") -> tuple[WrongAnswer, ...]:
    """Mistakes solving a·x + b = c."""
    a, b, c = Fraction(a), Fraction(b), Fraction(c)
    right = (c - b) / a
    candidates: list[tuple[str, Sequence[Fraction], Misconception]] = []

    def add(value: Fraction, misconception: Misconception) -> None:
        candidates.append((f"{variable} = {show(value)}", (value,), misconception))

    if b:
        add((c + b) / a, EQUATION_SIGN_ERROR)
        if a != 1:
            add(c / a - b, EQUATION_DIVIDED_FIRST)
    if a != 1:
        add(c - b - a, EQUATION_SUBTRACTED_COEFFICIENT)
        add((c - b) * a, EQUATION_MULTIPLIED_BY_COEFFICIENT)
        if c != b:
            add(a / (c - b), EQUATION_INVERTED_DIVISION)
    return _answers(candidates, (right,))


def linear_both_sides(a1: Fraction, b1: Fraction, a2: Fraction, b2: Fraction, *,
                      variable: str = "x") -> tuple[WrongAnswer, ...]:
    """Mistakes solving a1·x + b1 = a2·x + b2 with x on both sides."""
    a1, b1, a2, b2 = Fraction(a1), Fraction(b1), Fraction(a2), Fraction(b2)
    right = (b2 - b1) / (a1 - a2)
    candidates: list[tuple[str, Sequence[Fraction], Misconception]] = []
    if a1 + a2:
        value = (b2 - b1) / (a1 + a2)
        candidates.append((f"{variable} = {show(value)}", (value,), EQUATION_MOVED_TERM_SIGN))
    if a1 != a2:
        value = (b2 + b1) / (a1 - a2)
        candidates.append((f"{variable} = {show(value)}", (value,), EQUATION_SIGN_ERROR))
    return _answers(candidates, (right,))


def bracket_equation(k: Fraction, b: Fraction, c: Fraction, *, variable: str = "x") -> tuple[WrongAnswer, ...]:
    """Mistakes solving k(x + b) = c."""
    k, b, c = Fraction(k), Fraction(b), Fraction(c)
    right = c / k - b
    partly = c - b if k else None   # k·x + b = c
    candidates: list[tuple[str, Sequence[Fraction], Misconception]] = []
    if partly is not None:
        value = partly / k
        candidates.append((f"{variable} = {show(value)}", (value,), EQUATION_BRACKET_PARTLY_EXPANDED))
    value = (c + k * b) / k
    candidates.append((f"{variable} = {show(value)}", (value,), EQUATION_SIGN_ERROR))
    return _answers(candidates, (right,))


def unit_conversion(value: Fraction, factor: Fraction, target_symbol: str) -> tuple[WrongAnswer, ...]:
    """Converting with `factor` (result = value × factor)."""
    value, factor = Fraction(value), Fraction(factor)
    right = value * factor
    candidates: list[tuple[str, Sequence[Fraction], Misconception]] = []
    if factor:
        wrong = value / factor
        candidates.append((f"{_plain(wrong)} {target_symbol}", (wrong,), UNIT_WRONG_DIRECTION))
    for wrong_factor in (factor * 10, factor / 10):
        wrong = value * wrong_factor
        candidates.append((f"{_plain(wrong)} {target_symbol}", (wrong,), UNIT_WRONG_FACTOR))
    return _answers(candidates, (right,))


def word_problem(right: Fraction, wrong: Iterable[tuple[Fraction, Misconception]]) -> tuple[WrongAnswer, ...]:
    """A word problem's wrong answers, computed by its generator."""
    return _answers(((_plain(v), (v,), m) for v, m in wrong), (right,))
