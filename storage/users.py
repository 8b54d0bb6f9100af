"""Profiles (students and teachers) and the one check that guards every teacher action.

Kept apart from `storage.auth` (passwords, sign-in) so that any module that does teacher work,
the audit log included, can check the role without importing the sign-in machinery.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from storage.db import Database, utcnow
from storage.errors import NotFoundError, PermissionDenied, ValidationError, required_text

Role = Literal["student", "teacher"]


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: Role
    grade: str
    created_at: str

    @property
    def is_teacher(self) -> bool:
        return self.role == "teacher"


def _user(row: dict[str, Any]) -> User:
    return User(id=row["id"], name=row["name"], role=row["role"], grade=row["grade"], created_at=row["created_at"])



# -- profiles ---------------------------------------------------------------------------------------

def create_user(db: Database, name: str, *, grade: str = "", role: Role = "student",
                password_hash: str | None = None) -> User:
    name = required_text(name, "The name", max_len=80)
    if role not in ("student", "teacher"):
        raise ValidationError(f"Unknown role {role!r}: expected 'student' or 'teacher'.")
    with db.transaction() as t:
        if list(t.query("SELECT 1 FROM users WHERE name = ? COLLATE NOCASE", [name])):
            raise ValidationError(f"A profile named {name!r} already exists.")
        uid = t["users"].insert({
            "name": name, "role": role, "grade": grade.strip(), "password_hash": password_hash,
            "created_at": utcnow(),
        }).last_pk
    return get_user(db, uid)


def get_user(db: Database, user_id: int) -> User:
    rows = db.query("SELECT * FROM users WHERE id = ?", (user_id,))
    if not rows:
        raise NotFoundError(f"No profile with id {user_id}.")
    return _user(rows[0])


def find_user(db: Database, name: str) -> User | None:
    rows = db.query("SELECT * FROM users WHERE name = ? COLLATE NOCASE", (name.strip(),))
    return _user(rows[0]) if rows else None


def list_users(db: Database, *, role: Role | None = None) -> list[User]:
    if role:
        rows = db.query("SELECT * FROM users WHERE role = ? ORDER BY name COLLATE NOCASE", (role,))
    else:
        rows = db.query("SELECT * FROM users ORDER BY name COLLATE NOCASE")
    return [_user(r) for r in rows]


def update_user(db: Database, user_id: int, *, name: str | None = None, grade: str | None = None) -> User:
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = required_text(name, "The name", max_len=80)
    if grade is not None:
        changes["grade"] = grade.strip()
    if changes:
        with db.transaction() as t:
            get_user(db, user_id)
            t["users"].update(user_id, changes)
    return get_user(db, user_id)


def touch_user(db: Database, user_id: int) -> None:
    with db.transaction() as t:
        t["users"].update(user_id, {"last_seen_at": utcnow()})


def last_seen_user(db: Database) -> User | None:
    rows = db.query("SELECT * FROM users WHERE last_seen_at IS NOT NULL ORDER BY last_seen_at DESC LIMIT 1")
    return _user(rows[0]) if rows else None


# -- the teacher check ---------------------------------------------------------------------------

def require_teacher(actor: User | None, db: Database | None = None) -> User:
    """Raise PermissionDenied unless `actor` is a teacher.

    With `db`, the role is read again from the database, so a stale or hand-made User object
    (a student whose profile object says "teacher") is not trusted.
    """
    if actor is None:
        raise PermissionDenied("Only a signed-in teacher can do this. Sign in as a teacher first.")
    if db is not None:
        actor = get_user(db, actor.id)
    if actor.role != "teacher":
        raise PermissionDenied(f"{actor.name} is a student profile; only a teacher can do this.")
    return actor
