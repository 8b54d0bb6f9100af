"""Which class this desktop belongs to (one at most), as the teacher who made it or a student
desktop that joined it; the class folder's `class.json`."""
from __future__ import annotations

import os
import platform
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from storage import audit
from storage.adapter_files import data_root_of
from storage.classfolder import keys
from storage.classfolder.files import read_json, write_json
from storage.db import Database, utcnow
from storage.errors import NotFoundError, PermissionDenied, ValidationError
from storage.users import User, list_users, require_teacher

CLASS_FILE = "class.json"
FORMAT = 1
KEYS_FOLDER = "class"          # in the teacher's data folder: class/<class id>.pem (0600)
_DEVICE = re.compile(r"^[0-9a-f]{32}$")

Role = Literal["teacher", "student"]


class NotInClass(NotFoundError):
    """This desktop has not created or joined a class."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassInfo:
    """What class.json says, its signature checked with the key it names."""
    class_id: str
    name: str
    teacher_public_key: str
    teacher_name: str
    model_id: str
    created_at: str

    @property
    def fingerprint(self) -> str:
        return keys.fingerprint(self.teacher_public_key)


@dataclass(frozen=True, slots=True, kw_only=True)
class Membership:
    class_id: str
    name: str
    folder: Path
    role: Role
    teacher_public_key: str
    teacher_name: str
    model_id: str
    device_id: str
    device_name: str
    joined_at: str
    next_segment: int
    last_sync_at: str | None
    last_sync_note: str | None

    @property
    def fingerprint(self) -> str:
        return keys.fingerprint(self.teacher_public_key)

    @property
    def is_teacher(self) -> bool:
        return self.role == "teacher"

    def to_dict(self) -> dict[str, Any]:
        return {"class_id": self.class_id, "name": self.name, "folder": str(self.folder), "role": self.role,
                "teacher_name": self.teacher_name, "fingerprint": self.fingerprint, "model_id": self.model_id,
                "device_id": self.device_id, "device_name": self.device_name, "joined_at": self.joined_at,
                "last_sync_at": self.last_sync_at, "last_sync_note": self.last_sync_note}


def student_record(member: Membership, row: Any) -> dict[str, Any]:
    """Who a sent record belongs to: the key the teacher's import groups by (this desktop's id and
    the student's local id), with their name and grade. `row`: student_id, student_name, grade."""
    return {"key": f"{member.device_id}:{row['student_id']}", "name": row["student_name"], "grade": row["grade"]}


def is_device_id(text: str) -> bool:
    return bool(_DEVICE.match(text))


def key_path(db: Database, class_id: str) -> Path:
    return data_root_of(Path(db.path)) / KEYS_FOLDER / f"{class_id}.pem"


def _membership(row: dict[str, Any]) -> Membership:
    return Membership(class_id=row["class_id"], name=row["name"], folder=Path(row["folder"]), role=row["role"],
                      teacher_public_key=row["teacher_public_key"], teacher_name=row["teacher_name"],
                      model_id=row["model_id"], device_id=row["device_id"], device_name=row["device_name"],
                      joined_at=row["joined_at"], next_segment=row["next_segment"],
                      last_sync_at=row["last_sync_at"], last_sync_note=row["last_sync_note"])


def membership(db: Database) -> Membership | None:
    rows = db.query("SELECT * FROM class_membership WHERE id = 1")
    return _membership(rows[0]) if rows else None


def require_membership(db: Database) -> Membership:
    found = membership(db)
    if found is None:
        raise NotInClass("This desktop is not in a class. A teacher creates one with `tutorloop class create NAME "
                         "FOLDER`; a student desktop joins with `tutorloop class join FOLDER`.")
    return found


def _clean_class_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("The class needs a name, such as 7B.")
    if len(name) > 64 or any(not ch.isprintable() for ch in name):
        raise ValidationError("A class name is at most 64 printable characters.")
    return name


def _usable_folder(folder: Path | str, *, create: bool) -> Path:
    path = Path(folder).expanduser()
    path = Path(os.path.abspath(path))
    if create and not path.exists():
        if not path.parent.is_dir():
            raise ValidationError(f"{path.parent} does not exist; create the shared folder first (on the network "
                                  "drive or in the synced folder), then try again.")
        path.mkdir()
    if not path.is_dir():
        raise ValidationError(f"{path} is not a folder that this desktop can reach. Check that the network drive is "
                              "connected or that the sync tool has created it.")
    return path


def read_class_file(folder: Path) -> ClassInfo:
    """class.json in `folder`, checked against the key it names (a damaged or hand-edited file is refused)."""
    data = read_json(folder / CLASS_FILE)
    if data is None:
        raise ValidationError(f"{folder} holds no class (no readable {CLASS_FILE}). Point at the folder the teacher "
                              "created with `tutorloop class create`, or wait until it has synced.")
    public = data.get("teacher_public_key") if isinstance(data, dict) else None
    if not isinstance(public, str):
        raise ValidationError(f"{folder / CLASS_FILE} names no teacher key; it is not a tutorloop class file.")
    try:
        body = keys.verify(public, data, what=f"{folder / CLASS_FILE}")
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    if body.get("format") != FORMAT or not all(isinstance(body.get(k), str) for k in
                                               ("class_id", "name", "model_id", "created_at")):
        raise ValidationError(f"{folder / CLASS_FILE} is from another version of tutorloop; update the app.")
    return ClassInfo(class_id=body["class_id"], name=body["name"], teacher_public_key=public,
                     teacher_name=str(body.get("teacher_name", "")), model_id=body["model_id"],
                     created_at=body["created_at"])


def _insert(db: Database, *, info: ClassInfo, folder: Path, role: Role, actor: User | None) -> None:
    db.conn.execute(
        "INSERT INTO class_membership (id, class_id, name, folder, role, teacher_public_key, teacher_name, model_id, "
        "device_id, device_name, joined_at, joined_by_name) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (info.class_id, info.name, str(folder), role, info.teacher_public_key, info.teacher_name, info.model_id,
         secrets.token_hex(16), platform.node()[:64], utcnow(), actor.name if actor else ""))


def create_class(db: Database, actor: User, name: str, folder: Path | str, *, model_id: str) -> Membership:
    """A new class: the teacher's key pair (private half in this data folder, 0600), class.json in
    the folder. Teacher-only; refused when this desktop is already in a class or the folder holds one."""
    teacher = require_teacher(actor, db)
    name = _clean_class_name(name)
    if not (model_id or "").strip():
        raise ValidationError("The class needs the model its adapters are trained on.")
    if (current := membership(db)) is not None:
        raise ValidationError(f"This desktop is already in class {current.name} ({current.folder}).")
    path = _usable_folder(folder, create=True)
    if (path / CLASS_FILE).exists():
        raise ValidationError(f"{path} already holds a class; join it with `tutorloop class join {path}`, or choose "
                              "an empty folder for a new class.")
    class_id = secrets.token_hex(16)
    key = keys.make_key(key_path(db, class_id))
    info = ClassInfo(class_id=class_id, name=name, teacher_public_key=keys.public_text(key),
                     teacher_name=teacher.name, model_id=model_id.strip(), created_at=utcnow())
    record = {"format": FORMAT, "kind": "tutorloop-class", "class_id": class_id, "name": name,
              "teacher_public_key": info.teacher_public_key, "teacher_name": teacher.name,
              "model_id": info.model_id, "created_at": info.created_at}
    if not write_json(path / CLASS_FILE, keys.sign(key, record)):
        raise ValidationError(f"{path} already holds a class (it appeared meanwhile); nothing was created.")
    for sub in ("outbox", "devices", "adapters", "active"):
        (path / sub).mkdir(exist_ok=True)
    with db.transaction():
        _insert(db, info=info, folder=path, role="teacher", actor=teacher)
        audit.record(db, teacher, "class.create", target=class_id,
                     details={"name": name, "folder": str(path), "fingerprint": info.fingerprint})
    return require_membership(db)


def join_class(db: Database, actor: User | None, folder: Path | str) -> Membership:
    """Join the class in `folder`, pinning its teacher's key. Once this desktop has a teacher profile,
    only a teacher may do it (pointing a desktop at another class decides which adapter its students
    get); a fresh student desktop may join without one. The same class in a moved folder updates the path."""
    if list_users(db, role="teacher"):
        require_teacher(actor, db)
    path = _usable_folder(folder, create=False)
    info = read_class_file(path)
    current = membership(db)
    if current is not None:
        if current.class_id != info.class_id:
            raise ValidationError(f"This desktop is in class {current.name}; it cannot join {info.name} as well.")
        if current.teacher_public_key != info.teacher_public_key:
            raise PermissionDenied(f"{path / CLASS_FILE} names another teacher key than the one pinned when this "
                                   "desktop joined; it was refused.")
        with db.transaction():
            db.conn.execute("UPDATE class_membership SET folder = ? WHERE id = 1", (str(path),))
            audit.record(db, actor, "class.folder_moved", target=info.class_id, details={"folder": str(path)})
        return require_membership(db)
    with db.transaction():
        _insert(db, info=info, folder=path, role="student", actor=actor)
        audit.record(db, actor, "class.join", target=info.class_id,
                     details={"name": info.name, "folder": str(path), "fingerprint": info.fingerprint})
    return require_membership(db)


def leave_class(db: Database, actor: User | None) -> Membership:
    """This desktop stops syncing with its class (it keeps its adapters, and what it already sent is
    not sent again to a class it joins later). The same rule as joining: once the desktop has a
    teacher profile, only a teacher may do it; the teacher's desktop always needs one."""
    member = require_membership(db)
    if member.is_teacher or list_users(db, role="teacher"):
        require_teacher(actor, db)
    with db.transaction():
        db.conn.execute("DELETE FROM class_membership WHERE id = 1")
        audit.record(db, actor, "class.leave", target=member.class_id, details={"name": member.name})
    return member


def record_sync(db: Database, note: str | None) -> None:
    with db.transaction():
        db.conn.execute("UPDATE class_membership SET last_sync_at = ?, last_sync_note = ? WHERE id = 1",
                        (utcnow(), note))
