"""Safeguarding alerts: the student messages the screen flagged (learner.safeguarding), for teachers.

Recording an alert is not a teacher action (the chat does it as it answers); reading and
acknowledging alerts are, and check the role themselves (`require_teacher`), so a student profile
cannot list what others wrote. A flagged exchange, and every later reply in its session (whose
prompt holds the flagged message), is kept out of the review queue and out of training by
`storage.review` (its reply query, `_flagged_reply` and `_TRAINABLE`) and out of the class folder
by `storage.classfolder.outbox`.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from storage import audit
from storage.db import Database, utcnow
from storage.errors import NotFoundError, ValidationError, required_text
from storage.users import User, require_teacher

CATEGORIES = ("self_harm", "abuse", "bullying", "danger")
STAGES = ("lexicon", "judge_confirmed", "judge_unsure", "judge_unavailable")
CATEGORY_LABELS = {"self_harm": "self-harm or suicide", "abuse": "abuse", "bullying": "bullying",
                   "danger": "danger or violence"}
Source = Literal["chat", "cli"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    id: int
    message_id: int | None
    reply_id: int | None
    session_id: int | None
    student_id: int | None
    student_name: str            # "" for `tutorloop ask` (no profile)
    text: str
    category: str
    stage: str
    patterns: tuple[str, ...]
    judge: str | None
    source: Source
    created_at: str
    acknowledged_by: int | None
    acknowledged_by_name: str | None
    acknowledged_at: str | None
    note: str

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None


def _alert(row: dict[str, Any]) -> Alert:
    return Alert(
        id=row["id"], message_id=row["message_id"], reply_id=row["reply_id"], session_id=row["session_id"],
        student_id=row["student_id"], student_name=row["student_name"] or "", text=row["text"],
        category=row["category"], stage=row["stage"], patterns=tuple(json.loads(row["patterns_json"])),
        judge=row["judge"], source=row["source"], created_at=row["created_at"],
        acknowledged_by=row["acknowledged_by"], acknowledged_by_name=row["acknowledged_by_name"],
        acknowledged_at=row["acknowledged_at"], note=row["note"],
    )


_SELECT = ("SELECT a.*, u.name AS student_name FROM safeguarding_alerts a "
           "LEFT JOIN users u ON u.id = a.student_id")


def record_alert(db: Database, *, text: str, category: str, stage: str, patterns: Sequence[str] = (),
                 judge: str | None = None, message_id: int | None = None, reply_id: int | None = None,
                 session_id: int | None = None, student_id: int | None = None, source: Source = "chat") -> Alert:
    """Store one alert (joins the caller's transaction when there is one). Not a teacher action."""
    text = required_text((text or "")[:20_000], "The flagged message")
    if category not in CATEGORIES:
        raise ValidationError(f"Unknown safeguarding category {category!r}: expected one of {', '.join(CATEGORIES)}.")
    if stage not in STAGES:
        raise ValidationError(f"Unknown safeguarding stage {stage!r}: expected one of {', '.join(STAGES)}.")
    with db.transaction() as t:
        alert_id = t["safeguarding_alerts"].insert({
            "message_id": message_id, "reply_id": reply_id, "session_id": session_id, "student_id": student_id,
            "text": text, "category": category, "stage": stage, "patterns_json": json.dumps(list(patterns)),
            "judge": judge, "source": source, "created_at": utcnow(),
        }).last_pk
    return _get(db, alert_id)


def _get(db: Database, alert_id: int) -> Alert:
    rows = db.query(_SELECT + " WHERE a.id = ?", (alert_id,))
    if not rows:
        raise NotFoundError(f"No safeguarding alert with id {alert_id}. List them with: tutorloop safeguarding list")
    return _alert(rows[0])


def list_alerts(db: Database, actor: User, *, include_acknowledged: bool = True) -> list[Alert]:
    """Alerts, newest first; those not yet acknowledged before the others. Teachers only."""
    require_teacher(actor, db)
    sql = _SELECT + ("" if include_acknowledged else " WHERE a.acknowledged_at IS NULL")
    sql += " ORDER BY a.acknowledged_at IS NOT NULL, a.created_at DESC, a.id DESC"
    return [_alert(r) for r in db.query(sql)]


def get_alert(db: Database, actor: User, alert_id: int) -> Alert:
    require_teacher(actor, db)
    return _get(db, alert_id)


def unacknowledged_count(db: Database) -> int:
    """How many alerts wait for a teacher: a number only, shown as the window's indicator."""
    return db.query("SELECT COUNT(*) AS n FROM safeguarding_alerts WHERE acknowledged_at IS NULL")[0]["n"]


def acknowledge(db: Database, actor: User, alert_id: int, *, note: str = "") -> Alert:
    """Mark an alert as seen and dealt with by this teacher (audited). Acknowledging twice is refused,
    naming who did it first."""
    teacher = require_teacher(actor, db)
    note = (note or "").strip()
    if len(note) > 2000:
        raise ValidationError(f"The note is {len(note)} characters long; the limit is 2000.")
    with db.transaction() as t:
        alert = _get(db, alert_id)
        if alert.acknowledged:
            raise ValidationError(f"Alert {alert_id} was already acknowledged by {alert.acknowledged_by_name} "
                                  f"at {alert.acknowledged_at}.")
        t["safeguarding_alerts"].update(alert_id, {"acknowledged_by": teacher.id, "acknowledged_by_name": teacher.name,
                                                   "acknowledged_at": utcnow(), "note": note})
        audit.record(db, teacher, "safeguarding.acknowledge", target=f"alert {alert_id}",
                     details={"student_id": alert.student_id, "category": alert.category})
    return _get(db, alert_id)
