"""Safeguarding alerts in storage: teachers only, acknowledged once, and flagged exchanges (and the
replies after them in the same session) never reach the review queue or training."""
from __future__ import annotations

import pytest

from storage import (
    Database,
    PermissionDenied,
    ValidationError,
    audit,
    chat,
    review,
    safeguarding,
)
from tests.support.classroom import Classroom, add_exchange, fixed_prompt


def flag(db: Database, classroom: Classroom, text: str = "i want to kill myself") -> tuple[safeguarding.Alert, chat.Message]:
    """A flagged exchange as the chat stores it: the message, the help-text reply, the alert."""
    message = chat.add_message(db, classroom.session.id, "user", text, mode="explain")
    reply = chat.add_message(db, classroom.session.id, "assistant", "Please talk to a trusted adult.", mode="explain")
    alert = safeguarding.record_alert(db, text=text, category="self_harm", stage="lexicon", patterns=["en-kill-myself"],
                                      message_id=message.id, reply_id=reply.id, session_id=classroom.session.id,
                                      student_id=classroom.student.id)
    return alert, reply


def test_a_teacher_lists_and_acknowledges_an_alert(db: Database, classroom: Classroom) -> None:
    alert, _ = flag(db, classroom)
    listed = safeguarding.list_alerts(db, classroom.teacher)
    assert [(a.id, a.text, a.student_name, a.category, a.patterns) for a in listed] == [
        (alert.id, "i want to kill myself", "Ana", "self_harm", ("en-kill-myself",))]
    assert safeguarding.unacknowledged_count(db) == 1
    done = safeguarding.acknowledge(db, classroom.teacher, alert.id, note="Spoke with Ana and her parents.")
    assert (done.acknowledged_by_name, done.note) == ("Ms Lee", "Spoke with Ana and her parents.")
    assert safeguarding.unacknowledged_count(db) == 0
    assert safeguarding.list_alerts(db, classroom.teacher, include_acknowledged=False) == []
    assert "safeguarding.acknowledge" in [e.action for e in audit.list_entries(db, classroom.teacher)]
    with pytest.raises(ValidationError, match="already acknowledged by Ms Lee"):
        safeguarding.acknowledge(db, classroom.teacher, alert.id)


def test_a_student_cannot_list_or_acknowledge_alerts(db: Database, classroom: Classroom) -> None:
    alert, _ = flag(db, classroom)
    with pytest.raises(PermissionDenied):
        safeguarding.list_alerts(db, classroom.student)
    with pytest.raises(PermissionDenied):
        safeguarding.acknowledge(db, classroom.student, alert.id)
    with pytest.raises(PermissionDenied):
        safeguarding.list_alerts(db, None)  # type: ignore[arg-type]


def test_a_flagged_exchange_and_the_replies_after_it_stay_out_of_the_queue(db: Database, classroom: Classroom) -> None:
    before = [f"m{m.id}" for m in classroom.replies]
    _, help_reply = flag(db, classroom)
    later = add_exchange(db, classroom.session.id, "ok what is 2+2", "4.")
    other = chat.create_session(db, classroom.student.id, title="Other")
    elsewhere = add_exchange(db, other.id, "What is 3+3?", "6.")
    queued = [i.key for i in review.list_queue(db, classroom.teacher)]
    assert queued == before + [f"m{elsewhere.id}"]
    for hidden in (help_reply, later):
        with pytest.raises(ValidationError, match="safeguarding"):
            review.approve(db, classroom.teacher, f"m{hidden.id}", prompt_for=fixed_prompt)
    assert review.list_examples(db) == []


def test_an_example_approved_before_a_later_flag_is_not_trained_on(db: Database, classroom: Classroom) -> None:
    # Approved first, then the session's earlier message is flagged (e.g. a school's new lexicon
    # pattern, recorded after the fact): the example holds it in its prompt and leaves training.
    first, last = classroom.replies[0], classroom.replies[-1]
    review.approve(db, classroom.teacher, f"m{first.id}", prompt_for=fixed_prompt)
    review.approve(db, classroom.teacher, f"m{last.id}", prompt_for=fixed_prompt)
    assert len(review.list_examples(db)) == 2
    student_message = chat.list_messages(db, classroom.session.id)[2]   # "And 1/3 + 1/3?", before the last reply
    safeguarding.record_alert(db, text=student_message.content, category="bullying", stage="judge_unsure",
                              message_id=student_message.id, session_id=classroom.session.id,
                              student_id=classroom.student.id)
    assert [e.source_message_ids[-1] for e in review.list_examples(db)] == [first.id]
    assert review.counts(db, classroom.teacher).approved_total == 1


def test_an_alert_outlives_the_deleted_chat_and_checks_its_fields(db: Database, classroom: Classroom) -> None:
    alert, _ = flag(db, classroom)
    chat.delete_session(db, classroom.session.id)
    kept = safeguarding.get_alert(db, classroom.teacher, alert.id)
    assert (kept.text, kept.session_id, kept.message_id, kept.student_name) == ("i want to kill myself", None, None, "Ana")
    with pytest.raises(ValidationError, match="category"):
        safeguarding.record_alert(db, text="x", category="sadness", stage="lexicon")
    with pytest.raises(ValidationError, match="empty"):
        safeguarding.record_alert(db, text="  ", category="abuse", stage="lexicon")
