"""Practice attempts through the class folder, when the teacher enables it.

    settings/00000002.json     signed by the teacher: {"class_id", "seq": 2, "share_practice": true, "issued_at", …}

The newest settings record the pinned teacher key signed is the class's setting (none: off). While it
is on, a student desktop's outbox segments also carry `practice` records: each new attempt (made
since the teacher switched sharing on, not in a private session) with its item's question and topic,
the answer, the verdict, the time and the student, keyed by (device id, attempt id). The teacher's
import stores each once (table `class_practice`), so reading a segment again changes nothing.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from storage import audit
from storage.classfolder import keys
from storage.classfolder.membership import (
    Membership,
    key_path,
    require_membership,
    student_record,
)
from storage.classfolder.signed import append_signed, newest_signed
from storage.db import Database, utcnow
from storage.errors import ValidationError
from storage.users import User, require_teacher

SETTINGS = "settings"
VERDICTS = ("correct", "partly", "incorrect")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassSettings:
    share_practice: bool = False
    since: str | None = None        # when the teacher switched sharing on (attempts from then on are sent)
    seq: int = 0                    # 0: no signed settings record yet


@dataclass(frozen=True, slots=True, kw_only=True)
class StudentPractice:
    """One class student's shared attempts, as the teacher's desktop holds them."""
    student_name: str
    device_name: str
    attempts: int
    correct: int
    last_at: str

    @property
    def share_correct(self) -> float:
        return self.correct / self.attempts if self.attempts else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"student_name": self.student_name, "device_name": self.device_name, "attempts": self.attempts,
                "correct": self.correct, "share_correct": round(self.share_correct, 3), "last_at": self.last_at}


def class_settings(member: Membership) -> ClassSettings:
    """The newest settings record signed by the pinned teacher key (a forged or changed one is skipped)."""
    newest = newest_signed(member, SETTINGS)
    if newest is None:
        return ClassSettings()
    seq, body = newest
    on = body.get("share_practice") is True
    since = body.get("issued_at") if isinstance(body.get("issued_at"), str) else None
    return ClassSettings(share_practice=on and since is not None, since=since if on else None, seq=seq)


def set_share_practice(db: Database, actor: User | None, on: bool) -> ClassSettings:
    """Switch "share practice attempts" on or off for the whole class: a new settings record signed
    with the class key. Teacher-only, and only on the teacher's desktop (which holds the key)."""
    teacher = require_teacher(actor, db)
    member = require_membership(db)
    if not member.is_teacher:
        raise ValidationError("Only the teacher's desktop of the class can change what students share; run this "
                              "on the desktop that created the class.")
    current = class_settings(member)
    if current.share_practice == on:
        return current
    key = keys.load_key(key_path(db, member.class_id))
    seq = append_signed(member, key, SETTINGS, {"format": 1, "share_practice": on, "issued_at": utcnow(),
                                                "issued_by": teacher.name})
    audit.record(db, teacher, "class.share_practice", target=member.class_id, details={"on": on, "seq": seq})
    return class_settings(member)


# -- a student desktop: the outbox's practice records ------------------------------------------

_NEW_ATTEMPTS = """
SELECT a.id, a.answer, a.verdict, a.created_at, i.question, i.topic, u.id AS student_id, u.name AS student_name,
       u.grade
FROM practice_attempts a JOIN practice_items i ON i.id = a.item_id JOIN users u ON u.id = a.user_id
LEFT JOIN sessions s ON s.id = i.session_id
WHERE COALESCE(s.private, 0) = 0 AND a.created_at >= ?
  AND NOT EXISTS (SELECT 1 FROM class_practice_sent c WHERE c.attempt_id = a.id)
ORDER BY a.id LIMIT ?
"""


def new_attempts(db: Database, member: Membership, limit: int) -> list[dict[str, Any]]:
    """The practice records for this desktop's next segment (none while sharing is off)."""
    settings = class_settings(member)
    if not settings.share_practice or settings.since is None:
        return []
    return [{"type": "practice", "attempt_id": r["id"], "question": r["question"], "topic": r["topic"],
             "answer": r["answer"], "verdict": r["verdict"], "created_at": r["created_at"],
             "student": student_record(member, r)}
            for r in db.query(_NEW_ATTEMPTS, (settings.since, limit))]


def mark_sent(db: Database, records: list[dict[str, Any]], segment: int, now: str) -> None:
    db.conn.executemany("INSERT OR IGNORE INTO class_practice_sent (attempt_id, segment, sent_at) VALUES (?, ?, ?)",
                        [(r["attempt_id"], segment, now) for r in records])


# -- the teacher's desktop: import and overview ------------------------------------------------

def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def add_attempt(db: Database, device_id: str, device_name: str, segment: int, record: Mapping[str, Any]) -> bool:
    """Store one shared attempt; False when it is already here (the same device and attempt id)."""
    attempt_id = record.get("attempt_id")
    if not isinstance(attempt_id, int) or isinstance(attempt_id, bool):
        raise ValidationError("a practice attempt without an attempt id")
    verdict = record.get("verdict")
    if verdict not in VERDICTS:
        raise ValidationError(f"practice attempt {attempt_id} has no known verdict")
    student = record.get("student") if isinstance(record.get("student"), dict) else {}
    now = utcnow()
    return db.conn.execute(
        "INSERT OR IGNORE INTO class_practice (device_id, attempt_id, device_name, student_key, student_name, topic, "
        "question, answer, verdict, attempted_at, segment, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (device_id, attempt_id, device_name, _text(student.get("key"), 100), _text(student.get("name"), 64),
         _text(record.get("topic"), 200), _text(record.get("question"), 4000), _text(record.get("answer"), 4000),
         verdict, _text(record.get("created_at"), 40) or now, segment, now)).rowcount > 0


def practice_overview(db: Database, actor: User | None) -> list[StudentPractice]:
    """Per class student: the shared attempts and how many were correct. Teacher-only (student data)."""
    require_teacher(actor, db)
    rows = db.query(
        "SELECT student_name, device_name, COUNT(*) AS attempts, SUM(verdict = 'correct') AS correct, "
        "MAX(attempted_at) AS last_at FROM class_practice GROUP BY device_id, student_key "
        "ORDER BY student_name COLLATE NOCASE, device_name")
    return [StudentPractice(student_name=r["student_name"], device_name=r["device_name"], attempts=r["attempts"],
                            correct=r["correct"] or 0, last_at=r["last_at"]) for r in rows]
