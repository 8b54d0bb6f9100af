from __future__ import annotations

import pytest

from storage import NotFoundError, ValidationError, chat, users


def test_session_lifecycle_and_cascade(db) -> None:
    user = users.create_user(db, "Ana", grade="7")
    session = chat.create_session(db, user.id, title="Fractions help", topic="Fractions")
    chat.add_message(db, session.id, "user", "What is 1/2 + 1/4?", mode="explain")
    reply = chat.add_message(db, session.id, "assistant", "3/4", mode="explain", model_id="tiny")
    chat.set_feedback(db, reply.id, rating=1)
    renamed = chat.update_session(db, session.id, title="Adding fractions", private=True)
    assert (renamed.title, renamed.private) == ("Adding fractions", True)
    chat.delete_session(db, session.id)
    with pytest.raises(NotFoundError):
        chat.get_message(db, reply.id)
    assert chat.get_feedback(db, reply.id) is None


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_user_message_is_refused(db, text) -> None:
    user = users.create_user(db, "Ana")
    session = chat.create_session(db, user.id)
    with pytest.raises(ValidationError, match="empty"):
        chat.add_message(db, session.id, "user", text)
    assert chat.list_messages(db, session.id) == []


def test_interrupted_replies_are_recovered_as_stopped(db) -> None:
    user = users.create_user(db, "Ana")
    session = chat.create_session(db, user.id)
    reply = chat.add_message(db, session.id, "assistant", "partial", status="generating")
    assert chat.recover_interrupted(db) == 1
    assert chat.get_message(db, reply.id).status == "stopped"


def test_feedback_keeps_fields_not_given(db) -> None:
    user = users.create_user(db, "Ana")
    session = chat.create_session(db, user.id)
    reply = chat.add_message(db, session.id, "assistant", "answer")
    chat.set_feedback(db, reply.id, rating=-1)
    fb = chat.set_feedback(db, reply.id, suggestion="  Say 3/4 and show the drawing.  ")
    assert (fb.rating, fb.suggestion) == (-1, "Say 3/4 and show the drawing.")
    with pytest.raises(ValidationError):
        chat.set_feedback(db, reply.id, rating=5)


def test_duplicate_profile_names_are_refused_case_insensitively(db) -> None:
    users.create_user(db, "Ana")
    with pytest.raises(ValidationError, match="already exists"):
        users.create_user(db, "ana")
