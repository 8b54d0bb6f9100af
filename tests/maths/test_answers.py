"""Answer equivalence: 1/2 = 0.5 = 2/4 = 50 %, with simplest form, tolerance and units."""
from __future__ import annotations

from fractions import Fraction

import pytest

from learner.maths import equivalent, judge, parse_answer
from learner.maths.misconceptions import FRACTION_ADDED_ACROSS, fraction_operation


@pytest.mark.parametrize("text, values, form", [
    ("1/2", (Fraction(1, 2),), "fraction"),
    ("0.5", (Fraction(1, 2),), "decimal"),
    (".5", (Fraction(1, 2),), "decimal"),
    ("2/4", (Fraction(1, 2),), "fraction"),
    ("50%", (Fraction(1, 2),), "percent"),
    ("50 percent", (Fraction(1, 2),), "percent"),
    ("one half", (Fraction(1, 2),), "words"),
    ("a third", (Fraction(1, 3),), "words"),
    ("three quarters", (Fraction(3, 4),), "words"),
    ("two and a half", (Fraction(5, 2),), "words"),
    ("2 and a half", (Fraction(5, 2),), "mixed"),
    ("twenty-five", (Fraction(25),), "words"),
    ("one hundred and five", (Fraction(105),), "words"),
    ("1 1/2", (Fraction(3, 2),), "mixed"),
    ("1½", (Fraction(3, 2),), "mixed"),
    ("x = 2", (Fraction(2),), "integer"),
    ("x=-5/2", (Fraction(-5, 2),), "fraction"),
    ("1,000", (Fraction(1000),), "integer"),
    ("$18", (Fraction(18),), "integer"),
    ("18 dollars", (Fraction(18),), "integer"),
    ("£4.50", (Fraction(9, 2),), "decimal"),
    ("12 cm", (Fraction(12),), "integer"),
    ("12 apples", (Fraction(12),), "integer"),
    ("75 percent of it", (Fraction(3, 4),), "percent"),
    ("75% of the cake", (Fraction(3, 4),), "percent"),
    ("The answer is 3/4.", (Fraction(3, 4),), "fraction"),
    ("**12**", (Fraction(12),), "integer"),
    ("2:3", (Fraction(2), Fraction(3)), "ratio"),
    ("8 and 12", (Fraction(8), Fraction(12)), "list"),
    ("-3", (Fraction(-3),), "integer"),
])
def test_answers_are_read_as_exact_values(text: str, values: tuple[Fraction, ...], form: str) -> None:
    parsed = parse_answer(text)
    assert parsed is not None and parsed.values == values and parsed.form == form


@pytest.mark.parametrize("text", ["", "I don't know", "maybe", "x" * 500, "1/0"])
def test_unreadable_answers_give_none(text: str) -> None:
    assert parse_answer(text) is None


@pytest.mark.parametrize("answer, key, options, outcome", [
    ("0.5", "1/2", {}, "correct"),
    ("2/4", "1/2", {}, "correct"),
    ("50%", "1/2", {}, "correct"),
    ("one half", "1/2", {}, "correct"),
    ("2/4", "1/2", {"require_simplest": True}, "not_simplest"),
    ("0.5", "1/2", {"require_simplest": True}, "not_simplest"),
    ("1 2/4", "3/2", {"require_simplest": True}, "not_simplest"),
    ("3/2", "1 1/2", {"require_simplest": True}, "correct"),
    ("1 1/2", "3/2", {"require_simplest": True}, "correct"),
    ("4", "8/2", {"require_simplest": True}, "correct"),
    ("50", "50%", {}, "correct"),            # "what percent ...?": 50 means 50 %
    ("0.5", "50%", {}, "correct"),
    ("50", "1/2", {}, "incorrect"),
    ("x = 4", "4", {}, "correct"),
    ("4", "x = 4", {}, "correct"),
    ("y = 4", "x = 4", {}, "incorrect"),
    ("x = 5", "x = 4", {}, "incorrect"),
    ("120 mm", "12 cm", {}, "correct"),
    ("0.12 m", "12 cm", {}, "correct"),
    ("12", "12 cm", {}, "correct"),
    ("12 m", "12 cm", {}, "incorrect"),
    ("12 kg", "12 cm", {}, "incorrect"),
    ("$18", "18", {}, "correct"),
    ("18.00", "$18", {}, "correct"),
    ("1800 cents", "$18", {}, "correct"),
    ("1,000", "1000", {}, "correct"),
    ("3.14", "3.1416", {"tolerance": "0.01"}, "correct"),
    ("3.1", "3.1416", {"tolerance": "0.01"}, "incorrect"),
    ("4:6", "2:3", {}, "correct"),
    ("4:6", "2:3", {"require_simplest": True}, "not_simplest"),
    ("3:2", "2:3", {}, "incorrect"),
    ("8 and 12", "8 and 12", {}, "correct"),
    ("12 and 8", "8 and 12", {}, "incorrect"),
    ("8", "8 and 12", {}, "incorrect"),
    ("3/9", "5/6", {}, "incorrect"),
    ("banana", "5/6", {}, "unreadable"),
])
def test_equivalence(answer: str, key: str, options: dict, outcome: str) -> None:
    assert equivalent(answer, key, **options).outcome == outcome


def test_verdicts_map_to_the_practice_words() -> None:
    assert equivalent("1/2", "0.5").practice_verdict == "correct"
    assert equivalent("2/4", "1/2", require_simplest=True).practice_verdict == "partly"
    assert equivalent("3", "1/2").practice_verdict == "incorrect"
    assert equivalent("?", "1/2").practice_verdict is None


def test_judge_names_the_misconception() -> None:
    wrong = fraction_operation(2, 3, "+", 1, 6)
    verdict = judge("3/9", "5/6", wrong_answers=wrong)
    assert verdict.outcome == "incorrect" and verdict.misconception == FRACTION_ADDED_ACROSS
    assert judge("1/3", "5/6", wrong_answers=wrong).misconception == FRACTION_ADDED_ACROSS   # 3/9 simplified
    assert judge("5/6", "5/6", wrong_answers=wrong).misconception is None
    assert judge("7/8", "5/6", wrong_answers=wrong).misconception is None
