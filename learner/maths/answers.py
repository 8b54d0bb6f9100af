"""A student's answer read as exact values, and judged against a key by equivalence.

1/2, 0.5, 2/4, 50%, "one half", ".5" are the same answer; so are "1 1/2" and "3/2", "x = 2" and
"2", "$18" and "18 dollars", "1,000" and "1000", "120 mm" and "12 cm". An item may ask for the
simplest form (`require_simplest`): then 2/4 for 1/2 is "not_simplest" (partly right: the value is
right, the form is not), and so is 0.5 where a fraction was asked for. An item may allow a
`tolerance` (an absolute difference, for measured or rounded answers).

The verdict is the engine's; a model only phrases the feedback around it. `judge` also names the
misconception a wrong answer matches, from the wrong answers a generator or the recogniser listed.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import gcd
from typing import Literal

from learner.maths.errors import NoExactValue
from learner.maths.misconceptions import Misconception, WrongAnswer
from learner.maths.numbers import decimal_literal, round_half_up
from learner.maths.units import UNIT_PATTERN, Unit, convert, unit_named

Form = Literal["integer", "decimal", "fraction", "mixed", "percent", "words", "ratio", "list"]
Outcome = Literal["correct", "not_simplest", "incorrect", "unreadable"]
MAX_ANSWER_CHARS = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedAnswer:
    text: str
    values: tuple[Fraction, ...]   # one value; two or more for a ratio (2:3) or a list (8 and 12)
    form: Form
    lowest_terms: bool = True      # false for 2/4, 1 2/4, 4:6, 6/3
    decimal_places: int = 0        # 3.50 → 2 (to compare with a rounded value)
    unit: Unit | None = None
    variable: str | None = None    # "x" in "x = 2"

    @property
    def value(self) -> Fraction | None:
        return self.values[0] if len(self.values) == 1 else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    outcome: Outcome
    reason: str                                  # one sentence a student or teacher can read
    misconception: Misconception | None = None   # the known mistake a wrong answer matches

    @property
    def correct(self) -> bool:
        return self.outcome == "correct"

    @property
    def practice_verdict(self) -> str | None:
        """The practice store's words (correct | partly | incorrect); None when the engine cannot
        read the answer or the key and the caller has to ask elsewhere."""
        return {"correct": "correct", "not_simplest": "partly", "incorrect": "incorrect"}.get(self.outcome)


# -- reading an answer -----------------------------------------------------------------------------

_ONES = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
         "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
         "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "a": 1, "an": 1}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_DENOMINATORS = {"half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fourth": 4,
                 "fourths": 4, "fifth": 5, "fifths": 5, "sixth": 6, "sixths": 6, "seventh": 7, "sevenths": 7,
                 "eighth": 8, "eighths": 8, "ninth": 9, "ninths": 9, "tenth": 10, "tenths": 10, "twelfth": 12,
                 "twelfths": 12, "hundredth": 100, "hundredths": 100, "thousandth": 1000, "thousandths": 1000}
_VULGAR = {"½": "1/2", "⅓": "1/3", "⅔": "2/3", "¼": "1/4", "¾": "3/4", "⅕": "1/5", "⅖": "2/5", "⅗": "3/5",
           "⅘": "4/5", "⅙": "1/6", "⅚": "5/6", "⅛": "1/8", "⅜": "3/8", "⅝": "5/8", "⅞": "7/8"}

_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+"
_LEAD_IN = re.compile(
    r"^(?:(?:so|therefore|thus|hence|i think|i got|i get|my answer is|answer|the answer is|the answer|"
    r"final answer|it is|it's|its|that is|that's|equals|is|=|≈|:)\s*[:=]?\s*)+", re.IGNORECASE)
_VARIABLE = re.compile(r"^([a-z])\s*=\s*(.+)$", re.IGNORECASE)
_CURRENCY_PREFIX = re.compile(r"^([-+]?)\s*([$£€])\s*")
_UNIT_SUFFIX = re.compile(rf"^(?P<number>.+?)\s*(?P<unit>{UNIT_PATTERN})\.?$", re.IGNORECASE)
# "75 percent of it": the percent word belongs to the number, not to the label
_LABEL_SUFFIX = re.compile(r"^(?P<number>.*?\d(?:\s*%|\s+per\s?cent\b)?)\s+(?P<label>[a-z][a-z' -]{0,30})$",
                           re.IGNORECASE)


def parse_answer(text: str) -> ParsedAnswer | None:
    """The exact value(s) an answer states, or None when it states none the engine can read."""
    if not text or len(text) > MAX_ANSWER_CHARS:
        return None
    cleaned = _clean(text)
    if not cleaned:
        return None
    variable = None
    match = _VARIABLE.match(cleaned)
    if match:
        variable, cleaned = match.group(1).lower(), match.group(2).strip()
    unit: Unit | None = None
    currency = _CURRENCY_PREFIX.match(cleaned)
    if currency:
        unit = unit_named(currency.group(2))
        cleaned = currency.group(1) + cleaned[currency.end():]
    parsed = _number_with_unit(cleaned, unit)
    if parsed is None:
        return None
    values, form, lowest, places, unit = parsed
    return ParsedAnswer(text=text.strip(), values=values, form=form, lowest_terms=lowest, decimal_places=places,
                        unit=unit, variable=variable)


def _clean(text: str) -> str:
    for char, fraction in _VULGAR.items():
        text = re.sub(rf"(\d)\s*{char}", rf"\1 {fraction}", text).replace(char, fraction)
    text = unicodedata.normalize("NFKC", text).replace("⁄", "/").replace("−", "-").replace("–", "-")
    text = text.strip().strip("*_`\"'“”").strip()
    text = re.sub(r"[.!?;]+$", "", text).strip()
    text = _LEAD_IN.sub("", text).strip()
    return re.sub(r"\s+", " ", text)


def _number_with_unit(text: str, unit: Unit | None):
    plain = _plain_number(text)
    if plain is not None:
        return (*plain, unit)
    suffix = _UNIT_SUFFIX.match(text)
    if suffix:
        named = unit_named(suffix.group("unit"))
        plain = _plain_number(suffix.group("number").strip())
        if plain is not None and named is not None and (unit is None or unit.dimension == named.dimension):
            if unit is not None and named.factor != unit.factor:   # "$5 cents": keep the written unit
                return None
            return (*plain, named)
    label = _LABEL_SUFFIX.match(text)
    if label:   # "12 apples", "3/4 of the cake": a label, not a unit
        plain = _plain_number(label.group("number").strip())
        if plain is not None:
            return (*plain, unit)
    return None


def _plain_number(text: str):
    """(values, form, lowest_terms, decimal_places) for one number, a ratio or a short list."""
    text = text.strip()
    if not text:
        return None
    single = _single(text)
    if single is not None:
        return single
    ratio = re.fullmatch(rf"({_NUMBER})(?:\s*:\s*({_NUMBER}))+", text)
    if ratio:
        parts = [_single(p.strip()) for p in text.split(":")]
        if all(p is not None and len(p[0]) == 1 for p in parts):
            values = tuple(p[0][0] for p in parts)  # type: ignore[index]
            lowest = all(v.denominator == 1 for v in values) and _gcd_all(values) == 1
            return values, "ratio", lowest, 0
    pieces = re.split(r"\s*(?:,\s+|;\s*|\band\b|&)\s*", text)
    if 2 <= len(pieces) <= 10 and all(pieces):
        parts = [_single(p) for p in pieces]
        if all(p is not None and len(p[0]) == 1 for p in parts):
            return tuple(p[0][0] for p in parts), "list", all(p[2] for p in parts), 0  # type: ignore[index]
    return None


def _single(text: str):
    text = text.strip()
    if re.fullmatch(_NUMBER, text):
        value = decimal_literal(text.replace(",", ""))
        places = len(text.split(".")[1]) if "." in text else 0
        return (value,), ("decimal" if "." in text else "integer"), True, places
    match = re.fullmatch(rf"({_NUMBER})\s*(?:%|percent|per cent|pc)", text, re.IGNORECASE)
    if match:   # 33.33% is 0.3333: four places when compared with a rounded value
        number = match.group(1)
        places = (len(number.split(".")[1]) if "." in number else 0) + 2
        return (decimal_literal(number.replace(",", "")) / 100,), "percent", True, places
    match = re.fullmatch(r"([-+]?\d+)\s*(?:/|over|out of)\s*(\d+)", text, re.IGNORECASE)
    if match:
        numerator, denominator = int(match.group(1)), int(match.group(2))
        if denominator == 0:
            return None
        lowest = gcd(numerator, denominator) == 1 and denominator != 1
        return (Fraction(numerator, denominator),), "fraction", lowest, 0
    match = re.fullmatch(r"([-+]?)(\d+)\s+(?:and\s+)?(\d+)\s*/\s*(\d+)", text)
    if match:
        whole, numerator, denominator = int(match.group(2)), int(match.group(3)), int(match.group(4))
        if denominator == 0 or numerator >= denominator:
            return None
        value = whole + Fraction(numerator, denominator)
        lowest = gcd(numerator, denominator) == 1
        return ((-value if match.group(1) == "-" else value),), "mixed", lowest, 0
    match = re.fullmatch(r"([-+]?)(\d+)\s+and\s+([a-z ]+)", text, re.IGNORECASE)   # "2 and a half"
    if match:
        part = _fraction_words(match.group(3).lower().strip())
        if part is not None and part < 1:
            value = int(match.group(2)) + part
            return ((-value if match.group(1) == "-" else value),), "mixed", True, 0
    words = _words_value(text.lower())
    if words is not None:
        return (words,), "words", True, 0
    return None


def _gcd_all(values: Sequence[Fraction]) -> int:
    result = 0
    for v in values:
        result = gcd(result, v.numerator)
    return result


def _words_value(text: str) -> Fraction | None:
    """"twelve", "one hundred and five", "three quarters", "two and a half", "a third"."""
    text = re.sub(r"\s+", " ", text.replace("-", " ")).strip()
    if not text or not re.fullmatch(r"[a-z ]+", text):
        return None
    negative = text.startswith(("minus ", "negative "))
    if negative:
        text = text.split(" ", 1)[1]
    whole_text, _, fraction_text = text.partition(" and ")
    if fraction_text and not _has_denominator(fraction_text):   # "one hundred and five"
        whole_text, fraction_text = text, ""
    if not fraction_text and _has_denominator(whole_text):
        value = _fraction_words(whole_text)
    else:
        whole = _whole_words(whole_text)
        part = _fraction_words(fraction_text) if fraction_text else Fraction(0)
        value = None if whole is None or part is None else whole + part
    if value is None:
        return None
    return -value if negative else value


def _has_denominator(text: str) -> bool:
    return any(word in _DENOMINATORS for word in text.split())


def _fraction_words(text: str) -> Fraction | None:
    words = text.split()
    if len(words) < 2 or words[-1] not in _DENOMINATORS:
        return None
    numerator = _whole_words(" ".join(words[:-1]))
    return None if numerator is None else Fraction(numerator, _DENOMINATORS[words[-1]])


def _whole_words(text: str) -> int | None:
    total = current = 0
    seen = False
    for word in text.replace(" and ", " ").split():
        if word in _ONES:
            current += _ONES[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word in _SCALES:
            current = max(current, 1) * _SCALES[word]
            if _SCALES[word] >= 1000:
                total, current = total + current, 0
        else:
            return None
        seen = True
    return total + current if seen else None


# -- judging ---------------------------------------------------------------------------------------

def equivalent(answer: str | ParsedAnswer, key: str | ParsedAnswer, *, tolerance: Fraction | str | int = 0,
               require_simplest: bool = False) -> Verdict:
    """Does `answer` state the same value(s) as `key`? See the module docstring for the rules."""
    key_parsed = key if isinstance(key, ParsedAnswer) else parse_answer(key)
    if key_parsed is None:
        return Verdict(outcome="unreadable", reason="The answer key is not a value the engine can read.")
    given = answer if isinstance(answer, ParsedAnswer) else parse_answer(answer)
    if given is None:
        return Verdict(outcome="unreadable", reason="The engine cannot read a number in this answer.")
    allowed = Fraction(str(tolerance)) if not isinstance(tolerance, Fraction) else tolerance
    if key_parsed.variable and given.variable and key_parsed.variable != given.variable:
        return Verdict(outcome="incorrect", reason=f"The unknown is {key_parsed.variable}, not {given.variable}.")
    try:
        values, unit_note = _in_key_units(given, key_parsed)
    except NoExactValue:
        return Verdict(outcome="incorrect", reason=f"The answer is in {given.unit.symbol if given.unit else '?'}, "
                                                   f"which does not measure the same thing as "
                                                   f"{key_parsed.unit.symbol if key_parsed.unit else '?'}.")
    if len(key_parsed.values) > 1:
        return _judge_parts(given, values, key_parsed, allowed, require_simplest)
    if len(values) != 1:
        return Verdict(outcome="incorrect", reason="The answer gives several values; one is expected.")
    value, expected = values[0], key_parsed.values[0]
    close = abs(value - expected) <= allowed
    # "What percent ...?" keyed as 25%: a bare 25 means 25 %
    if not close and key_parsed.form == "percent" and given.form in ("integer", "decimal") and given.unit is None:
        close = abs(value / 100 - expected) <= allowed
    if not close:
        return Verdict(outcome="incorrect", reason="The value is not the expected one.")
    if require_simplest and not _simplest_form(given, value):
        return Verdict(outcome="not_simplest", reason="The value is right, but the question asks for the "
                                                      "simplest form (a fraction in lowest terms).")
    return Verdict(outcome="correct", reason="The value matches the expected answer." + unit_note)


def _in_key_units(given: ParsedAnswer, key: ParsedAnswer) -> tuple[tuple[Fraction, ...], str]:
    if given.unit is None or key.unit is None:
        note = f" Write the unit ({key.unit.symbol}) too." if key.unit is not None and given.unit is None \
            and key.unit.dimension not in ("usd", "gbp", "eur") else ""
        return given.values, note
    if given.unit == key.unit:
        return given.values, ""
    return tuple(convert(v, given.unit, key.unit) for v in given.values), ""


def _judge_parts(given: ParsedAnswer, values: tuple[Fraction, ...], key: ParsedAnswer, allowed: Fraction,
                 require_simplest: bool) -> Verdict:
    expected = key.values
    if key.form == "ratio":
        if len(values) == 1 and len(expected) == 2 and expected[1]:   # 2/3 for a ratio of 2:3
            values = (values[0], Fraction(1))
            expected = (expected[0] / expected[1], Fraction(1))
        if len(values) != len(expected):
            return Verdict(outcome="incorrect", reason=f"The ratio has {len(expected)} parts.")
        proportional = all(values[i] * expected[0] == expected[i] * values[0] for i in range(len(values)))
        if not proportional or not values[0]:
            return Verdict(outcome="incorrect", reason="The ratio is not the expected one.")
        if require_simplest and not given.lowest_terms:
            return Verdict(outcome="not_simplest", reason="The ratio is equivalent, but not in its simplest form.")
        return Verdict(outcome="correct", reason="The ratio matches.")
    if len(values) != len(expected):
        return Verdict(outcome="incorrect", reason=f"{len(expected)} values are expected.")
    if all(abs(v - e) <= allowed for v, e in zip(values, expected)):
        return Verdict(outcome="correct", reason="The values match.")
    if sorted(values) == sorted(expected):
        return Verdict(outcome="incorrect", reason="The values are right but in the wrong order.")
    return Verdict(outcome="incorrect", reason="The values are not the expected ones.")


def _simplest_form(given: ParsedAnswer, value: Fraction) -> bool:
    if given.form in ("integer", "words"):
        return True
    if given.form in ("fraction", "mixed"):
        return given.lowest_terms
    # a decimal or percentage where a fraction in lowest terms was asked for; 2.0 for 2 is fine
    return value.denominator == 1 and given.form == "decimal"


def judge(answer: str, key: str, *, tolerance: Fraction | str | int = 0, require_simplest: bool = False,
          wrong_answers: Sequence[WrongAnswer] = ()) -> Verdict:
    """`equivalent`, plus the misconception a wrong (or not simplest) answer matches."""
    verdict = equivalent(answer, key, tolerance=tolerance, require_simplest=require_simplest)
    if verdict.outcome in ("incorrect", "not_simplest"):
        match = matching_wrong_answer(answer, wrong_answers)
        if match is not None:
            return Verdict(outcome=verdict.outcome, reason=verdict.reason, misconception=match.misconception)
    return verdict


def matching_wrong_answer(answer: str, wrong_answers: Sequence[WrongAnswer]) -> WrongAnswer | None:
    """The listed wrong answer this answer states: the same value(s), or the same value rounded as
    far as the student rounded (6.67 for 20/3)."""
    given = parse_answer(answer)
    if given is None:
        return None
    for wrong in wrong_answers:
        if len(wrong.values) != len(given.values):
            continue
        if wrong.misconception.code.endswith("partly_simplified"):   # right value, not lowest terms
            if given.values == wrong.values and not given.lowest_terms:
                return wrong
            continue
        if all(_same_or_rounded(g, w, given.decimal_places) for g, w in zip(given.values, wrong.values)):
            return wrong
    return None


def _same_or_rounded(given: Fraction, wrong: Fraction, places: int) -> bool:
    return given == wrong or (places > 0 and round_half_up(wrong, places) == given)
