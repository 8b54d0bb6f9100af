"""Recognising computable questions in a message, with results, steps and known wrong answers."""
from __future__ import annotations

import pytest

from learner.maths import MathsError, contradictions, recognise, solve_linear
from learner.maths.misconceptions import (
    EQUATION_SIGN_ERROR,
    FRACTION_ADDED_ACROSS,
    ORDER_LEFT_TO_RIGHT,
    PERCENT_NOT_DIVIDED_BY_100,
    RATIO_SPLIT_EQUALLY,
)


@pytest.mark.parametrize("text, kind, statement", [
    ("What is 2/3 + 1/6?", "fractions", "2/3 + 1/6 = 5/6"),
    ("Can you help me with 1/2 + 1/4? Please explain.", "fractions", "1/2 + 1/4 = 3/4"),
    ("What is 1/2 ÷ 1/4?", "fractions", "1/2 ÷ 1/4 = 2"),
    ("What is 1 1/2 + 2 3/4?", "fractions", "1 1/2 + 2 3/4 = 17/4"),
    ("What is 3/4 of 20?", "fractions", "3/4 of 20 = 15"),
    ("Simplify 6/8", "fractions", "6/8 = 3/4 in its simplest form"),
    ("What is 0.3 + 0.45?", "decimals", "0.3 + 0.45 = 0.75"),
    ("What is 3 + 4 × 2?", "arithmetic", "3 + 4 × 2 = 11"),
    ("what is 12 divided by 4 plus 3", "arithmetic", "12 ÷ 4 + 3 = 6"),
    ("What's 7 x 8?", "arithmetic", "7 × 8 = 56"),
    ("What is 15% of 80?", "percentage", "15% of 80 = 12"),
    ("Increase 80 by 15%", "percentage", "80 increased by 15% = 92"),
    ("A coat is 25% off $40. What does it cost?", "percentage", "$40 decreased by 25% = $30"),
    ("What is the percentage increase from 80 to 100?", "percentage",
     "The percentage change from 80 to 100 is 25%"),
    ("12 is what percent of 80?", "percentage", "12 as a percentage of 80 = 15%"),
    ("Write 18 out of 24 as a percentage", "percentage", "18 as a percentage of 24 = 75%"),
    ("Write 0.75 as a fraction", "conversion", "0.75 as a fraction = 3/4"),
    ("Convert 3/8 to a decimal", "conversion", "3/8 as a decimal = 0.375"),
    ("Write 2/5 as a percentage", "conversion", "2/5 as a percentage = 40%"),
    ("Share 20 sweets in the ratio 2:3", "ratio", "20 shared in the ratio 2:3 gives 8 and 12"),
    ("Simplify the ratio 12:18", "ratio", "12:18 = 2:3 in its simplest form"),
    ("Round 3.456 to 1 decimal place", "rounding", "3.456 rounded to 1 decimal place = 3.5"),
    ("Round 2.5 to the nearest whole number", "rounding", "2.5 rounded to the nearest whole number = 3"),
    ("Solve 2x + 3 = 11", "equation", "2x + 3 = 11, so x = 4"),
    ("3(x - 2) = 12", "equation", "3(x - 2) = 12, so x = 6"),
    ("5x + 2 = 2x + 11", "equation", "5x + 2 = 2x + 11, so x = 3"),
    ("Convert 5 km to m", "units", "5 km = 5000 m"),
    ("How many cm are in 2.5 m?", "units", "2.5 m = 250 cm"),
    ("What is 100°C in °F?", "units", "100 °C = 212 °F"),
])
def test_questions_are_recognised_and_computed(text: str, kind: str, statement: str) -> None:
    found = recognise(text)
    assert [(c.kind, c.statement) for c in found] == [(kind, statement)]


@pytest.mark.parametrize("text", [
    "Hello, how are you?",
    "I was born on 12/05/2010 and read pages 5-10.",
    "What is photosynthesis?",
    "The answer was 3/4.",
    "so x = 4",
    "I have 3 apples",
    "9 out of 10 cheerleaders are 64\" tall.",   # a count, not a question about a percentage
    "",
])
def test_text_without_a_computation_gives_nothing(text: str) -> None:
    assert recognise(text) == ()


def test_a_stated_result_is_kept_as_the_claim() -> None:
    (fractions,) = recognise("I think 2/3 + 1/6 = 3/9")
    assert fractions.claimed == "3/9" and fractions.result == "5/6"
    (equation,) = recognise("Solve 2x + 3 = 11. I got x = 7")
    assert equation.claimed == "x = 7"


@pytest.mark.parametrize("text, wrong, misconception", [
    ("2/3 + 1/6", "3/9", FRACTION_ADDED_ACROSS),
    ("3 + 4 × 2", "14", ORDER_LEFT_TO_RIGHT),
    ("15% of 80", "1200", PERCENT_NOT_DIVIDED_BY_100),
    ("2x + 3 = 11", "x = 7", EQUATION_SIGN_ERROR),
    ("share 20 in the ratio 2:3", "10 and 10", RATIO_SPLIT_EQUALLY),
])
def test_known_wrong_answers_are_attached(text: str, wrong: str, misconception) -> None:
    (computation,) = recognise(text)
    listed = {w.answer: w.misconception for w in computation.wrong_answers}
    assert listed[wrong] == misconception


def test_fraction_working_uses_a_common_denominator() -> None:
    (computation,) = recognise("2/3 + 1/6")
    assert computation.steps == ("2/3 + 1/6", "A common denominator of 3 and 6 is 6.", "2/3 = 4/6", "4/6 + 1/6 = 5/6")


@pytest.mark.parametrize("equation", ["x*x = 4", "2x = 2x + 1", "a + b = 3", "2x + 3"])
def test_equations_outside_the_linear_form_are_refused(equation: str) -> None:
    with pytest.raises(MathsError):
        solve_linear(equation)


def test_a_huge_message_is_read_in_bounded_time() -> None:
    found = recognise("What is 2 + 2? " * 10_000)
    assert [c.statement for c in found] == ["2 + 2 = 4"]


@pytest.mark.parametrize("text, expression, claimed, result", [
    ("So James will have 12 - 7 = 4 kg.", "12 - 7", "4", "5"),             # subtraction, not a range
    ("Craig has 40-21 = 20 remaining.", "40 - 21", "20", "19"),            # with a claim, even unspaced
    ("Total = 15 × 80 = 1199", "15 × 80", "1199", "1200"),                  # a chain after a label
    ("Eight doses = 8 * 56 = 449 mL.", "8 × 56", "449", "448"),
    ("I did 7 x 8 = 54", "7 × 8", "54", "56"),                              # x as times
    ("3x4 = 11", "3 × 4", "11", "12"),
    ("He makes 2000 * 52 = 104000 a year.", "2000 × 52", "104000", "104000"),   # "a year", not a variable
])
def test_a_students_step_is_read_with_its_claim(text: str, expression: str, claimed: str, result: str) -> None:
    (step,) = recognise(text)
    assert (step.expression, step.claimed, step.result) == (expression, claimed, result)


def test_every_link_of_a_chain_is_a_step() -> None:
    steps = recognise("Total = 6 + 4 × 2 = 6 + 8 = 15")
    assert [(s.expression, s.claimed, s.result) for s in steps] == [("6 + 4 × 2", "15", "14"), ("6 + 8", "15", "14")]


def test_x_next_to_a_number_in_algebra_is_still_the_unknown() -> None:
    assert [c.statement for c in recognise("3x + 4 = 10")] == ["3x + 4 = 10, so x = 2"]
    assert recognise("pages 5-10") == ()


def test_reference_solutions_state_no_wrong_step() -> None:
    """Every step of the GSM8K reference solutions is right, so the engine reads no wrong claim in
    them (an equation's own "= 24" is not a claimed "x = 24")."""
    import json
    import re
    from pathlib import Path

    from learner.maths.check import student_claim_verdict

    data = Path(__file__).resolve().parents[3] / "shared" / "data" / "gsm8k-300.jsonl"
    if not data.exists():
        pytest.skip("shared/data/gsm8k-300.jsonl is not beside this checkout")
    wrong = []
    for line in data.read_text(encoding="utf-8").splitlines():
        for step in recognise(re.sub(r"<<[^>]*>>", "", json.loads(line)["solution"])):
            verdict = student_claim_verdict(step)
            if verdict is not None and verdict.outcome != "correct":
                wrong.append(f"{step.expression} = {step.claimed}")
    assert wrong == []


def test_an_article_before_a_step_is_a_word() -> None:
    (step,) = recognise("He switches to a 12 - 2 = 10 pound weight.")
    assert (step.expression, step.claimed, step.result) == ("12 - 2", "10", "10")
    assert [c.statement for c in recognise("a + 3 = 5")] == ["a + 3 = 5, so a = 2"]


@pytest.mark.parametrize("text, expression, claimed, result", [
    ("so that's 60 / 12 = 7 dozen.", "60 ÷ 12", "7", "5"),                   # a division with its result
    ("Therefore, there are B = 64 / 8 = 7 chocolate bars.", "64 ÷ 8", "7", "8"),   # a letter naming the result
])
def test_more_steps_are_read_with_their_claims(text: str, expression: str, claimed: str, result: str) -> None:
    (step,) = recognise(text)
    assert (step.expression, step.claimed, step.result) == (expression, claimed, result)


@pytest.mark.parametrize("text", ["64 cars * 1/4 = 16 cars", "10 apples - 5 + 3 = 8 apples"])
def test_a_step_whose_left_operand_is_in_the_words_is_not_read(text: str) -> None:
    assert recognise(text) == () and contradictions(text) == ()
