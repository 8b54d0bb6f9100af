"""The maths engine's record of a reply, stored with the reply (messages.maths_json) and read back
for the teacher who reviews it: round trip through a real SQLite file, tolerant reading, the words."""
from __future__ import annotations

import json
import sqlite3

import pytest

from learner.maths_record import NOT_READABLE, UnreadableRecord, describe, from_json, teacher_lines, to_json
from learner.types import MathsCheck
from storage import Database, ValidationError, chat, review, users

CHECKED = MathsCheck(computed=("2/3 + 1/6 = 5/6",), source="engine", contradictions=("2/3 + 1/6 = 3/9",),
                     regenerated=True, corrected=True)
BLOCKED = MathsCheck(computed=("15 * 80 / 100 = 12",), attempt="wrong_step", wrong_step="15 * 80 = 1199",
                     rewrite="replaced", confirmation_blocked=True)


def stored_reply(db: Database, maths: MathsCheck | None) -> chat.Message:
    student = users.create_user(db, f"Ana {len(users.list_users(db))}", grade="7")
    session = chat.create_session(db, student.id, topic="Fractions")
    chat.add_message(db, session.id, "user", "What is 2/3 + 1/6?", mode="explain")
    reply = chat.add_message(db, session.id, "assistant", "", mode="explain", status="generating")
    return chat.finish_message(db, reply.id, "2/3 + 1/6 = 5/6.", status="complete",
                               maths_json=to_json(maths) if maths is not None else None)


@pytest.mark.parametrize("check", [CHECKED, BLOCKED, MathsCheck(computed=(), attempt="verified")])
def test_a_record_stored_with_the_reply_reads_back_equal(data_dir, check: MathsCheck) -> None:
    with Database(data_dir.db_path) as db:
        reply = stored_reply(db, check)
    with Database(data_dir.db_path) as db:   # a fresh connection: it came from the file
        stored = chat.get_message(db, reply.id).maths_json
        teacher = users.create_user(db, "Ms Lee", role="teacher")
        [item] = review.list_queue(db, teacher)
    assert stored is not None and from_json(stored) == check
    assert item.maths_json == stored and from_json(item.maths_json) == check


def test_a_reply_without_a_record_stays_null(db: Database) -> None:
    reply = stored_reply(db, None)
    assert chat.get_message(db, reply.id).maths_json is None


def test_storage_refuses_a_record_that_is_not_a_json_object(db: Database) -> None:
    reply = chat.add_message(db, chat.create_session(db, users.create_user(db, "Ana").id).id, "assistant", "",
                             status="generating")
    for bad in ("not json", "[1, 2]", '"text"'):
        with pytest.raises(ValidationError, match="JSON object"):
            chat.finish_message(db, reply.id, "5/6", status="complete", maths_json=bad)
    assert chat.get_message(db, reply.id).status == "generating"   # nothing was written
    # The table refuses it as well (the CHECK of migration 0018), whoever writes.
    with pytest.raises(sqlite3.IntegrityError):
        db.conn.execute("UPDATE messages SET maths_json = '{broken' WHERE id = ?", (reply.id,))


def test_reading_is_tolerant_of_missing_and_unknown_keys() -> None:
    assert from_json("{}") == MathsCheck(computed=())
    assert from_json(json.dumps({"computed": ["1 + 1 = 2"], "added_later": 3})) == MathsCheck(computed=("1 + 1 = 2",))
    assert from_json(json.dumps({"attempt": "wrong_answer"})).attempt == "wrong_answer"


@pytest.mark.parametrize("text", ["{broken", "[]", "null", "12", '{"computed": "2 = 2"}', '{"computed": [1]}',
                                  '{"regenerated": "yes"}', '{"attempt": 3}'])
def test_anything_else_is_unreadable(text: str) -> None:
    with pytest.raises(UnreadableRecord):
        from_json(text)
    assert teacher_lines(text) == (NOT_READABLE,)


def test_the_words_say_what_was_computed_written_again_and_corrected() -> None:
    assert describe(CHECKED) == (
        "Maths engine: computed 2/3 + 1/6 = 5/6 (from the message).",
        "The first reply stated 2/3 + 1/6 = 3/9, which is wrong — written again.",
        "Added a visible correction (a “Checked:” line) for a result the reply still got wrong.",
    )


def test_the_words_say_a_confirmation_was_blocked_and_name_the_wrong_step() -> None:
    lines = describe(BLOCKED)
    assert "Blocked: the reply called the student's wrong answer right; replaced by the engine's words." in lines
    assert lines[-1] == "Student's working: wrong step 15 * 80 = 1199."


@pytest.mark.parametrize(("check", "expected"), [
    (MathsCheck(computed=("x = 4",), source="programs"),
     "Maths engine: computed x = 4 (from programs the model wrote, kept because three agreed; the model read "
     "the problem, so check that it fits)."),
    (MathsCheck(computed=(), attempt="unverified", rewrite="hedged"),
     "Hedged: the reply called the student's working right, which the engine could not check whole; "
     "replaced by a note asking the student to check each step."),
    (MathsCheck(computed=(), attempt="wrong_step", wrong_step="3 * 4 = 13", rewrite="step_named"),
     "Added a line naming the student's wrong step, which the reply had missed."),
    (MathsCheck(computed=(), regenerated=True),
     "The first reply called the student's wrong working right — written again."),
    (MathsCheck(computed=(), attempt="verified"), "Student's working: checked, and right."),
])
def test_each_kind_of_record_has_its_line(check: MathsCheck, expected: str) -> None:
    assert expected in describe(check)


def test_no_record_no_lines() -> None:
    assert teacher_lines(None) == ()
