"""The review pane shows what the maths engine verified or changed for a reply (messages.maths_json):
its lines for a reply with a record, nothing for one without, "not readable" for a damaged one.
Real widgets offscreen, a real SQLite file."""
from __future__ import annotations

from app.ui.teacher.review_view import ReviewView
from learner.maths_record import NOT_READABLE, to_json
from learner.types import MathsCheck
from storage import Database, chat
from tests.support.classroom import Classroom

CHECKED = MathsCheck(computed=("1/2 + 1/4 = 3/4",), contradictions=("1/2 + 1/4 = 2/6",), regenerated=True,
                     corrected=True)
BLOCKED = MathsCheck(computed=("1/3 + 1/3 = 2/3",), attempt="wrong_step", wrong_step="1/3 + 1/3 = 2/6",
                     rewrite="replaced", confirmation_blocked=True)


def record(db: Database, reply: chat.Message, check: MathsCheck) -> None:
    chat.finish_message(db, reply.id, reply.content, status="complete", maths_json=to_json(check))


def shown_for(view: ReviewView, reply: chat.Message) -> str:
    view.refresh(select_key=f"m{reply.id}")
    assert view.current_item().key == f"m{reply.id}"
    return view.detail.toPlainText()


def test_the_pane_says_what_the_engine_checked_and_nothing_without_a_record(view: ReviewView, db: Database,
                                                                          classroom: Classroom) -> None:
    first, second, third = classroom.replies
    record(db, first, CHECKED)
    record(db, second, BLOCKED)

    text = shown_for(view, first)
    assert "Maths engine: computed 1/2 + 1/4 = 3/4 (from the message)." in text
    assert "The first reply stated 1/2 + 1/4 = 2/6, which is wrong — written again." in text
    assert "Added a visible correction" in text

    text = shown_for(view, second)
    assert "Blocked: the reply called the student's wrong answer right; replaced by the engine's words." in text
    assert "Student's working: wrong step 1/3 + 1/3 = 2/6." in text

    text = shown_for(view, third)
    assert "Because the denominators match." in text
    assert "Maths engine" not in text and "Student's working" not in text


def test_a_damaged_record_is_shown_as_not_readable(view: ReviewView, db: Database, classroom: Classroom) -> None:
    first, second, _ = classroom.replies
    # Damage that the column's CHECK would refuse: written around it, as a broken file could hold it.
    db.conn.execute("PRAGMA ignore_check_constraints = ON")
    db.conn.execute("UPDATE messages SET maths_json = '{\"computed\": [' WHERE id = ?", (first.id,))
    db.conn.execute("UPDATE messages SET maths_json = '{\"computed\": 42}' WHERE id = ?", (second.id,))
    db.conn.execute("PRAGMA ignore_check_constraints = OFF")

    for reply in (first, second):
        text = shown_for(view, reply)
        assert NOT_READABLE in text
        assert reply.content in text   # the rest of the exchange is still there
