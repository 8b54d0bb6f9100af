"""Items and attempts end to end below the UI: items computed by the maths engine's generators
(no model), model-written items with their keys checked, retried or refused; verdicts by
equivalence with named misconceptions, the model only for what the engine cannot read; storing,
bad input refused with nothing stored, disputes, class overview, telling rates."""
from __future__ import annotations

import random

import pytest

from learner import practice
from learner.mastery import bkt_update
from learner.maths import generator_for, judge
from learner.practice import PracticeError, PracticeFormatError
from storage import PermissionDenied, ValidationError, chat, users
from storage import practice as stored
from tests.support.practice import (
    GOOD_ITEM,
    MODEL_TOPIC,
    RIGHT_KEY_ITEM,
    SIMPLEST_ITEM,
    WRONG_KEY_ITEM,
    ScriptedGenerator,
)


def _count(db, table: str) -> int:
    return db.query(f"SELECT count(*) AS n FROM {table}")[0]["n"]


def test_new_item_is_parsed_and_stored_with_provenance(db, student, settings):
    gen = ScriptedGenerator([GOOD_ITEM], adapter_version=3)
    item = practice.new_item(db, gen, user_id=student.id, topic=MODEL_TOPIC, settings=settings, grade="7")
    assert item.question.startswith("Sam ate 1/4") and item.answer_key.startswith("3/4")
    assert (item.topic, item.difficulty, item.model_id, item.adapter_version) == (MODEL_TOPIC, "easy",
                                                                                   "scripted-model", 3)
    assert stored.list_items(db, student.id) == [item]
    prompt = gen.prompts[0]
    assert f"Topic: {MODEL_TOPIC}" in prompt and "Grade level: 7" in prompt and "Difficulty: easy" in prompt


def test_malformed_replies_are_retried_then_refused_with_nothing_stored(db, student, settings):
    gen = ScriptedGenerator(["Fractions are fun!", "Question: What is 1/2 + 1/4?", "```\n```"])
    with pytest.raises(PracticeFormatError, match=r"3 tries.*larger model"):
        practice.new_item(db, gen, user_id=student.id, topic=MODEL_TOPIC, settings=settings)
    assert len(gen.calls) == 3 and _count(db, "practice_items") == 0
    # greedy settings would repeat the same bad reply: retries sample
    assert [s.temperature for _, s in gen.calls] == [0.0, 0.7, 0.7]


def test_a_retry_that_parses_is_used(db, student, settings):
    gen = ScriptedGenerator(["Sure, here's one about fractions", GOOD_ITEM])
    item = practice.new_item(db, gen, user_id=student.id, topic=MODEL_TOPIC, settings=settings)
    assert item.answer_key.startswith("3/4") and len(gen.calls) == 2


def test_difficulty_follows_the_students_mastery(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic=MODEL_TOPIC,
                             settings=settings)
    for answer in ("3/4", "0.75", "3/4"):
        practice.check_attempt(db, ScriptedGenerator([]), item_id=item.id, user_id=student.id, answer=answer,
                               settings=settings)
    gen = ScriptedGenerator([GOOD_ITEM])
    practice.new_item(db, gen, user_id=student.id, topic=MODEL_TOPIC.lower(), settings=settings)
    assert "Difficulty: hard" in gen.prompts[0]
    assert "Sam ate 1/4" in gen.prompts[0]       # earlier questions are listed so the model avoids them


def test_empty_topic_refused_before_any_model_work(db, student, settings):
    gen = ScriptedGenerator([])
    with pytest.raises(PracticeError, match="Choose a topic"):
        practice.new_item(db, gen, user_id=student.id, topic="  ", settings=settings)
    assert gen.calls == []


def test_an_answer_the_engine_cannot_read_goes_to_the_model_with_the_key(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic=MODEL_TOPIC,
                             settings=settings)
    answer = "I added the tops and the bottoms and got three eighths"
    gen = ScriptedGenerator(["Verdict: partly\nFeedback: You wrote three eighths: you added the denominators too."])
    result = practice.check_attempt(db, gen, item_id=item.id, user_id=student.id, answer=answer, settings=settings)
    prompt = gen.prompts[0]
    assert "Answer key: 3/4, because" in prompt and answer in prompt and item.question in prompt
    assert result.judgement.verdict == "partly" and "three eighths" in result.attempt.feedback
    assert result.judgement.by_model and result.attempt.model_id == "scripted-model"
    assert practice.UNCHECKED_NOTE in result.attempt.feedback     # the key was never verified: it says so
    assert result.p_known_after == pytest.approx(bkt_update(None, "partly"))
    assert stored.get_mastery(db, student.id, MODEL_TOPIC).p_known == pytest.approx(result.p_known_after)
    assert stored.get_card(db, item.id).due == result.due


def test_an_answer_equal_to_the_key_needs_no_model(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic=MODEL_TOPIC,
                             settings=settings)
    result = practice.check_attempt(db, ScriptedGenerator([]), item_id=item.id, user_id=student.id, answer="0.75",
                                    settings=settings)
    assert result.judgement.verdict == "correct" and "0.75" in result.judgement.feedback
    assert result.attempt.model_id is None


def test_placeholders_in_an_answer_are_not_filled(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic=MODEL_TOPIC,
                             settings=settings)
    gen = ScriptedGenerator(["Verdict: incorrect\nFeedback: {answer_key} is not an answer."])
    practice.check_attempt(db, gen, item_id=item.id, user_id=student.id, answer="{answer_key} {question}",
                           settings=settings)
    assert "---\n{answer_key} {question}\n---" in gen.prompts[0]


@pytest.mark.parametrize("answer,says", [
    ("", "empty"), ("   \n ", "empty"), ("x" * 10_000, r"10,000 characters long; answers can be at most 4,000"),
])
def test_bad_answers_refused_with_nothing_stored(db, student, settings, answer, says):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic=MODEL_TOPIC,
                             settings=settings)
    gen = ScriptedGenerator([])
    with pytest.raises(ValidationError, match=says):
        practice.check_attempt(db, gen, item_id=item.id, user_id=student.id, answer=answer, settings=settings)
    assert gen.calls == []
    assert (_count(db, "practice_attempts"), _count(db, "mastery"), _count(db, "review_cards")) == (0, 0, 0)


def test_answer_at_the_limit_is_accepted(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic=MODEL_TOPIC,
                             settings=settings)
    answer = ("I think " + "very " * 800)[:stored.MAX_ANSWER_CHARS - 4] + " 3/8"
    assert len(answer) == stored.MAX_ANSWER_CHARS
    gen = ScriptedGenerator(["Verdict: incorrect\nFeedback: After a long answer you wrote 3/8; it is 3/4."])
    result = practice.check_attempt(db, gen, item_id=item.id, user_id=student.id, answer=answer, settings=settings)
    assert result.attempt.answer == answer.strip()


def test_unreadable_judgement_stores_nothing(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic=MODEL_TOPIC,
                             settings=settings)
    with pytest.raises(PracticeFormatError, match="judgement"):
        practice.check_attempt(db, ScriptedGenerator(["Hmm."] * 3), item_id=item.id, user_id=student.id,
                               answer="no idea, sorry", settings=settings)
    assert _count(db, "practice_attempts") == 0 and _count(db, "mastery_history") == 0


def test_another_students_item_is_refused(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic=MODEL_TOPIC,
                             settings=settings)
    other = users.create_user(db, "Ben")
    with pytest.raises(PracticeError, match="another student"):
        practice.check_attempt(db, ScriptedGenerator([]), item_id=item.id, user_id=other.id, answer="3/4",
                               settings=settings)


def test_dispute_goes_to_teachers_who_resolve_it(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic=MODEL_TOPIC,
                             settings=settings)
    answer = "I think it is six eighths of the pizza"
    result = practice.check_attempt(db, ScriptedGenerator(["Verdict: incorrect\nFeedback: six eighths is wrong."]),
                                    item_id=item.id, user_id=student.id, answer=answer, settings=settings)
    disputed = stored.dispute(db, result.attempt.id, student.id, reason="6/8 is 3/4!")
    assert stored.get_attempt(db, result.attempt.id).disputed
    with pytest.raises(ValidationError, match="already disputed"):
        stored.dispute(db, result.attempt.id, student.id)
    with pytest.raises(PermissionDenied):
        stored.list_disputes(db, student)
    teacher = users.create_user(db, "Ms Reed", role="teacher", password_hash="x")
    [open_one] = stored.list_disputes(db, teacher)
    assert (open_one.id, open_one.answer, open_one.verdict, open_one.answer_key) == (
        disputed.id, answer, "incorrect", item.answer_key)
    with pytest.raises(PermissionDenied):
        stored.resolve_dispute(db, student, disputed.id, verdict="correct")
    resolved = stored.resolve_dispute(db, teacher, disputed.id, verdict="correct", note="6/8 = 3/4")
    assert (resolved.status, resolved.teacher_verdict, resolved.resolved_by_name) == ("overturned", "correct", "Ms Reed")
    assert stored.list_disputes(db, teacher) == []
    assert db.query("SELECT action FROM audit_log")[-1]["action"] == "practice.dispute.overturn"


def test_class_overview_is_for_teachers_only(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic=MODEL_TOPIC,
                             settings=settings)
    practice.check_attempt(db, ScriptedGenerator([]), item_id=item.id, user_id=student.id, answer="3/4",
                           settings=settings)
    with pytest.raises(PermissionDenied):
        stored.class_overview(db, student)
    teacher = users.create_user(db, "Ms Reed", role="teacher", password_hash="x")
    [cell] = stored.class_overview(db, teacher)
    assert (cell.student_name, cell.topic, cell.n_attempts) == ("Ana", MODEL_TOPIC, 1)
    assert cell.p_known == pytest.approx(bkt_update(None, "correct"))


def test_telling_rate_per_adapter_version(db):
    for version, caught, outcome in [(None, False, "passed"), (None, True, "regenerated"), (2, True, "withheld"),
                                     (2, False, "passed"), (2, False, "passed"), (2, False, "passed")]:
        stored.record_guard_event(db, mode="hint", caught=caught, outcome=outcome, adapter_version=version)
    base, v2 = stored.telling_rates(db)
    assert (base.adapter_version, base.checked, base.caught, base.rate) == (None, 2, 1, 0.5)
    assert (v2.adapter_version, v2.checked, v2.caught, v2.withheld, v2.rate) == (2, 4, 1, 1, 0.25)


def test_latest_session_key_from_items_or_practice_replies(db, student, settings):
    session = chat.create_session(db, student.id, topic="Fractions")
    assert stored.latest_session_key(db, session.id) is None
    chat.add_message(db, session.id, "assistant", "Question: What is 2/3 of 9?", mode="practice", answer_key="6")
    assert stored.latest_session_key(db, session.id) == ("6", "Question: What is 2/3 of 9?")


def test_migration_restores_practice_tables_missing_from_an_old_database(data_dir):
    """A database whose user_version counted 0004 while that file was an empty placeholder gets
    the practice tables from 0007 on its next open (and every later migration after it)."""
    import sqlite3

    from storage import Database
    from storage.db import migrations, schema_version, sql_statements

    conn = sqlite3.connect(data_dir.db_path)
    for version, _name, sql in migrations()[:6]:
        if version != 4:       # the placeholder that created nothing
            for statement in sql_statements(sql):
                conn.execute(statement)
    conn.execute("PRAGMA user_version = 6")
    conn.commit()
    conn.close()
    with Database(data_dir.db_path) as db:
        assert db.user_version == schema_version()
        user = users.create_user(db, "Ana")
        item = stored.add_item(db, user.id, topic="Fractions", question="What is 1/2 + 1/4?", answer_key="3/4")
        assert stored.get_item(db, item.id).answer_key == "3/4"


def test_solved_items_no_longer_guard_hints(db, student, settings):
    session = chat.create_session(db, student.id, topic="Fractions")
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic=MODEL_TOPIC,
                             settings=settings, session_id=session.id)
    assert stored.latest_session_key(db, session.id)[0] == item.answer_key
    practice.check_attempt(db, ScriptedGenerator([]), item_id=item.id, user_id=student.id, answer="3/4",
                           settings=settings)
    assert stored.latest_session_key(db, session.id) is None


@pytest.mark.parametrize("answer,model_says,verdict", [
    ("maybe 100?", "correct", "incorrect"),             # what the real 0.5B model did: overruled
    ("hmm, 3/4 I reckon", "incorrect", "correct"),      # every number it states is the key's: overruled
    ("3/4 is wrong, I think it's 5/8", "partly", "partly"),   # mixed numbers: the model's word stands
    ("about half of it", "correct", "correct"),         # no digits: the model's word stands
    ("no idea", "partly", "partly"),
])
def test_a_model_verdict_the_numbers_contradict_is_overruled(db, student, settings, answer, model_says, verdict):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic=MODEL_TOPIC,
                             settings=settings)
    gen = ScriptedGenerator([f"Verdict: {model_says}\nFeedback: About your answer {answer}: fine."])
    result = practice.check_attempt(db, gen, item_id=item.id, user_id=student.id, answer=answer, settings=settings)
    assert len(gen.calls) == 1        # only answers the engine cannot read reach the model
    assert result.judgement.verdict == verdict
    if verdict != model_says:
        assert answer in result.attempt.feedback
    if verdict == "incorrect":
        assert "3/4" not in result.attempt.feedback      # the key is not given away


def test_student_practice_data_export_and_delete_cascade(db, student, settings):
    import json

    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic=MODEL_TOPIC,
                             settings=settings)
    practice.check_attempt(db, ScriptedGenerator([]), item_id=item.id, user_id=student.id, answer="3/4",
                           settings=settings)
    stored.record_guard_event(db, mode="hint", caught=False, outcome="passed", adapter_version=None,
                             user_id=student.id)
    data = stored.student_practice_data(db, student.id)
    assert [len(data[k]) for k in ("items", "attempts", "mastery", "mastery_history", "review_cards")] == [1] * 5
    json.dumps(data)
    with db.transaction() as t:
        t.execute("DELETE FROM users WHERE id = ?", [student.id])
    for table in ("practice_items", "practice_attempts", "mastery", "mastery_history", "review_cards"):
        assert _count(db, table) == 0, table
    assert db.query("SELECT user_id FROM guard_events") == [{"user_id": None}]


# -- items computed in code, model items checked ----------------------------------------------------

@pytest.mark.parametrize("topic", ["Fractions", "adding fractions", "Decimals", "Percentages", "Ratio",
                                   "Order of operations", "Solving equations", "Word problems", "Rounding"])
def test_generator_topics_never_call_the_model_and_their_keys_are_right(db, student, settings, topic):
    gen = ScriptedGenerator([])      # any model call fails the test
    for seed in range(6):
        item = practice.new_item(db, gen, user_id=student.id, topic=topic, settings=settings,
                                 difficulty=("easy", "medium", "hard")[seed % 3], rng=random.Random(seed))
        assert (item.checked, item.key_source, item.model_id, item.topic) == (True, "generator", None, topic)
        assert item.key_note.startswith("Computed by the maths engine")
        computation = practice.question_computation(item.question)
        if computation is not None and computation.value is not None:   # recomputed from the question text
            assert judge(item.answer_key, computation.result).correct, (item.question, item.answer_key)
    assert gen.calls == []


def test_a_generated_item_is_fixed_by_its_seed_and_avoids_the_last_questions(db, student, settings):
    first = practice.generate_item(None, topic="Fractions", settings=settings, difficulty="medium",
                                   rng=random.Random(11))
    again = practice.generate_item(None, topic="Fractions", settings=settings, difficulty="medium",
                                   rng=random.Random(11))
    assert first == again
    other = practice.generate_item(None, topic="Fractions", settings=settings, difficulty="medium",
                                   rng=random.Random(11), avoid=[first.question])
    assert other.question != first.question


def test_a_generated_fraction_item_stores_its_misconceptions_and_steps(db, student, settings):
    item = practice.new_item(db, None, user_id=student.id, topic="Fractions", settings=settings,
                             difficulty="medium", rng=random.Random(2))
    assert item.require_simplest and item.worked_steps
    assert item.wrong_answers and all(w.code and w.name and w.hint for w in item.wrong_answers)
    wrong = item.wrong_answers[0]
    result = practice.check_attempt(db, None, item_id=item.id, user_id=student.id, answer=wrong.answer,
                                    settings=settings)
    assert result.judgement.verdict in ("incorrect", "partly") and wrong.name in result.attempt.feedback
    assert result.attempt.misconception == wrong.code and result.judgement.hint == wrong.hint


def test_a_model_key_that_disagrees_with_its_computation_is_replaced(db, student, settings):
    gen = ScriptedGenerator([WRONG_KEY_ITEM])
    item = practice.new_item(db, gen, user_id=student.id, topic=MODEL_TOPIC, settings=settings)
    assert (item.answer_key, item.checked, item.key_source) == ("5/6", True, "model_corrected")
    assert item.model_answer_key.startswith("3/9") and "2/3 + 1/6 = 5/6" in item.key_note
    assert item.model_id == "scripted-model" and item.worked_steps
    # the student who answers correctly is marked correct (the wrong key marked them wrong)
    result = practice.check_attempt(db, ScriptedGenerator([]), item_id=item.id, user_id=student.id, answer="5/6",
                                    settings=settings)
    assert result.judgement.verdict == "correct" and practice.UNCHECKED_NOTE not in result.attempt.feedback


def test_a_model_key_that_agrees_with_its_computation_is_checked(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([RIGHT_KEY_ITEM]), user_id=student.id, topic=MODEL_TOPIC,
                             settings=settings)
    assert (item.answer_key, item.checked, item.key_source, item.model_answer_key) == (
        "5/6", True, "model_verified", "5/6")


def test_a_model_item_with_its_own_program_is_checked_against_it(db, student, settings):
    program = "```python\ndef solution():\n    return 3 * 4\n```"
    question = "Question: A rectangle is 3 cm wide and 4 cm long. What is its area in square cm?"
    agrees = ScriptedGenerator([f"{question}\nAnswer key: 12\n{program}"])
    item = practice.new_item(db, agrees, user_id=student.id, topic="Area", settings=settings)
    assert (item.checked, item.key_source, item.answer_key) == (True, "model_verified", "12")
    disagrees = ScriptedGenerator([f"{question}\nAnswer key: 14\n{program}"])
    item = practice.new_item(db, disagrees, user_id=student.id, topic="Area", settings=settings)
    assert (item.checked, item.key_source, item.answer_key) == (False, "model", "14")
    assert "computes 12" in item.key_note


@pytest.mark.parametrize("reply", [
    GOOD_ITEM,                                                                      # a word problem
    "Question: What is the capital of France?\nAnswer key: Paris",                 # no value to compute
    "Question: How many times does 1/3 of a pie equal 2/4?\nAnswer key: 6, because 1/3 * 2/4 = 2/4",
])
def test_an_item_nothing_can_verify_is_stored_unchecked(db, student, settings, reply):
    item = practice.new_item(db, ScriptedGenerator([reply]), user_id=student.id, topic=MODEL_TOPIC,
                             settings=settings)
    assert (item.checked, item.key_source, item.model_answer_key) == (False, "model", None)
    assert item.key_note.startswith("Unchecked:")


def test_model_text_is_stored_as_plain_maths(db, student, settings):
    reply = "Question: What is \\frac{2}{3} + \\frac{1}{6}?\nAnswer key: \\frac{5}{6}"
    item = practice.new_item(db, ScriptedGenerator([reply]), user_id=student.id, topic=MODEL_TOPIC,
                             settings=settings)
    assert item.question == "What is 2/3 + 1/6?" and item.checked


def test_correct_model_keys_are_never_corrected():
    """Generated items read as if the model had written them (with their right keys): the engine
    confirms or leaves them unchecked, and never 'corrects' a right key."""
    from learner.maths import TOPICS

    for topic in TOPICS:
        for seed in range(15):
            made = practice.generated_item(topic, difficulty=("easy", "medium", "hard")[seed % 3],
                                           rng=random.Random(seed))
            checked = practice.verify_item(practice.ParsedItem(question=made.question, answer_key=made.answer_key,
                                                               topic=topic, difficulty=made.difficulty))
            assert checked.key_source in ("model_verified", "model"), (made.question, made.answer_key, checked)


# -- verdicts by equivalence ------------------------------------------------------------------------

def _checked_item(db, student, settings, reply):
    return practice.new_item(db, ScriptedGenerator([reply]), user_id=student.id, topic=MODEL_TOPIC,
                             settings=settings)


@pytest.mark.parametrize("answer", ["1/2", "0.5", "50%", "50 %", "one half", "2/4", "x = 1/2"])
def test_equivalent_forms_are_correct_without_the_model(db, student, settings, answer):
    item = stored.add_item(db, student.id, topic="Fractions", question="What is 1/4 + 1/4?", answer_key="1/2",
                           checked=True, key_source="generator")
    gen = ScriptedGenerator(["Verdict: incorrect\nFeedback: No, that is wrong."])    # never asked
    result = practice.check_attempt(db, gen, item_id=item.id, user_id=student.id, answer=answer, settings=settings)
    assert result.judgement.verdict == "correct" and gen.calls == []
    assert result.attempt.model_id is None and result.p_known_after == pytest.approx(bkt_update(None, "correct"))


def test_not_simplest_form_is_partly_right_with_the_reason(db, student, settings):
    item = _checked_item(db, student, settings, SIMPLEST_ITEM)
    assert item.require_simplest and item.checked
    result = practice.check_attempt(db, ScriptedGenerator([]), item_id=item.id, user_id=student.id, answer="2/4",
                                    settings=settings)
    assert result.judgement.verdict == "partly" and "simplest form" in result.attempt.feedback
    assert result.p_known_after == pytest.approx(bkt_update(None, "partly"))
    assert stored.get_card(db, item.id) is not None


def test_a_misconception_answer_is_incorrect_and_named(db, student, settings):
    item = _checked_item(db, student, settings, RIGHT_KEY_ITEM)
    for answer in ("3/9", "2/3 + 1/6 = 3/9"):
        result = practice.check_attempt(db, ScriptedGenerator([]), item_id=item.id, user_id=student.id,
                                        answer=answer, settings=settings)
        assert result.judgement.verdict == "incorrect"
        assert "added the numerators and added the denominators" in result.attempt.feedback
        assert result.attempt.misconception == "fraction_added_across"
        assert "common denominator" in result.judgement.hint
        assert "5/6" not in result.attempt.feedback        # the key is not given away


def test_a_correct_answer_is_correct_whatever_the_model_says(db, student, settings):
    item = _checked_item(db, student, settings, RIGHT_KEY_ITEM)
    gen = ScriptedGenerator(["Verdict: incorrect\nFeedback: That is wrong."] * 3)
    for answer in ("5/6", "10/12", "five sixths", "x = 5/6 because 4/6 + 1/6 = 5/6"):
        result = practice.check_attempt(db, gen, item_id=item.id, user_id=student.id, answer=answer,
                                        settings=settings)
        assert result.judgement.verdict == "correct", answer
    assert gen.calls == []


@pytest.mark.parametrize("key,tolerance,answer,verdict", [
    ("12 cm", "0", "120 mm", "correct"),        # units converted
    ("12 cm", "0", "12 kg", "incorrect"),
    ("3.14", "1/100", "3.141", "correct"),      # within the item's tolerance
    ("3.14", "1/100", "3.2", "incorrect"),
    ("5/6", "0", "0.83", "partly"),             # rounded: the right idea, not the exact value
])
def test_units_tolerance_and_rounding(db, student, settings, key, tolerance, answer, verdict):
    item = stored.add_item(db, student.id, topic="Measures", question="A question?", answer_key=key,
                           checked=True, key_source="generator", tolerance=tolerance)
    result = practice.check_attempt(db, None, item_id=item.id, user_id=student.id, answer=answer, settings=settings)
    assert result.judgement.verdict == verdict and not result.judgement.by_model


def test_without_a_model_an_answer_the_engine_cannot_read_is_refused_clearly(db, student, settings):
    item = _checked_item(db, student, settings, RIGHT_KEY_ITEM)
    with pytest.raises(PracticeError, match="cannot read this answer"):
        practice.check_attempt(db, None, item_id=item.id, user_id=student.id, answer="no idea", settings=settings)
    assert _count(db, "practice_attempts") == 0


def test_a_model_topic_without_a_model_is_refused_clearly(db, student, settings):
    assert generator_for(MODEL_TOPIC) is None
    with pytest.raises(PracticeError, match="written by the model"):
        practice.new_item(db, None, user_id=student.id, topic=MODEL_TOPIC, settings=settings)
