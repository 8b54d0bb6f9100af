"""The teacher's side of "exchanges in": every whole segment of every desktop's outbox is read
once, in order, into the review queue as imported exchanges waiting for review.

Idempotent: an exchange is keyed by (device id, message id), so a segment read again, or a reply
a desktop sent twice, changes nothing. Each keeps where it came from (class, desktop, student,
segment). A retraction removes the exchange from the queue; an example already approved from it
leaves training the way it would on the student's desktop: retracted when the session was marked
private, deleted when the chat or the student was deleted.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from storage import audit
from storage.classfolder import practice, segments
from storage.classfolder.membership import Membership, is_device_id, require_membership
from storage.classfolder.outbox import OUTBOX
from storage.db import Database, utcnow
from storage.errors import ValidationError, storable_text
from storage.prompt_store import collect_garbage
from storage.review import content_hash, validate_prompt
from storage.users import User

MODES = ("explain", "hint", "practice")


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    feedback: int = 0
    retracted: int = 0
    segments_read: int = 0
    practice: int = 0                    # practice attempts stored (new ones)
    waiting: tuple[str, ...] = ()        # "<device>: segment 7 is not whole yet"
    problems: tuple[str, ...] = field(default_factory=tuple)


def _uid(device_id: str, message_id: int) -> str:
    """The example's split id: the same on every import of this exchange."""
    return hashlib.sha256(f"tutorloop-class:{device_id}:{message_id}".encode()).hexdigest()[:32]


def _source_ref(member: Membership, device_name: str, student: str, message_id: int) -> str:
    return f"class {member.name} · {student or 'student'} on {device_name or 'a desktop'} · reply {message_id}"


def _add_exchange(db: Database, member: Membership, teacher: User | None, device_id: str, device_name: str,
                  number: int, record: Mapping[str, Any], batch: str) -> bool:
    message_id = record.get("message_id")
    if not isinstance(message_id, int):
        raise ValidationError("an exchange without a message id")
    known = db.conn.execute("SELECT retracted_at, retract_reason FROM class_exchanges WHERE device_id = ? AND "
                            "message_id = ?", (device_id, message_id)).fetchone()
    # Known: a duplicate, unless the student made its session public again after a "private" retraction
    # (a "deleted" one is final). It then waits for review again; an earlier approval stays retracted.
    restored = known is not None and bool(record.get("restored")) and known[0] is not None and known[1] == "private"
    if known is not None and not restored:
        return False
    prompt = validate_prompt(record.get("prompt") or [], what=f"exchange {message_id}")
    completion = record.get("completion")
    if not isinstance(completion, str) or not completion.strip():
        raise ValidationError(f"exchange {message_id} has no reply text")
    completion = storable_text(completion, f"exchange {message_id}")
    student = record.get("student") if isinstance(record.get("student"), dict) else {}
    session = record.get("session") if isinstance(record.get("session"), dict) else {}
    mode = record.get("mode") if record.get("mode") in MODES else None
    name = str(student.get("name") or "")[:64]
    now = utcnow()
    imported_id = db.conn.execute(
        "INSERT INTO imported_exchanges (prompt_json, completion, mode, topic, grade, source_ref, content_sha256, "
        "imported_by, batch, created_at, uid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (json.dumps(prompt, ensure_ascii=False), completion, mode, str(session.get("topic") or "")[:200],
         str(student.get("grade") or "")[:64], _source_ref(member, device_name, name, message_id),
         content_hash(prompt, completion), teacher.id if teacher else None, batch,
         str(record.get("created_at") or now), _uid(device_id, message_id))).lastrowid
    rating = record.get("rating") if record.get("rating") in (-1, 1) else None
    suggestion = record.get("suggestion") if isinstance(record.get("suggestion"), str) else None
    if restored:
        db.conn.execute("DELETE FROM class_exchanges WHERE device_id = ? AND message_id = ?", (device_id, message_id))
    db.conn.execute(
        "INSERT INTO class_exchanges (device_id, message_id, imported_id, device_name, student_key, student_name, "
        "rating, suggestion, segment, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (device_id, message_id, imported_id, device_name, str(student.get("key") or "")[:100], name, rating,
         suggestion, number, now))
    return True


def _feedback(db: Database, device_id: str, record: Mapping[str, Any]) -> bool:
    rating = record.get("rating") if record.get("rating") in (-1, 1) else None
    suggestion = record.get("suggestion") if isinstance(record.get("suggestion"), str) else None
    return db.conn.execute("UPDATE class_exchanges SET rating = ?, suggestion = ? WHERE device_id = ? AND "
                           "message_id = ? AND retracted_at IS NULL",
                           (rating, suggestion, device_id, record.get("message_id"))).rowcount > 0


def _retract(db: Database, device_id: str, device_name: str, number: int, record: Mapping[str, Any]) -> bool:
    message_id = record.get("message_id")
    reason = "deleted" if record.get("reason") == "deleted" else "private"
    if not isinstance(message_id, int):
        return False
    now = utcnow()
    row = db.conn.execute("SELECT imported_id, retracted_at FROM class_exchanges WHERE device_id = ? AND "
                          "message_id = ?", (device_id, message_id)).fetchone()
    if row is None:   # the exchange never arrived: remember, so it is dropped if it ever does
        db.conn.execute("INSERT INTO class_exchanges (device_id, message_id, device_name, segment, received_at, "
                        "retracted_at, retract_reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (device_id, message_id, device_name, number, now, now, reason))
        return True
    if row[1] is not None:
        return False
    imported_id = row[0]
    if imported_id is not None:
        examples = [r[0] for r in db.conn.execute(
            "SELECT example_id FROM reviews WHERE imported_id = ? AND example_id IS NOT NULL", (imported_id,))]
        examples += [r[0] for r in db.conn.execute(
            "SELECT id FROM training_examples WHERE uid = ?", (_uid(device_id, message_id),))]
        for example_id in set(examples):
            if reason == "deleted":   # data rights: the text leaves this desktop too
                db.conn.execute("DELETE FROM training_examples WHERE id = ?", (example_id,))
            else:
                db.conn.execute("UPDATE training_examples SET status = 'retracted', retracted_at = ? "
                                "WHERE id = ? AND status = 'approved'", (now, example_id))
        db.conn.execute("DELETE FROM imported_exchanges WHERE id = ?", (imported_id,))
    db.conn.execute("UPDATE class_exchanges SET retracted_at = ?, retract_reason = ?, imported_id = NULL, "
                    "suggestion = NULL WHERE device_id = ? AND message_id = ?", (now, reason, device_id, message_id))
    return True


def pending_segments(member: Membership, db: Database) -> dict[str, tuple[int, int]]:
    """Per desktop: (segments in the folder not read yet, of which not whole yet)."""
    read = {(r["device_id"], r["segment"]) for r in db.query("SELECT device_id, segment FROM class_segments")}
    result: dict[str, tuple[int, int]] = {}
    root = member.folder / OUTBOX
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        if not is_device_id(folder.name):
            continue
        unread = [(n, p) for n, p in segments.list_segments(folder) if (folder.name, n) not in read]
        result[folder.name] = (len(unread), sum(1 for _, p in unread if segments.read(p) is None))
    return result


def import_outboxes(db: Database, actor: User | None = None) -> ImportReport:
    """Read every whole, unread segment into the review queue (see the module's docstring). On the
    teacher's desktop only; an exchange lands as pending, so nothing reaches training without a
    teacher's approval."""
    member = require_membership(db)
    if not member.is_teacher:
        raise ValidationError("Only the teacher's desktop imports the class's exchanges.")
    counts = {"imported": 0, "duplicates": 0, "feedback": 0, "retracted": 0, "segments_read": 0, "practice": 0}
    waiting: list[str] = []
    problems: list[str] = []
    done = {(r["device_id"], r["segment"]) for r in db.query("SELECT device_id, segment FROM class_segments")}
    root = member.folder / OUTBOX
    batch = f"class-{utcnow()}"
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        device_id = folder.name
        if not is_device_id(device_id) or device_id == member.device_id:
            continue
        for number, path in segments.list_segments(folder):
            if (device_id, number) in done:
                continue
            segment = segments.read(path)
            if segment is None:
                waiting.append(f"{device_id[:8]}: segment {number} is not whole yet (still syncing, or cut short)")
                break
            header = segment.header
            if (header.get("class_id"), header.get("device_id"), header.get("segment")) != (
                    member.class_id, device_id, number):
                problems.append(f"{path} belongs to another class or outbox; it was skipped.")
                with db.transaction():
                    db.conn.execute("INSERT INTO class_segments (device_id, segment, records, read_at) "
                                    "VALUES (?, ?, 0, ?)", (device_id, number, utcnow()))
                continue
            device_name = str(header.get("device_name") or "")[:64]
            with db.transaction():
                for record in segment.records:
                    kind = record.get("type")
                    try:
                        if kind == "exchange":
                            added = _add_exchange(db, member, actor, device_id, device_name, number, record, batch)
                            counts["imported" if added else "duplicates"] += 1
                        elif kind == "feedback":
                            counts["feedback"] += _feedback(db, device_id, record)
                        elif kind == "retract":
                            counts["retracted"] += _retract(db, device_id, device_name, number, record)
                        elif kind == "practice":
                            counts["practice"] += practice.add_attempt(db, device_id, device_name, number, record)
                    except ValidationError as exc:
                        problems.append(f"{path.name} of {device_name or device_id[:8]}: {exc}")
                db.conn.execute("INSERT INTO class_segments (device_id, segment, records, read_at) VALUES (?, ?, ?, ?)",
                                (device_id, number, len(segment.records), utcnow()))
                counts["segments_read"] += 1
            if counts["retracted"]:
                collect_garbage(db.conn)
    if counts["imported"] or counts["retracted"] or counts["practice"]:
        audit.record(db, actor, "class.import", target=member.class_id,
                     details={k: v for k, v in counts.items()})
    return ImportReport(**counts, waiting=tuple(waiting), problems=tuple(problems))
