"""Checking a reply against verified results, visible corrections, and ground truth for prompts."""
from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import pytest

from learner.maths import (
    contradictions,
    diagnose,
    key_agrees_with_program,
    prompt_facts,
    recognise,
    stated_results,
    with_corrections,
)
from learner.maths.check import checked_line, student_claim_verdict
from learner.maths.misconceptions import EQUATION_SIGN_ERROR, FRACTION_ADDED_ACROSS


def test_results_a_reply_states_are_found() -> None:
    found = stated_results(r"So \( \frac{1}{2} + \frac{1}{4} = \frac{3}{4} \). The answer is 3/4, and x = 2.")
    assert [(r.kind, r.stated) for r in found] == [("chain", "3/4"), ("final", "3/4"), ("unknown", "2")]


@pytest.mark.parametrize("question, reply, correction", [
    ("What is 1/2 + 1/4?", r"Add them: \( \frac{1}{2} + \frac{1}{4} = \frac{3}{8} \).", "Checked: 1/2 + 1/4 = 3/4."),
    ("What is 1/2 + 1/4?", "The answer is 3/8.", "Checked: 1/2 + 1/4 = 3/4."),
    ("What is 2/3 + 1/6?", "Add the tops and bottoms: 2/3 + 1/6 = 3/9.", "Checked: 2/3 + 1/6 = 5/6."),
    ("Solve 2x + 3 = 11", "Subtract 3 from both sides: 2x = 8, so x = 5.", "Checked: 2x + 3 = 11, so x = 4."),
    ("What is 15% of 80?", "15% of 80 is 0.15 × 80 = 120.", "Checked: 0.15 × 80 = 12."),
    ("", "First 3 + 4 × 2 = 7 × 2 = 14.", "Checked: 3 + 4 × 2 = 11."),
])
def test_wrong_results_are_corrected_visibly(question: str, reply: str, correction: str) -> None:
    found = contradictions(reply, recognise(question))
    assert found
    corrected = with_corrections(reply, found)
    assert corrected.startswith(reply) and corrected.endswith(correction)
    assert corrected.count("Checked:") == 1


@pytest.mark.parametrize("question, reply", [
    ("What is 1/2 + 1/4?", r"Write \( \frac{1}{2} \) as \( \frac{2}{4} \): 2/4 + 1/4 = 3/4. The answer is 3/4."),
    ("What is 1/3 + 1/3?", "1/3 + 1/3 = 2/3, which is about 0.67; 2/3 = 0.67 rounded."),
    ("What is 50% of 30?", "50% = 0.5 and 0.5 × 30 = 15. The answer is 15."),
    ("Solve 2x + 3 = 11", "2x = 8, so x = 4."),
    ("What is 2/3 + 1/6?", "Start by finding a common denominator of 3 and 6."),
    ("", "The cost is $5 + $3 = $8."),
    ("", "There are 27 – 15 = 12 cups, and $864\xa0+ $2,592 = $3,456."),   # an en dash, a no-break space
])
def test_right_replies_pass(question: str, reply: str) -> None:
    assert contradictions(reply, recognise(question)) == ()


def test_hint_mode_corrections_do_not_give_the_answer_away() -> None:
    reply = "Add the tops and bottoms: 2/3 + 1/6 = 3/9."
    corrected = with_corrections(reply, contradictions(reply, recognise("2/3 + 1/6")), reveal=False)
    assert corrected.endswith("Checked: 2/3 + 1/6 is not 3/9.") and "5/6" not in corrected


def test_checked_line_states_a_computation() -> None:
    assert checked_line(recognise("What is 2/3 + 1/6?")[0]) == "Checked: 2/3 + 1/6 = 5/6."


def test_the_students_claim_is_judged_with_its_misconception() -> None:
    (fractions,) = recognise("Is 2/3 + 1/6 = 3/9 right?")
    verdict = student_claim_verdict(fractions)
    assert verdict is not None and verdict.outcome == "incorrect" and verdict.misconception == FRACTION_ADDED_ACROSS
    (equation,) = recognise("Solve 2x + 3 = 11. I got x = 7")
    assert student_claim_verdict(equation).misconception == EQUATION_SIGN_ERROR  # type: ignore[union-attr]
    (right,) = recognise("Is 1/2 + 1/4 = 3/4?")
    assert student_claim_verdict(right).outcome == "correct"  # type: ignore[union-attr]


def test_prompt_facts_ground_explain_and_withhold_in_hint() -> None:
    explain = prompt_facts(recognise("What is 2/3 + 1/6?"), reveal=True)
    assert "2/3 + 1/6 = 5/6" in explain and "common denominator" in explain
    hint = prompt_facts(recognise("I think 2/3 + 1/6 = 3/9"), reveal=False)
    assert "do NOT tell" in hint and "NOT correct" in hint and "added the numerators and added the denominators" in hint
    assert prompt_facts((), reveal=True) == ""


@pytest.mark.parametrize("question, answer, code", [
    ("What is 2/3 + 1/6?", "3/9", "fraction_added_across"),
    ("What is 1/2 ÷ 1/4?", "1/8", "fraction_multiplied_not_divided"),
    ("What is 0.3 + 0.45?", "0.48", "decimal_aligned_right"),
    ("What is 15% of 80?", "1200", "percent_not_divided_by_100"),
    ("Increase 80 by 15%", "12", "percent_gave_change_only"),
    ("What is the percentage increase from 80 to 100?", "20%", "percent_change_wrong_base"),
    ("Solve 2x + 3 = 11", "x = 7", "equation_sign_error"),
    ("What is 3 + 4 × 2?", "14", "order_left_to_right"),
    ("Convert 5 km to m", "500 m", "unit_wrong_factor"),
])
def test_diagnose_names_the_misconception(question: str, answer: str, code: str) -> None:
    misconception = diagnose(question, answer)
    assert misconception is not None and misconception.code == code


@pytest.mark.parametrize("question, answer", [("What is 2/3 + 1/6?", "5/6"), ("What is 2/3 + 1/6?", "7/11"),
                                              ("Hello", "3")])
def test_diagnose_names_nothing_for_right_or_unknown_answers(question: str, answer: str) -> None:
    assert diagnose(question, answer) is None


def test_reference_solutions_have_no_false_alarms() -> None:
    """Every chain in the GSM8K reference solutions is right; none may be flagged."""
    data = Path(__file__).resolve().parents[3] / "shared" / "data" / "gsm8k-300.jsonl"
    if not data.exists():
        pytest.skip("shared/data/gsm8k-300.jsonl is not beside this checkout")
    flagged = []
    for line in data.read_text(encoding="utf-8").splitlines():
        solution = re.sub(r"<<[^>]*>>", "", json.loads(line)["solution"])
        flagged += [c.stated for c in contradictions(solution)]
    assert flagged == []


def test_a_model_written_key_is_trusted_only_when_its_program_computes_it() -> None:
    program = "def solution():\n    return 15 * 80 / 100\n"
    assert key_agrees_with_program("12", program).agrees
    disagreeing = key_agrees_with_program("6, because 1/3 * 2/4 = 2/4", program)
    assert not disagreeing.agrees and disagreeing.computed == Fraction(12)
    refused = key_agrees_with_program("12", "import os\ndef solution():\n    return 12\n")
    assert not refused.agrees and refused.computed is None


@pytest.mark.parametrize("reply, stated", [
    ("The answer is 120 + 15 = 135.", "135"),
    ("Total = 15 × 80 = 1199", "1199"),
    ("So the total is $300 - $50 = $250.", "$250"),
])
def test_a_final_answer_written_as_a_chain_is_its_last_result(reply: str, stated: str) -> None:
    finals = [r.stated for r in stated_results(reply) if r.kind == "final"]
    assert finals == [stated]


def test_every_link_of_a_chain_after_a_label_is_checked() -> None:
    found = contradictions("Total pieces of laundry = 15 × 80 = 1199 pieces.")
    assert [c.stated for c in found] == ["15 × 80 = 1199"]
    assert [c.stated for c in contradictions("So 2 × 3 + 4 = 6 + 4 = 11.")] == ["6 + 4 = 11"]
    assert [c.stated for c in contradictions("He makes 2000 * 52 = 104001 a year.")] == ["2000 * 52 = 104001"]


@pytest.mark.parametrize("reply", ["15% of 80 = 12.", "So 1/2 of 10 = 5.", "3 boxes of 4 = 12 pens."])
def test_a_phrase_ending_in_a_number_is_not_a_wrong_chain(reply: str) -> None:
    assert contradictions(reply) == ()


def test_times_100_written_as_a_percentage_is_right() -> None:
    reply = "So 0.24 * 100 = 24% of the students, and 200 / 2000 * 100 = 10%."
    assert contradictions(reply) == ()
    assert all(student_claim_verdict(c).outcome == "correct" for c in recognise(reply))  # type: ignore[union-attr]
