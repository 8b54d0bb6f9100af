"""Data rights: everything tutorloop holds about one student, as JSON; and deleting a student with
everything derived from them (sessions, messages, feedback, review decisions, training examples).

Adapters already trained keep what they learned, but the student's examples leave every future
training round. Both actions are teacher-only and audited; the deletion's audit entry keeps only
the name, the id and the counts, not the content.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from storage import audit
from storage.users import require_teacher
from storage.users import User, get_user
from storage.db import Database, utcnow
from storage.errors import ValidationError
from storage.prompt_store import collect_garbage, load_prompts
from storage.safe_write import write_text_file

EXPORT_FORMAT_VERSION = 1


def _rows(db: Database, sql: str, params: tuple) -> list[dict[str, Any]]:
    return db.query(sql, params)


def _optional_tables(db: Database) -> set[str]:
    return {r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _student_profile(db: Database, student_id: int) -> dict[str, Any]:
    student = get_user(db, student_id)
    if student.role != "student":
        raise ValidationError(f"{student.name} is a teacher profile, not a student.")
    row = db.query("SELECT id, name, role, grade, created_at, last_seen_at FROM users WHERE id = ?", (student_id,))[0]
    return row


def student_data(db: Database, actor: User, student_id: int) -> dict[str, Any]:
    """Everything about one student: profile, sessions with messages and feedback, review decisions
    on their replies, and training examples made from their chats. Password hashes are never included."""
    require_teacher(actor, db)
    profile = _student_profile(db, student_id)
    sessions = _rows(db, "SELECT * FROM sessions WHERE user_id = ? ORDER BY id", (student_id,))
    for session in sessions:
        session["private"] = bool(session["private"])
        session["messages"] = _rows(db, "SELECT m.*, f.rating, f.suggestion FROM messages m "
                                        "LEFT JOIN feedback f ON f.message_id = m.id "
                                        "WHERE m.session_id = ? ORDER BY m.id", (session["id"],))
    reviews = _rows(db, "SELECT r.id, r.message_id, r.decision, r.reason, r.teacher_name, r.created_at, r.undone_at "
                        "FROM reviews r JOIN messages m ON m.id = r.message_id JOIN sessions s ON s.id = m.session_id "
                        "WHERE s.user_id = ? ORDER BY r.id", (student_id,))
    examples = _rows(db, "SELECT id, uid, prompt_json, prompt_node, completion, original_completion, mode, topic, grade, status, "
                         "approved_by_name, approved_at, retracted_at, source_message_ids FROM training_examples "
                         "WHERE student_id = ? ORDER BY id", (student_id,))
    prompts = load_prompts(db.conn, [e["prompt_node"] for e in examples if e["prompt_node"] is not None])
    for example in examples:
        node, text = example.pop("prompt_node"), example.pop("prompt_json")
        example["prompt"] = [dict(m) for m in prompts[node]] if node is not None else json.loads(text)
        example["source_message_ids"] = json.loads(example["source_message_ids"])
    data: dict[str, Any] = {
        "format": "tutorloop-student-export", "version": EXPORT_FORMAT_VERSION, "exported_at": utcnow(),
        "profile": profile, "sessions": sessions, "review_decisions": reviews, "training_examples": examples,
    }
    # Tables of later slices (practice items, ...) are included when present and keyed by user_id.
    for table in sorted(_optional_tables(db) - {"users", "sessions", "messages", "feedback", "reviews",
                                                "training_examples", "audit_log", "imported_exchanges"}):
        columns = {r["name"] for r in db.query(f"PRAGMA table_info({table})")}
        if "user_id" in columns:
            data[table] = _rows(db, f"SELECT * FROM {table} WHERE user_id = ?", (student_id,))
        elif "student_id" in columns:
            data[table] = _rows(db, f"SELECT * FROM {table} WHERE student_id = ?", (student_id,))
    return data


def export_student(db: Database, actor: User, student_id: int, path: Path | str) -> Path:
    """Everything about the student as JSON at `path`, readable by its owner only, written whole or
    not at all (storage.safe_write)."""
    teacher = require_teacher(actor, db)
    data = student_data(db, teacher, student_id)
    text = json.dumps(data, ensure_ascii=False, indent=2)
    target = write_text_file(path, lambda out: out.write(text), what="The student's data export", private=True,
                             protect=(db.path,) if isinstance(db.path, Path) else ())
    audit.record(db, teacher, "student.export", target=f"user:{student_id}",
                 details={"path": str(target)})
    return target


def delete_student(db: Database, actor: User, student_id: int, *, confirm_name: str) -> dict[str, int]:
    """Delete the student and everything derived from them; returns what was removed, by kind.

    `confirm_name` must repeat the student's name: a wrong id in a script must not erase a
    different child's work.
    """
    teacher = require_teacher(actor, db)
    profile = _student_profile(db, student_id)
    if (confirm_name or "").strip().casefold() != profile["name"].casefold():
        raise ValidationError(f"To delete {profile['name']}, type their name exactly to confirm.")
    with db.transaction() as t:
        counted = {
            "sessions": "SELECT COUNT(*) FROM sessions WHERE user_id = ?",
            "messages": "SELECT COUNT(*) FROM messages m JOIN sessions s ON s.id = m.session_id WHERE s.user_id = ?",
            "review_decisions": "SELECT COUNT(*) FROM reviews r JOIN messages m ON m.id = r.message_id "
                                "JOIN sessions s ON s.id = m.session_id WHERE s.user_id = ?",
            "training_examples": "SELECT COUNT(*) FROM training_examples WHERE student_id = ?",
        }
        removed = {kind: t.execute(sql, [student_id]).fetchone()[0] for kind, sql in counted.items()}
        # Examples cascade from users (student_id) and reviews from messages; deleting explicitly
        # as well keeps this correct even if a later migration loosens a foreign key.
        t.execute("DELETE FROM training_examples WHERE student_id = ?", [student_id])
        t.execute("DELETE FROM users WHERE id = ?", [student_id])
        collect_garbage(db.conn)   # stored prompts only their snapshots and chats used
        audit.record(db, teacher, "student.delete", target=f"user:{student_id}",
                     details={"name": profile["name"], "removed": removed})
    return removed
