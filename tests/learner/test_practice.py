"""Items and attempts end to end below the UI: generation with retries, checking, storing,
bad input refused with nothing stored, disputes, class overview, telling rates."""
from __future__ import annotations

import pytest

from learner import practice
from learner.mastery import bkt_update
from learner.practice import PracticeError, PracticeFormatError
from storage import PermissionDenied, ValidationError, chat, users
from storage import practice as stored
from tests.support.practice import GOOD_ITEM, ScriptedGenerator


def _count(db, table: str) -> int:
    return db.query(f"SELECT count(*) AS n FROM {table}")[0]["n"]


def test_new_item_is_parsed_and_stored_with_provenance(db, student, settings):
    gen = ScriptedGenerator([GOOD_ITEM], adapter_version=3)
    item = practice.new_item(db, gen, user_id=student.id, topic="Fractions", settings=settings, grade="7")
    assert item.question.startswith("Sam ate 1/4") and item.answer_key.startswith("3/4")
    assert (item.topic, item.difficulty, item.model_id, item.adapter_version) == ("Fractions", "easy",
                                                                                   "scripted-model", 3)
    assert stored.list_items(db, student.id) == [item]
    prompt = gen.prompts[0]
    assert "Topic: Fractions" in prompt and "Grade level: 7" in prompt and "Difficulty: easy" in prompt


def test_malformed_replies_are_retried_then_refused_with_nothing_stored(db, student, settings):
    gen = ScriptedGenerator(["Fractions are fun!", "Question: What is 1/2 + 1/4?", "```\n```"])
    with pytest.raises(PracticeFormatError, match=r"3 tries.*larger model"):
        practice.new_item(db, gen, user_id=student.id, topic="Fractions", settings=settings)
    assert len(gen.calls) == 3 and _count(db, "practice_items") == 0
    # greedy settings would repeat the same bad reply: retries sample
    assert [s.temperature for _, s in gen.calls] == [0.0, 0.7, 0.7]


def test_a_retry_that_parses_is_used(db, student, settings):
    gen = ScriptedGenerator(["Sure, here's one about fractions", GOOD_ITEM])
    item = practice.new_item(db, gen, user_id=student.id, topic="Fractions", settings=settings)
    assert item.answer_key.startswith("3/4") and len(gen.calls) == 2


def test_difficulty_follows_the_students_mastery(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic="Fractions",
                             settings=settings)
    for answer in ("3/4", "0.75", "3/4"):
        practice.check_attempt(db, ScriptedGenerator([]), item_id=item.id, user_id=student.id, answer=answer,
                               settings=settings)
    gen = ScriptedGenerator([GOOD_ITEM])
    practice.new_item(db, gen, user_id=student.id, topic="fractions", settings=settings)
    assert "Difficulty: hard" in gen.prompts[0]
    assert "Sam ate 1/4" in gen.prompts[0]       # earlier questions are listed so the model avoids them


def test_empty_topic_refused_before_any_model_work(db, student, settings):
    gen = ScriptedGenerator([])
    with pytest.raises(PracticeError, match="Choose a topic"):
        practice.new_item(db, gen, user_id=student.id, topic="  ", settings=settings)
    assert gen.calls == []


def test_check_attempt_judges_with_the_key_and_the_students_answer(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic="Fractions",
                             settings=settings)
    gen = ScriptedGenerator(["Verdict: partly\nFeedback: You wrote 3/8: you added the denominators too."])
    result = practice.check_attempt(db, gen, item_id=item.id, user_id=student.id, answer="1/4 + 2/4 = 3/8",
                                    settings=settings)
    prompt = gen.prompts[0]
    assert "Answer key: 3/4, because" in prompt and "1/4 + 2/4 = 3/8" in prompt and item.question in prompt
    assert result.judgement.verdict == "partly" and "3/8" in result.attempt.feedback
    assert result.p_known_after == pytest.approx(bkt_update(None, "partly"))
    assert stored.get_mastery(db, student.id, "Fractions").p_known == pytest.approx(result.p_known_after)
    assert stored.get_card(db, item.id).due == result.due


def test_an_answer_equal_to_the_key_needs_no_model(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic="Fractions",
                             settings=settings)
    result = practice.check_attempt(db, ScriptedGenerator([]), item_id=item.id, user_id=student.id, answer="0.75",
                                    settings=settings)
    assert result.judgement.verdict == "correct" and "0.75" in result.judgement.feedback
    assert result.attempt.model_id is None


def test_placeholders_in_an_answer_are_not_filled(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic="Fractions",
                             settings=settings)
    gen = ScriptedGenerator(["Verdict: incorrect\nFeedback: {answer_key} is not an answer."])
    practice.check_attempt(db, gen, item_id=item.id, user_id=student.id, answer="{answer_key} {question}",
                           settings=settings)
    assert "---\n{answer_key} {question}\n---" in gen.prompts[0]


@pytest.mark.parametrize("answer,says", [
    ("", "empty"), ("   \n ", "empty"), ("x" * 10_000, r"10,000 characters long; answers can be at most 4,000"),
])
def test_bad_answers_refused_with_nothing_stored(db, student, settings, answer, says):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic="Fractions",
                             settings=settings)
    gen = ScriptedGenerator([])
    with pytest.raises(ValidationError, match=says):
        practice.check_attempt(db, gen, item_id=item.id, user_id=student.id, answer=answer, settings=settings)
    assert gen.calls == []
    assert (_count(db, "practice_attempts"), _count(db, "mastery"), _count(db, "review_cards")) == (0, 0, 0)


def test_answer_at_the_limit_is_accepted(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic="Fractions",
                             settings=settings)
    answer = ("I think " + "very " * 800)[:stored.MAX_ANSWER_CHARS - 4] + " 3/8"
    assert len(answer) == stored.MAX_ANSWER_CHARS
    gen = ScriptedGenerator(["Verdict: incorrect\nFeedback: After a long answer you wrote 3/8; it is 3/4."])
    result = practice.check_attempt(db, gen, item_id=item.id, user_id=student.id, answer=answer, settings=settings)
    assert result.attempt.answer == answer.strip()


def test_unreadable_judgement_stores_nothing(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic="Fractions",
                             settings=settings)
    with pytest.raises(PracticeFormatError, match="judgement"):
        practice.check_attempt(db, ScriptedGenerator(["Hmm."] * 3), item_id=item.id, user_id=student.id,
                               answer="5/8", settings=settings)
    assert _count(db, "practice_attempts") == 0 and _count(db, "mastery_history") == 0


def test_another_students_item_is_refused(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic="Fractions",
                             settings=settings)
    other = users.create_user(db, "Ben")
    with pytest.raises(PracticeError, match="another student"):
        practice.check_attempt(db, ScriptedGenerator([]), item_id=item.id, user_id=other.id, answer="3/4",
                               settings=settings)


def test_dispute_goes_to_teachers_who_resolve_it(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic="Fractions",
                             settings=settings)
    result = practice.check_attempt(db, ScriptedGenerator(["Verdict: incorrect\nFeedback: six eighths is wrong."]),
                                    item_id=item.id, user_id=student.id, answer="six eighths", settings=settings)
    disputed = stored.dispute(db, result.attempt.id, student.id, reason="6/8 is 3/4!")
    assert stored.get_attempt(db, result.attempt.id).disputed
    with pytest.raises(ValidationError, match="already disputed"):
        stored.dispute(db, result.attempt.id, student.id)
    with pytest.raises(PermissionDenied):
        stored.list_disputes(db, student)
    teacher = users.create_user(db, "Ms Reed", role="teacher", password_hash="x")
    [open_one] = stored.list_disputes(db, teacher)
    assert (open_one.id, open_one.answer, open_one.verdict, open_one.answer_key) == (
        disputed.id, "six eighths", "incorrect", item.answer_key)
    with pytest.raises(PermissionDenied):
        stored.resolve_dispute(db, student, disputed.id, verdict="correct")
    resolved = stored.resolve_dispute(db, teacher, disputed.id, verdict="correct", note="6/8 = 3/4")
    assert (resolved.status, resolved.teacher_verdict, resolved.resolved_by_name) == ("overturned", "correct", "Ms Reed")
    assert stored.list_disputes(db, teacher) == []
    assert db.query("SELECT action FROM audit_log")[-1]["action"] == "practice.dispute.overturn"


def test_class_overview_is_for_teachers_only(db, student, settings):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic="Fractions",
                             settings=settings)
    practice.check_attempt(db, ScriptedGenerator([]), item_id=item.id, user_id=student.id, answer="3/4",
                           settings=settings)
    with pytest.raises(PermissionDenied):
        stored.class_overview(db, student)
    teacher = users.create_user(db, "Ms Reed", role="teacher", password_hash="x")
    [cell] = stored.class_overview(db, teacher)
    assert (cell.student_name, cell.topic, cell.n_attempts) == ("Ana", "Fractions", 1)
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
    the practice tables from 0007 on its next open."""
    from storage import Database
    from storage.db import schema_version

    with Database(data_dir.db_path) as db:
        for table in ("guard_events", "review_cards", "mastery_history", "mastery", "practice_disputes",
                      "practice_attempts", "practice_items"):
            db.conn.execute(f"DROP TABLE {table}")
        db.conn.execute("PRAGMA user_version = 6")
    with Database(data_dir.db_path) as db:
        assert db.user_version == schema_version()
        user = users.create_user(db, "Ana")
        item = stored.add_item(db, user.id, topic="Fractions", question="What is 1/2 + 1/4?", answer_key="3/4")
        assert stored.get_item(db, item.id).answer_key == "3/4"


def test_solved_items_no_longer_guard_hints(db, student, settings):
    session = chat.create_session(db, student.id, topic="Fractions")
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic="Fractions",
                             settings=settings, session_id=session.id)
    assert stored.latest_session_key(db, session.id)[0] == item.answer_key
    practice.check_attempt(db, ScriptedGenerator([]), item_id=item.id, user_id=student.id, answer="3/4",
                           settings=settings)
    assert stored.latest_session_key(db, session.id) is None


@pytest.mark.parametrize("answer,model_says,verdict", [
    ("maybe 100?", "correct", "incorrect"),      # what the real 0.5B model did: overruled
    ("I got 3/4 by adding", "correct", "correct"),
    ("75 percent of it", "correct", "correct"),
    ("three quarters", "correct", "correct"),    # no digits: the model's word stands
    ("5/8", "partly", "partly"),                 # only a "correct" is ever overruled
])
def test_an_impossible_correct_is_overruled(db, student, settings, answer, model_says, verdict):
    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic="Fractions",
                             settings=settings)
    gen = ScriptedGenerator([f"Verdict: {model_says}\nFeedback: About your answer {answer}: fine."])
    result = practice.check_attempt(db, gen, item_id=item.id, user_id=student.id, answer=answer, settings=settings)
    assert result.judgement.verdict == verdict
    if verdict != model_says:
        assert answer in result.attempt.feedback and "3/4" not in result.attempt.feedback


def test_student_practice_data_export_and_delete_cascade(db, student, settings):
    import json

    item = practice.new_item(db, ScriptedGenerator([GOOD_ITEM]), user_id=student.id, topic="Fractions",
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
