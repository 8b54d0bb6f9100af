"""A desktop's side of "exchanges in": new replies (with their rating and suggestion), later
feedback on them, and retractions, appended to its own outbox as one new segment per sync. A reply
retracted because its session was made private is sent again (marked restored) once it is not.

What is sent is what the review queue would list on this desktop: finished (or stopped) replies in
sessions not marked private, each with the exact prompt it was generated from. A reply sent and
then deleted (its chat, or the student) or whose session was marked private afterwards is
retracted, so the teacher's side drops it as this desktop would.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from storage.classfolder import practice, segments
from storage.classfolder.files import write_new
from storage.classfolder.membership import (
    Membership,
    require_membership,
    student_record,
)
from storage.db import Database, utcnow
from storage.errors import ValidationError
from storage.review import (
    PromptBuilder,
    _reply_context,
    recorded_prompt,
    validate_prompt,
)

OUTBOX = "outbox"
MAX_RECORDS = 2000          # per segment; the rest goes in the next one


@dataclass(frozen=True, slots=True, kw_only=True)
class SendReport:
    segment: int | None      # the segment written (None: nothing new)
    exchanges: int
    feedback: int
    retractions: int
    waiting: int             # replies without a recorded prompt and no prompt builder given
    practice: int = 0        # practice attempts (when the teacher's class setting shares them)


_NEW_REPLIES = """
SELECT m.id, m.content, m.mode, m.status, m.created_at, m.model_id, m.adapter_version,
       s.title, s.topic, u.id AS student_id, u.name AS student_name, u.grade,
       f.rating, f.suggestion, EXISTS (SELECT 1 FROM class_sent c WHERE c.message_id = m.id) AS restored
FROM messages m JOIN sessions s ON s.id = m.session_id JOIN users u ON u.id = s.user_id
LEFT JOIN feedback f ON f.message_id = m.id
WHERE m.role = 'assistant' AND m.status IN ('complete', 'stopped') AND s.private = 0
  -- not sent yet, or retracted when its session was made private and the session is no longer private
  AND NOT EXISTS (SELECT 1 FROM class_sent c WHERE c.message_id = m.id
                  AND (c.retracted_at IS NULL OR c.retract_reason != 'private'))
  AND NOT EXISTS (SELECT 1 FROM safeguarding_alerts sa  -- as the review queue: never sent for learning
                  WHERE sa.reply_id = m.id OR (sa.session_id = m.session_id AND sa.message_id < m.id))
ORDER BY m.id LIMIT ?
"""

_NEW_FEEDBACK = """
SELECT c.message_id, f.rating, f.suggestion FROM class_sent c
JOIN feedback f ON f.message_id = c.message_id
WHERE c.retracted_at IS NULL AND f.updated_at > c.sent_at ORDER BY c.message_id
"""

_RETRACTIONS = """
SELECT c.message_id, CASE WHEN m.id IS NULL THEN 'deleted' ELSE 'private' END AS reason
FROM class_sent c LEFT JOIN messages m ON m.id = c.message_id LEFT JOIN sessions s ON s.id = m.session_id
WHERE c.retracted_at IS NULL AND (m.id IS NULL OR s.private = 1) ORDER BY c.message_id
"""


def _prompt(db: Database, message_id: int, prompt_for: PromptBuilder | None) -> list[dict[str, str]] | None:
    recorded = recorded_prompt(db, message_id)
    if recorded:
        return recorded
    if prompt_for is None:
        return None
    try:
        return validate_prompt(list(prompt_for(_reply_context(db, message_id))), what="The reply's prompt")
    except ValidationError:
        return None


def _exchange(member: Membership, row: Mapping[str, Any], prompt: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    return {"type": "exchange", "message_id": row["id"], "completion": row["content"], "mode": row["mode"],
            "status": row["status"], "created_at": row["created_at"], "model_id": row["model_id"],
            "adapter_version": row["adapter_version"], "prompt": [dict(m) for m in prompt],
            "student": student_record(member, row),
            "session": {"title": row["title"], "topic": row["topic"]},
            "rating": row["rating"], "suggestion": row["suggestion"], "restored": bool(row["restored"])}


def send(db: Database, *, prompt_for: PromptBuilder | None = None) -> SendReport:
    """Write what is new since the last send as one segment (none when nothing is). Runs in one
    write transaction, so two processes of this desktop never send the same reply twice; a segment
    written but not recorded (a crash in between) is sent again and the import skips it."""
    member = require_membership(db)
    outbox = member.folder / OUTBOX / member.device_id
    with db.transaction():
        replies = db.query(_NEW_REPLIES, (MAX_RECORDS,))
        records: list[dict[str, Any]] = []
        sent_ids: list[int] = []
        waiting = 0
        for row in replies:
            prompt = _prompt(db, row["id"], prompt_for)
            if prompt is None:
                waiting += 1
                continue
            records.append(_exchange(member, row, prompt))
            sent_ids.append(row["id"])
        feedback = [{"type": "feedback", "message_id": r["message_id"], "rating": r["rating"],
                     "suggestion": r["suggestion"]} for r in db.query(_NEW_FEEDBACK)]
        retractions = [{"type": "retract", "message_id": r["message_id"], "reason": r["reason"]}
                       for r in db.query(_RETRACTIONS)]
        attempts = practice.new_attempts(db, member, MAX_RECORDS)
        records += feedback + retractions + attempts
        if not records:
            return SendReport(segment=None, exchanges=0, feedback=0, retractions=0, waiting=waiting)
        number = max([member.next_segment, *(n + 1 for n, _ in segments.list_segments(outbox))])
        now = utcnow()
        while True:
            header = {"class_id": member.class_id, "device_id": member.device_id,
                      "device_name": member.device_name, "segment": number, "created_at": now}
            if write_new(outbox / segments.segment_name(number), segments.encode(header, records)):
                break
            number += 1
        db.conn.executemany("INSERT INTO class_sent (message_id, segment, sent_at) VALUES (?, ?, ?) "
                            "ON CONFLICT(message_id) DO UPDATE SET segment = excluded.segment, "
                            "sent_at = excluded.sent_at, retracted_at = NULL, retract_reason = NULL",
                            [(i, number, now) for i in sent_ids])
        db.conn.executemany("UPDATE class_sent SET sent_at = ? WHERE message_id = ?",
                            [(now, r["message_id"]) for r in feedback])
        db.conn.executemany("UPDATE class_sent SET retracted_at = ?, retract_reason = ? WHERE message_id = ?",
                            [(now, r["reason"], r["message_id"]) for r in retractions])
        practice.mark_sent(db, attempts, number, now)
        db.conn.execute("UPDATE class_membership SET next_segment = ? WHERE id = 1", (number + 1,))
    return SendReport(segment=number, exchanges=len(sent_ids), feedback=len(feedback),
                      retractions=len(retractions), waiting=waiting, practice=len(attempts))
