"""Profiles, chat sessions, messages and feedback: typed functions over the chat tables."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from storage.db import Database, utcnow
from storage.errors import NotFoundError, ValidationError, required_text
from storage.prompt_store import collect_garbage
from storage.users import get_user

Mode = Literal["explain", "hint", "practice"]
MODES: tuple[Mode, ...] = ("explain", "hint", "practice")
MessageStatus = Literal["generating", "complete", "stopped", "failed"]


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    user_id: int
    title: str
    topic: str
    private: bool
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    session_id: int
    role: Literal["user", "assistant"]
    content: str
    mode: Mode | None
    answer_key: str | None
    model_id: str | None
    adapter_version: int | None
    status: MessageStatus
    notice: str | None
    created_at: str
    # What the maths engine computed and changed for this reply, as the JSON object the learner wrote
    # (learner.maths_record reads it); None: nothing recorded (older replies, practice, no maths).
    maths_json: str | None = None


@dataclass(frozen=True, slots=True)
class Feedback:
    message_id: int
    rating: int | None
    suggestion: str | None
    updated_at: str


def _session(row: dict[str, Any]) -> Session:
    return Session(
        id=row["id"], user_id=row["user_id"], title=row["title"], topic=row["topic"],
        private=bool(row["private"]), created_at=row["created_at"], updated_at=row["updated_at"],
    )


def _message(row: dict[str, Any]) -> Message:
    return Message(**{f: row[f] for f in Message.__dataclass_fields__})


# -- sessions ------------------------------------------------------------------------------------

def create_session(db: Database, user_id: int, *, title: str = "New session", topic: str = "") -> Session:
    now = utcnow()
    with db.transaction() as t:
        get_user(db, user_id)
        sid = t["sessions"].insert({
            "user_id": user_id, "title": required_text(title, "The session title", max_len=200),
            "topic": topic.strip(), "private": 0, "created_at": now, "updated_at": now,
        }).last_pk
    return get_session(db, sid)


def get_session(db: Database, session_id: int) -> Session:
    rows = db.query("SELECT * FROM sessions WHERE id = ?", (session_id,))
    if not rows:
        raise NotFoundError(f"No session with id {session_id}; it may have been deleted.")
    return _session(rows[0])


def list_sessions(db: Database, user_id: int) -> list[Session]:
    rows = db.query("SELECT * FROM sessions WHERE user_id = ? ORDER BY updated_at DESC, id DESC", (user_id,))
    return [_session(r) for r in rows]


def update_session(db: Database, session_id: int, *, title: str | None = None, topic: str | None = None,
                   private: bool | None = None) -> Session:
    changes: dict[str, Any] = {}
    if title is not None:
        changes["title"] = required_text(title, "The session title", max_len=200)
    if topic is not None:
        changes["topic"] = topic.strip()
    if private is not None:
        changes["private"] = int(private)
    if changes:
        changes["updated_at"] = utcnow()
        with db.transaction() as t:
            get_session(db, session_id)
            t["sessions"].update(session_id, changes)
    return get_session(db, session_id)


def delete_session(db: Database, session_id: int) -> None:
    """Delete the session and its messages; prompts recorded for its replies go too, unless a
    training example approved from them still holds them."""
    with db.transaction() as t:
        get_session(db, session_id)
        t.execute("DELETE FROM sessions WHERE id = ?", [session_id])
        collect_garbage(db.conn)


# -- messages ------------------------------------------------------------------------------------

def add_message(db: Database, session_id: int, role: Literal["user", "assistant"], content: str, *,
                mode: Mode | None = None, answer_key: str | None = None, model_id: str | None = None,
                adapter_version: int | None = None, status: MessageStatus = "complete",
                notice: str | None = None) -> Message:
    if role == "user":
        content = required_text(content, "The message")
    if mode is not None and mode not in MODES:
        raise ValidationError(f"Unknown mode {mode!r}: expected one of {', '.join(MODES)}.")
    now = utcnow()
    with db.transaction() as t:
        get_session(db, session_id)
        mid = t["messages"].insert({
            "session_id": session_id, "role": role, "content": content, "mode": mode,
            "answer_key": answer_key, "model_id": model_id, "adapter_version": adapter_version,
            "status": status, "notice": notice, "created_at": now,
        }).last_pk
        t["sessions"].update(session_id, {"updated_at": now})
    return get_message(db, mid)


def finish_message(db: Database, message_id: int, content: str, *, status: MessageStatus,
                   answer_key: str | None = None, notice: str | None = None,
                   written_by: tuple[str, int | None] | None = None, maths_json: str | None = None) -> Message:
    """Store the final text of an assistant reply that was created with status 'generating'.
    `written_by` = (model_id, adapter_version) of the model that actually wrote it: an adapter swapped
    in between the send and the answer must not leave the reply credited to the previous version.
    `maths_json`: the maths engine's record of the reply (a JSON object), kept for its reviewers."""
    if maths_json is not None:
        _check_maths_json(maths_json)
    with db.transaction() as t:
        get_message(db, message_id)
        changes: dict[str, Any] = {"content": content, "status": status}
        if maths_json is not None:
            changes["maths_json"] = maths_json
        if written_by is not None:
            changes["model_id"], changes["adapter_version"] = written_by
        if answer_key is not None:
            changes["answer_key"] = answer_key
        if notice is not None:
            changes["notice"] = notice
        t["messages"].update(message_id, changes)
    return get_message(db, message_id)


def _check_maths_json(text: str) -> None:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ValidationError("The maths record of a reply must be a JSON object (learner.maths_record.to_json).")


def recover_interrupted(db: Database) -> int:
    """Replies left 'generating' by a crash or kill become 'stopped'; returns how many."""
    with db.transaction() as t:
        cur = t.execute("UPDATE messages SET status = 'stopped' WHERE status = 'generating'")
        return cur.rowcount


def get_message(db: Database, message_id: int) -> Message:
    rows = db.query("SELECT * FROM messages WHERE id = ?", (message_id,))
    if not rows:
        raise NotFoundError(f"No message with id {message_id}; it may have been deleted.")
    return _message(rows[0])


def list_messages(db: Database, session_id: int) -> list[Message]:
    return [_message(r) for r in db.query("SELECT * FROM messages WHERE session_id = ? ORDER BY id", (session_id,))]


# -- feedback ------------------------------------------------------------------------------------

def set_feedback(db: Database, message_id: int, *, rating: int | None = ...,  # type: ignore[assignment]
                 suggestion: str | None = ...) -> Feedback:  # type: ignore[assignment]
    """Set the rating and/or the suggested better answer; an argument left out keeps its value."""
    msg = get_message(db, message_id)
    if msg.role != "assistant":
        raise ValidationError("Only the tutor's replies can be rated.")
    current = get_feedback(db, message_id)
    new_rating = current.rating if current else None
    new_suggestion = current.suggestion if current else None
    if rating is not ...:
        if rating not in (-1, 1, None):
            raise ValidationError("A rating is 👍 (1), 👎 (-1) or none.")
        new_rating = rating
    if suggestion is not ...:
        new_suggestion = suggestion.strip() if suggestion and suggestion.strip() else None
    with db.transaction() as t:
        t["feedback"].upsert({"message_id": message_id, "rating": new_rating, "suggestion": new_suggestion,
                              "updated_at": utcnow()}, pk="message_id")
    result = get_feedback(db, message_id)
    assert result is not None
    return result


def get_feedback(db: Database, message_id: int) -> Feedback | None:
    rows = db.query("SELECT * FROM feedback WHERE message_id = ?", (message_id,))
    return Feedback(**rows[0]) if rows else None


# -- settings (JSON values) ----------------------------------------------------------------------

def get_setting(db: Database, key: str, default: Any = None) -> Any:
    rows = db.query("SELECT value FROM settings WHERE key = ?", (key,))
    return json.loads(rows[0]["value"]) if rows else default


def set_setting(db: Database, key: str, value: Any) -> None:
    with db.transaction() as t:
        t["settings"].upsert({"key": key, "value": json.dumps(value)}, pk="key")
