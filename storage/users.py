"""Profiles (students and teachers) and the one check that guards every teacher action.

Kept apart from `storage.auth` (passwords, sign-in) so that any module that does teacher work,
the audit log included, can check the role without importing the sign-in machinery.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from storage.db import Database, utcnow
from storage.errors import NotFoundError, PermissionDenied, ValidationError
from storage.names import MAX_NAME_CHARS, clean_name, name_key

__all__ = ["MAX_NAME_CHARS", "Role", "User", "clean_name", "create_user", "find_user", "get_user", "last_seen_user",
           "list_users", "name_key", "require_teacher", "touch_user", "update_user"]

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
    """A new profile. The name is checked and normalised (storage.names): at most 64 characters, no
    control or invisible characters, unique under Unicode's caseless match."""
    name = clean_name(name)
    if role not in ("student", "teacher"):
        raise ValidationError(f"Unknown role {role!r}: expected 'student' or 'teacher'.")
    grade = _clean_grade(grade)
    with db.transaction() as t:
        _refuse_taken(db, name)
        uid = t["users"].insert({
            "name": name, "name_key": name_key(name), "role": role, "grade": grade, "password_hash": password_hash,
            "created_at": utcnow(),
        }).last_pk
    return get_user(db, uid)


def _refuse_taken(db: Database, name: str, *, except_id: int | None = None) -> None:
    rows = db.query("SELECT id, name FROM users WHERE name_key = ? OR name = ? COLLATE NOCASE",
                    (name_key(name), name))
    if any(r["id"] != except_id for r in rows):
        taken = next(r["name"] for r in rows if r["id"] != except_id)
        same = "" if taken == name else f" (as {taken!r}: names that differ only in case or accents' form count as one)"
        raise ValidationError(f"A profile named {name!r} already exists{same}.")


def _clean_grade(grade: str | None) -> str:
    grade = " ".join((grade or "").split())
    if len(grade) > MAX_NAME_CHARS:
        raise ValidationError(f"The grade is {len(grade)} characters long; the limit is {MAX_NAME_CHARS}.")
    return grade


def get_user(db: Database, user_id: int) -> User:
    rows = db.query("SELECT * FROM users WHERE id = ?", (user_id,))
    if not rows:
        raise NotFoundError(f"No profile with id {user_id}.")
    return _user(rows[0])


def find_user(db: Database, name: str) -> User | None:
    """The profile whose name matches `name` caselessly (Unicode), or None."""
    rows = db.query("SELECT * FROM users WHERE name_key = ?", (name_key(name or ""),))
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
        changes["name"] = clean_name(name)
        changes["name_key"] = name_key(changes["name"])
    if grade is not None:
        changes["grade"] = _clean_grade(grade)
    if changes:
        with db.transaction() as t:
            get_user(db, user_id)
            if "name" in changes:
                _refuse_taken(db, changes["name"], except_id=user_id)
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
