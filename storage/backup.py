"""Daily backups of the database, and what `tutorloop db check` and `tutorloop db restore` do.

    <data folder>/backups/tutorloop-2026-11-28.db   one a day, the newest KEEP_BACKUPS kept

The first full open of a day (storage.db.Database) copies the database with SQLite's online backup
API: a consistent snapshot even while another process writes, and never of a file that failed its
check at open. A backup is written under a temporary name and renamed into place, so a crash leaves
no half backup that a restore could pick.

`check_database` reads a database without changing it and lists every problem (it works on a file
that `Database` refuses); `restore_backup` checks the backup first, moves the current file (and its
-wal/-shm) aside as `tutorloop.db.damaged-<time>`, and puts a copy of the backup in its place.
"""
from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from storage.errors import DatabaseDamaged, StorageError, ValidationError
from storage.schema import APPLICATION_ID, SQLITE_MAGIC, schema_version

KEEP_BACKUPS = 7
_BACKUP_NAME = re.compile(r"^(?P<stem>.+)-(?P<day>\d{4}-\d{2}-\d{2})\.db$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Backup:
    path: Path
    day: str             # local date it was made, YYYY-MM-DD
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseCheck:
    path: Path
    ok: bool
    problems: tuple[str, ...]    # empty when ok; each one line for the person at the screen
    schema_version: int | None
    backups: tuple[Backup, ...]

    def describe(self) -> str:
        if self.ok:
            newest = f"; newest backup {self.backups[0].day}" if self.backups else "; no backup yet"
            return f"{self.path}: ok (schema {self.schema_version}{newest})."
        return f"{self.path}: damaged. " + " ".join(self.problems)


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreResult:
    restored_from: Path
    moved_aside: Path | None     # the file that was replaced, kept for repair (None: there was none)


def backups_dir(db_path: Path) -> Path:
    return db_path.parent / "backups"


def list_backups(db_path: Path) -> list[Backup]:
    """The backups of the database at `db_path`, newest first."""
    folder = backups_dir(db_path)
    try:
        entries = list(folder.iterdir()) if folder.is_dir() else []
    except OSError:
        return []
    found = []
    for entry in entries:
        match = _BACKUP_NAME.match(entry.name)
        if match and match.group("stem") == db_path.stem and entry.is_file() and not entry.is_symlink():
            found.append(Backup(path=entry, day=match.group("day"), size=entry.stat().st_size))
    return sorted(found, key=lambda b: b.day, reverse=True)


def _today() -> str:
    return datetime.now().astimezone().date().isoformat()


def daily_backup(conn: sqlite3.Connection, db_path: Path, *, keep: int = KEEP_BACKUPS,
                 day: str | None = None) -> Backup | None:
    """Make today's backup of the open database `conn` (the file at `db_path`) if there is none yet;
    keep the newest `keep`. Returns the new backup, or None when today's exists already. A backup
    that cannot be written (a full disk) is skipped: it must never stop the app from opening."""
    day = day or _today()
    if any(b.day == day for b in list_backups(db_path)):
        return None
    try:
        made = make_backup(conn, backups_dir(db_path) / f"{db_path.stem}-{day}.db")
    except (OSError, sqlite3.Error, StorageError):
        return None
    for old in list_backups(db_path)[keep:]:
        old.path.unlink(missing_ok=True)
    return Backup(path=made, day=day, size=made.stat().st_size)


def _copy_database(source: sqlite3.Connection, dest: Path, *, journal_mode: Literal["DELETE", "WAL"]) -> None:
    """Copy the database open on `source` into the new file `dest` with SQLite's online backup API,
    leave it in `journal_mode`, and flush it to disk before the caller moves it into place."""
    target = sqlite3.connect(str(dest), isolation_level=None)
    try:
        source.backup(target)
        target.execute(f"PRAGMA journal_mode = {journal_mode}")
    finally:
        target.close()
    with dest.open("rb") as handle:
        os.fsync(handle.fileno())


def make_backup(conn: sqlite3.Connection, dest: Path) -> Path:
    """A consistent copy of the open database `conn` at `dest` (SQLite's online backup API), written
    whole or not at all."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        # The copy is one self-contained file: no WAL beside it to lose when it is moved.
        _copy_database(conn, tmp, journal_mode="DELETE")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def check_database(db_path: Path) -> DatabaseCheck:
    """`tutorloop db check`: SQLite's full integrity check, the foreign keys, and tutorloop's own mark
    and schema version. Read-only: it opens the file with mode=ro and never migrates."""
    db_path = Path(db_path)
    backups = tuple(list_backups(db_path))
    problems: list[str] = []
    version = None
    if not db_path.exists():
        problems.append("The file does not exist.")
    elif not db_path.is_file():
        problems.append("It is not a regular file.")
    elif db_path.stat().st_size == 0:
        problems.append("The file is empty (0 bytes).")
    else:
        with db_path.open("rb") as handle:
            if handle.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
                problems.append("It is not an SQLite database.")
    if not problems:
        try:
            conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
            try:
                app_id = conn.execute("PRAGMA application_id").fetchone()[0]
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if app_id not in (0, APPLICATION_ID):
                    problems.append(f"It belongs to another program (application id {app_id:#x}).")
                elif version > schema_version():
                    problems.append(f"It was written by a newer tutorloop (schema {version}; this one knows "
                                    f"{schema_version()}).")
                integrity = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
                if integrity != ["ok"]:
                    problems.append("SQLite's integrity check failed: " + "; ".join(integrity)[:500] + ".")
                else:
                    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        problems.append(f"{len(broken)} row(s) point at rows that no longer exist "
                                        f"(first: table {broken[0][0]}, row {broken[0][1]}).")
            finally:
                conn.close()
        except sqlite3.Error as exc:
            problems.append(f"SQLite cannot read it ({exc}).")
    if problems:
        if backups:
            problems.append(f"The newest backup is {backups[0].path} ({backups[0].day}); "
                            "`tutorloop db restore` puts it back.")
        else:
            problems.append("There is no backup to restore.")
    return DatabaseCheck(path=db_path, ok=not problems, problems=tuple(problems), schema_version=version,
                         backups=backups)


def restore_backup(db_path: Path, backup: Path | str | None = None) -> RestoreResult:
    """`tutorloop db restore [BACKUP]`: the newest backup (or `backup`, a path or a YYYY-MM-DD day)
    becomes the database. The backup is checked first; the current file is moved aside, never
    deleted. Run it while no other tutorloop is open."""
    db_path = Path(db_path)
    chosen = _choose_backup(db_path, backup)
    verdict = check_database(chosen)
    if not verdict.ok:
        raise DatabaseDamaged(f"The backup {chosen} is damaged too: {' '.join(verdict.problems[:-1])} "
                              "Choose an older one with `tutorloop db restore YYYY-MM-DD`.")
    tmp = db_path.with_name(f".{db_path.name}.restore-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    source = sqlite3.connect(f"{chosen.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        _copy_database(source, tmp, journal_mode="WAL")
    finally:
        source.close()
    moved = None
    try:
        if db_path.exists() or db_path.is_symlink():
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            moved = db_path.with_name(f"{db_path.name}.damaged-{stamp}")
            os.replace(db_path, moved)
            for suffix in ("-wal", "-shm"):
                side = db_path.with_name(db_path.name + suffix)
                if side.exists():
                    os.replace(side, moved.with_name(moved.name + suffix))
        os.replace(tmp, db_path)
    finally:
        tmp.unlink(missing_ok=True)
    return RestoreResult(restored_from=chosen, moved_aside=moved)


def _choose_backup(db_path: Path, backup: Path | str | None) -> Path:
    backups = list_backups(db_path)
    if backup is None:
        if not backups:
            raise ValidationError(f"There is no backup of {db_path} in {backups_dir(db_path)} to restore.")
        return backups[0].path
    text = str(backup).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        for item in backups:
            if item.day == text:
                return item.path
        days = ", ".join(b.day for b in backups) or "none"
        raise ValidationError(f"There is no backup from {text}. Backups: {days}.")
    path = Path(text).expanduser()
    if not path.is_file():
        raise ValidationError(f"{path} is not a backup file.")
    return path
