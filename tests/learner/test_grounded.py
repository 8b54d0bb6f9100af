"""The chat's reply path with the maths engine: results computed before generating and given to
the model, every stated result checked after, contradictions written again or corrected visibly,
a wrong student result never confirmed, the true result withheld in Hint mode, LaTeX made plain."""
from __future__ import annotations

import pytest

from learner.grounded import (
    HEDGE,
    STAGE_PROGRAMS,
    agrees_with_student,
    ground,
    looks_like_word_problem,
    reply_grounded,
)
from learner.guard import WITHHELD_MESSAGE
from learner.settings import GenerationSettings
from learner.types import TutorRequest
from tests.support.scripted_tutor import ScriptedTutor

SETTINGS = GenerationSettings(model_spec="scripted", device="cpu", temperature=0.0, max_new_tokens=64)
NO_PROGRAMS = lambda _problem: []  # the engine reads these questions itself


def _ask(tutor: ScriptedTutor, text: str, mode: str = "explain", **kwargs):
    return reply_grounded(tutor, TutorRequest(user_text=text, mode=mode), SETTINGS,
                          write_programs=kwargs.pop("write_programs", NO_PROGRAMS), **kwargs)


def test_explain_gets_the_verified_result_in_its_prompt() -> None:
    tutor = ScriptedTutor(["Write 1/2 as 2/4; then 2/4 + 1/4 = 3/4."])
    reply = _ask(tutor, "What is 1/2 + 1/4?")
    assert "1/2 + 1/4 = 3/4" in tutor.requests[0].facts and "Steps:" in tutor.requests[0].facts
    assert reply.text == "Write 1/2 as 2/4; then 2/4 + 1/4 = 3/4."         # right: left as it was
    assert reply.maths is not None and reply.maths.computed == ("1/2 + 1/4 = 3/4",)
    assert not (reply.maths.regenerated or reply.maths.corrected)


def test_a_wrong_result_is_written_again_once() -> None:
    tutor = ScriptedTutor(["Add the tops and bottoms: 1/2 + 1/4 = 2/6.", "Use quarters: 2/4 + 1/4 = 3/4."])
    streamed: list[str] = []
    reply = _ask(tutor, "What is 1/2 + 1/4?", on_text=streamed.append)
    assert "2/6" in "".join(streamed)                                        # the first one streamed …
    assert "2/6, which is wrong" in tutor.requests[1].facts                  # … the second was told why
    assert reply.text == "Use quarters: 2/4 + 1/4 = 3/4."
    assert reply.maths.regenerated and reply.maths.contradictions == ("1/2 + 1/4 = 2/6",)
    assert not reply.maths.corrected


def test_a_result_still_wrong_after_the_retry_is_corrected_visibly() -> None:
    tutor = ScriptedTutor(["So 1/2 + 1/4 = 3/8.", "Again, 1/2 + 1/4 = 3/8."])
    reply = _ask(tutor, "What is 1/2 + 1/4?")
    assert reply.text.startswith("Again, 1/2 + 1/4 = 3/8.")
    assert reply.text.rstrip().endswith("Checked: 1/2 + 1/4 = 3/4.")
    assert reply.maths.corrected


def test_explain_ends_with_the_verified_result_when_the_reply_leaves_it_out() -> None:
    tutor = ScriptedTutor(["Find 15 hundredths of 80: split 80 into hundredths first."])
    reply = _ask(tutor, "What is 15% of 80?")
    assert reply.text.endswith("Checked: 15% of 80 = 12.")


def test_a_wrong_arithmetic_chain_is_caught_with_nothing_recognised_in_the_question() -> None:
    tutor = ScriptedTutor(["Let me think. 7 x 8 = 54, so that is the area.", "7 x 8 = 54."])
    reply = _ask(tutor, "How big is the garden bed in the picture?")
    assert "Checked:" in reply.text and "56" in reply.text


def test_hint_mode_withholds_the_computed_result_and_says_it_only_privately() -> None:
    tutor = ScriptedTutor(["The answer is 3/4.", "It is three quarters."])
    reply = _ask(tutor, "How do I work out 1/2 + 1/4?", mode="hint")
    assert tutor.requests[0].guard is not None and tutor.requests[0].guard.answer_key == "3/4"
    assert "do NOT tell the student" in tutor.requests[0].facts and "Steps:" not in tutor.requests[0].facts
    # both tries gave it away: the engine's own hint for this sum, not the guard's general words
    assert reply.guard.outcome == "withheld" and reply.text != WITHHELD_MESSAGE
    assert "common denominator of 2 and 4 is 4" in reply.text and "3/4" not in reply.text


def test_a_withheld_hint_on_wrong_working_names_the_wrong_step() -> None:
    tutor = ScriptedTutor(["The answer is 60 pens.", "You should get 60."])
    reply = _ask(tutor, "Sam has 3 boxes of 20 pens. I did 3 * 20 = 50 so the answer is 50. Is it right?",
                 mode="hint")
    assert reply.guard.outcome == "withheld" and reply.text.startswith("Not quite. Check this step: 3 * 20 is not 50.")
    assert "60" not in reply.text


def test_the_guards_general_words_stay_when_the_engine_has_no_hint_either() -> None:
    tutor = ScriptedTutor(["It is 11.", "The result is 11."])
    reply = _ask(tutor, "What is 2.75 × 4?", mode="hint")   # its only step states the result
    assert reply.guard.outcome == "withheld" and reply.text == WITHHELD_MESSAGE


def test_hint_mode_never_confirms_a_wrong_worked_solution() -> None:
    tutor = ScriptedTutor(["Yes, your solution is correct!", "Correct, well done."])
    reply = _ask(tutor, "I did 2/3 + 1/6 = 3/9. Is it right?", mode="hint")
    facts = tutor.requests[0].facts
    assert "3/9 is NOT correct" in facts and "added the numerators and added the denominators" in facts
    assert reply.maths.confirmation_blocked
    assert reply.text.startswith("Not quite. Check this step: 2/3 + 1/6 is not 3/9.")
    assert "added the numerators" in reply.text
    assert not agrees_with_student(reply.text) and "5/6" not in reply.text      # still a hint, not the answer


def test_a_hint_that_names_the_mistake_is_kept() -> None:
    tutor = ScriptedTutor(["Not quite: you added the tops and the bottoms. Make the denominators the same first."])
    reply = _ask(tutor, "I did 2/3 + 1/6 = 3/9. Is it right?", mode="hint")
    assert reply.text.startswith("Not quite: you added the tops") and not reply.maths.confirmation_blocked


def test_a_word_problem_is_solved_by_agreeing_programs() -> None:
    program = "def solution():\n    april = 48\n    may = april / 2\n    return april + may\n"
    other = "def solution():\n    return 48 + 48 // 2\n"
    tutor = ScriptedTutor(["Add April's clips to May's clips."])
    problem = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
               "How many clips did Natalia sell altogether in April and May?")
    third = "def solution():\n    april = 48\n    return april * 3 / 2\n"
    reply = _ask(tutor, problem, write_programs=lambda _p: [program, other, "def solution():\n    return 60\n", third])
    assert "72" in tutor.requests[0].facts and "Worked out by running several" in tutor.requests[0].facts
    # the model read the problem, so the line says how the answer was found, not "Checked"
    assert reply.maths.source == "programs" and reply.text.endswith(
        "Worked out with a calculation (check that it fits the question): the answer to the word problem is 72.")


def test_the_student_hears_the_stage_only_when_programs_are_written() -> None:
    """Writing programs takes seconds before anything streams; the window says so (on_stage)."""
    events: list[str] = []

    def write_programs(_problem: str) -> list[str]:
        events.append("programs written")
        return ["def solution():\n    return 72\n"] * 3

    problem = "Natalia sold 48 clips in April and half as many in May. How many clips did she sell altogether?"
    _ask(ScriptedTutor(["Add April's clips to May's clips."]), problem, write_programs=write_programs,
         on_stage=events.append)
    assert events == [STAGE_PROGRAMS, "programs written"]

    events.clear()
    _ask(ScriptedTutor(["1/2 + 1/4 = 3/4."]), "What is 1/2 + 1/4?", write_programs=write_programs,
         on_stage=events.append)
    _ask(ScriptedTutor(["Once upon a time a cat went to school."]),
         "Could you tell me a short story about a brave cat who goes to school?", write_programs=write_programs,
         on_stage=events.append)
    assert events == []   # the engine read the sum itself; the story has no maths


def test_two_agreeing_programs_of_five_are_not_enough() -> None:
    tutor = ScriptedTutor(["Add April's clips to May's clips."])
    problem = "Natalia sold 48 clips in April and half as many in May. How many clips did she sell altogether?"
    reply = _ask(tutor, problem, write_programs=lambda _p: ["def solution():\n    return 72\n"] * 2 + [
        "def solution():\n    return 96\n", "def solution():\n    return 24\n"])
    assert tutor.requests[0].facts == "" and reply.maths is None


def test_programs_that_disagree_give_no_result() -> None:
    tutor = ScriptedTutor(["Add the two months."])
    problem = "Sam has 3 bags with 4 apples each. How many apples does he have?"
    reply = _ask(tutor, problem, write_programs=lambda _p: ["def solution():\n    return 12\n",
                                                            "def solution():\n    return 7\n"])
    assert tutor.requests[0].facts == "" and reply.maths is None and reply.text == "Add the two months."


def test_latex_becomes_plain_maths() -> None:
    tutor = ScriptedTutor([r"The sum is \( \frac{3}{4} \), since \(\frac{1}{2} = \frac{2}{4}\)."])
    reply = _ask(tutor, "What is 1/2 + 1/4?")
    assert "\\frac" not in reply.text and "3/4" in reply.text


@pytest.mark.parametrize(("text", "expected"), [
    ("Yes, your solution is correct.", True), ("Correct! Well done.", True), ("That's right.", True),
    ("Your answer is right, but…", True), ("Not quite: check the denominators.", False),
    ("Let's check your first step.", False), ("Your answer is not correct yet.", False),
    # third-person and later confirmations, as the real model writes them
    ("The student's calculation is correct. Let's verify it.", True), ("Their answer is right.", True),
    ("This is correct.", True), ("The hint provided is correct.", True),
    ("Let me check.\n\nSo, the answer is indeed correct.", True),
    ("The calculation confirms that James will have 4 kilograms left.", True),
    ("This matches the given answer.", True),
    ("That's not right yet.", False), ("The student's answer is incorrect because 40 * 2 = 80.", False),
    ("You're not quite there.", False), ("Check that your answer is right before you hand it in.", False),
])
def test_agreeing_openings(text: str, expected: bool) -> None:
    assert agrees_with_student(text) is expected


def test_only_explain_and_hint_are_grounded_and_word_problems_need_numbers() -> None:
    practice = TutorRequest(user_text="What is 1/2 + 1/4?", mode="practice")
    assert ground(practice).request == practice
    assert looks_like_word_problem("Sam has 3 bags with 4 apples each. How many apples does he have?")
    assert not looks_like_word_problem("Why do plants need light to grow and make food?")


def test_the_real_reply_path_with_the_tiny_model(tiny_loaded) -> None:
    """The tiny random model writes nonsense; the engine's result still reaches the student, and its
    programs (nonsense too) never become a result."""
    from learner.grounded import program_writer
    from learner.tutor import Tutor

    tutor = Tutor(tiny_loaded)
    settings = GenerationSettings(model_spec="tiny", device="cpu", temperature=0.0, max_new_tokens=12,
                                  word_problem_programs=2)
    reply = reply_grounded(tutor, TutorRequest(user_text="What is 1/2 + 1/4?", mode="explain"), settings)
    assert reply.text.endswith("Checked: 1/2 + 1/4 = 3/4.") and reply.maths.corrected
    assert "1/2 + 1/4 = 3/4" in reply.messages[-1]["content"]               # the prompt carried the fact

    import threading

    programs = program_writer(tutor, settings, threading.Event(), samples=2)(
        "Sam has 3 bags with 4 apples each. How many apples does he have?")
    assert len(programs) <= 2
    word = reply_grounded(tutor, TutorRequest(user_text="Sam has 3 bags with 4 apples each. How many apples "
                                                        "does he have?", mode="hint"), settings)
    assert word.maths is None and "Verified by the calculator" not in word.messages[-1]["content"]


def test_stop_during_the_second_pass_keeps_the_first_reply_as_stopped() -> None:
    import threading

    stop = threading.Event()

    class StopsOnRetry(ScriptedTutor):
        def reply(self, request, settings, **kwargs):
            if self.requests:          # the retry: the student presses Stop while it is written
                stop.set()
            return super().reply(request, settings, **kwargs)

    tutor = StopsOnRetry(["So 1/2 + 1/4 = 3/8.", "1/2 + 1/4 = 3/4"])
    reply = _ask(tutor, "What is 1/2 + 1/4?", stop=stop)
    assert reply.stopped and reply.text == "So 1/2 + 1/4 = 3/8."


LAUNDRY = ("Bob is in charge of doing laundry for a large hotel. Each room has two sheets, one comforter, twice as "
           "many pillow cases as sheets and twice as many towels as pillow cases. How many pieces of laundry are "
           "there in 80 rooms?\n\nMy solution: First find the number of pillow cases in each room: 2 * 2 = 4 pillow "
           "cases.\nThen find the number of towels in each room: 4 * 2 = 8 towels.\nThen find the number of pieces "
           "of laundry in each room: 4 + 8 + 2 + 1 = 15 pieces of laundry.\nThen multiply the number of pieces of "
           "laundry in each room by the number of rooms to find the total: 15 * 80 = 1199 pieces. So the answer is "
           "1199. Is it right?")


def test_hint_mode_withholds_the_final_answer_not_the_first_step() -> None:
    grounding = ground(TutorRequest(user_text=LAUNDRY, mode="hint"))
    assert grounding.request.guard is not None and grounding.request.guard.answer_key == "1200"
    assert grounding.attempt.status == "wrong_step" and "15 * 80 = 1199 is wrong" in grounding.request.facts


def test_a_confirmed_wrong_step_is_named_without_the_answer() -> None:
    """Both replies as the real model wrote them (bench records #100): the confirmation is replaced
    by the step the engine computes differently, and the true total stays hidden."""
    tutor = ScriptedTutor(["The student's solution is correct. Total pieces of laundry = 15 × 80 = 1199",
                           "Yes, your solution is correct. So the answer is indeed 1199."])
    reply = _ask(tutor, LAUNDRY, mode="hint")
    assert reply.text.startswith("Not quite. Check this step: 15 * 80 is not 1199.")
    assert "1200" not in reply.text and not agrees_with_student(reply.text)
    assert reply.maths.attempt == "wrong_step" and reply.maths.rewrite == "replaced"
    assert reply.maths.wrong_step == "15 * 80 = 1199" and reply.maths.regenerated


def test_a_reply_that_misses_the_wrong_step_gets_it_named() -> None:
    tutor = ScriptedTutor(["Let's look at how you found the towels first."])
    reply = _ask(tutor, LAUNDRY, mode="hint")
    assert reply.text == "Let's look at how you found the towels first.\n\nCheck this step: 15 * 80 is not 1199."
    assert reply.maths.rewrite == "step_named"


def test_explain_mode_names_the_wrong_step_with_its_result() -> None:
    tutor = ScriptedTutor(["Yes, your solution is correct!", "Great job, that's right."])
    reply = _ask(tutor, LAUNDRY)
    assert "Check this step: 15 * 80 is not 1199. 15 * 80 = 1200." in reply.text


def test_a_hint_never_states_the_result_as_a_first_step() -> None:
    """2.75 × 4 has one step, "= 11": a hint shows no step rather than that one."""
    tutor = ScriptedTutor(["Yes, correct!", "Correct, well done."])
    reply = _ask(tutor, "What is 2.75 * 4? I got 10.", mode="hint")
    assert reply.text.startswith("Not quite: 10 is not the result of 2.75 × 4.")
    assert "11" not in reply.text and "= " not in reply.text


def test_a_confirmation_the_engine_cannot_back_becomes_a_hedge() -> None:
    """Every step adds up, but whether they answer the question only a person can judge."""
    problem = ("Sam has 3 bags with 4 apples each. He eats 2 apples. How many apples are left?\n\n"
               "My working: 3 * 4 = 12, then 12 + 2 = 14. So the answer is 14. Is it right?")
    tutor = ScriptedTutor(["Yes, your solution is correct! You multiplied the bags by the apples first."])
    reply = _ask(tutor, problem, mode="hint")
    assert not agrees_with_student(reply.text) and "check that each step" in reply.text
    assert reply.text.endswith("You multiplied the bags by the apples first.")
    assert reply.maths.attempt == "unverified" and reply.maths.rewrite == "hedged"


def test_a_verified_answer_may_be_called_right() -> None:
    tutor = ScriptedTutor(["Yes, that's right! Well done."])
    reply = _ask(tutor, "What is 2/3 + 1/6? I got 5/6.", mode="hint")
    assert reply.text == "Yes, that's right! Well done."
    assert reply.maths.attempt == "verified" and reply.maths.rewrite == ""


def test_the_hedges_call_nothing_right() -> None:
    from learner.grounded import HEDGE, HEDGE_STEPS_RIGHT

    assert not agrees_with_student(HEDGE) and not agrees_with_student(HEDGE_STEPS_RIGHT)


def test_a_wrong_step_the_reply_already_corrects_is_not_named_twice() -> None:
    from learner.grounded import review_reply

    grounding = ground(TutorRequest(user_text=LAUNDRY, mode="hint"))
    review = review_reply("Look at your last line: 15 * 80 = 1199.", grounding, reveal=False)
    assert review.text == "Look at your last line: 15 * 80 = 1199.\n\nChecked: 15 * 80 is not 1199."
    assert review.rewrite == "" and review.corrected


def test_the_prompt_says_whether_the_students_answer_is_right() -> None:
    wrong = ground(TutorRequest(user_text="What is 2/3 + 1/6? I got 3/9.", mode="hint")).request.facts
    assert "The student's answer 3/9 is NOT correct" in wrong and "added the numerators" in wrong
    right = ground(TutorRequest(user_text="What is 2/3 + 1/6? I got 5/6.", mode="hint")).request.facts
    assert "The student's answer 5/6 is correct" in right


def test_an_answer_the_programs_differ_from_is_hedged_not_called_wrong() -> None:
    """Agreeing programs can still be wrong (the model read the problem), so a student whose answer
    differs is not told "not quite": the confirmation becomes the hedge, and the result stays withheld."""
    program = "def solution():\n    return 3 * 4 - 2\n"
    problem = "Sam has 3 bags with 4 apples each. He eats 2 apples. How many apples are left? I got 14."
    tutor = ScriptedTutor(["Yes, that's right!", "Correct, well done."])
    reply = _ask(tutor, problem, mode="hint", write_programs=lambda _p: [program] * 3)
    assert reply.maths.attempt == "unverified" and reply.maths.rewrite == "hedged"
    assert reply.text == HEDGE and "10" not in reply.text


def test_an_answer_the_programs_agree_with_is_verified() -> None:
    program = "def solution():\n    return 3 * 4 - 2\n"
    problem = "Sam has 3 bags with 4 apples each. He eats 2 apples. How many apples are left? I got 10."
    tutor = ScriptedTutor(["Yes, that's right! Well done."])
    reply = _ask(tutor, problem, mode="hint", write_programs=lambda _p: [program] * 3)
    assert reply.maths.attempt == "verified" and reply.text == "Yes, that's right! Well done."
