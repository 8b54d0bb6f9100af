"""A student's own attempt read from their message: final answer, wrong steps, and whether the
engine can say it is right."""
from __future__ import annotations

import pytest

from learner.maths import recognise
from learner.maths.attempt import read_attempt


def _read(message: str):
    return read_attempt(message, recognise(message))


@pytest.mark.parametrize("message, status, final, withheld", [
    ("What is 2/3 + 1/6? I got 5/6.", "verified", "5/6", "5/6"),
    ("Solve 2x + 3 = 11. I got 4", "verified", "4", "x = 4"),
    ("Is 1/2 + 1/4 = 3/4?", "verified", "3/4", "3/4"),
    ("What is 2/3 + 1/6? I got 3/9.", "wrong_answer", "3/9", "5/6"),
    ("What is 15% of 80? I got 1200", "wrong_answer", "1200", "12"),
    ("Solve 2x + 3 = 11. I got x = 7", "wrong_answer", "x = 7", "x = 4"),
    ("I did 2/3 + 1/6 = 3/9. Is it right?", "wrong_step", "3/9", "5/6"),
    ("Sam has 3 bags of 4 apples and eats 2. My working: 3 * 4 = 12, 12 - 2 = 10. So the answer is 10.",
     "unverified", "10", "10"),
    ("What is 1/2 + 1/4?", "none", None, "3/4"),
])
def test_an_attempt_is_read_and_checked(message: str, status: str, final: str | None, withheld: str) -> None:
    attempt = _read(message)
    assert (attempt.status, attempt.final) == (status, final)
    assert attempt.withheld is not None and attempt.withheld.result == withheld
    assert attempt.may_confirm is (status == "verified")


def test_the_wrong_step_and_the_true_final_answer_of_a_worked_solution() -> None:
    """An arithmetic slip in the last step of a word problem (bench #113): the step is named, and
    what a hint must not say is that step's true result, not the student's first step."""
    attempt = _read("A tank holds 18000 gallons. How many are left to fill?\n\nMy solution: In the two days they "
                    "pumped 4125 + 7875 = 12000 gallons.\nThe amount remaining is 18000 - 12000 = 6010 gallons. "
                    "So the answer is 6010. Is it right?")
    assert attempt.status == "wrong_step" and [s.stated for s in attempt.wrong_steps] == ["18000 - 12000 = 6010"]
    assert attempt.final == "6010" and attempt.withheld is not None and attempt.withheld.result == "6000"
    assert attempt.steps_checked == 2


def test_numbers_in_the_students_working_do_not_make_it_the_question() -> None:
    """"50% of 8" is in the student's working, and "two pounds lighter" is a number the engine did
    not read: the engine cannot know the answer, so a right solution is unverified, not wrong."""
    attempt = _read("Jamaal uses an 8-pound weight. He increases it by 50%. It is too heavy, so he uses a weight "
                    "two pounds lighter than that. What weight does he use now?\n\nMy solution: An increase of 50% "
                    "of 8 is 1.5*8=12.\nHe switches to a 12 - 2 = 10 pound weight. So the answer is 10. Is it right?")
    assert attempt.status == "unverified" and attempt.answer is None and attempt.withheld.result == "10"
