"""Opening the database: pragmas, forward migrations, and error translation.

Migrations are numbered SQL files in storage/migrations/ (0001_chat.sql, 0002_review.sql, ...);
PRAGMA user_version records the last one applied. Each file runs in one transaction, so a crash
mid-migration leaves the previous version intact.
"""
from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path

import sqlite_utils

from storage.errors import DatabaseLockedError, DatabaseReadOnlyError, StorageError

BUSY_TIMEOUT_S = 5.0
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def utcnow() -> str:
    """Timestamps are stored as ISO-8601 UTC strings, which sort and compare as text."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def end_of(day_or_time: str) -> str:
    """An inclusive `until` bound as an exclusive one: '2026-11-28' -> '2026-11-29', so the whole
    day is included; full times pass through unchanged."""
    if len(day_or_time) == 10:
        return (date.fromisoformat(day_or_time) + timedelta(days=1)).isoformat()
    return day_or_time


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every migration file, in order; versions must be 1..N."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        if m := _MIGRATION_NAME.match(entry.name):
            found.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    for expected, (version, name, _) in enumerate(found, start=1):
        if version != expected:
            raise StorageError(f"migration files are not numbered 1..N: expected {expected:04d}, found {name}")
    return found


def schema_version() -> int:
    """The version this code writes; a database newer than this is refused."""
    return len(migrations())


@contextlib.contextmanager
def translate_errors(path: Path | str) -> Iterator[None]:
    """Turn sqlite3's terse errors into ones that say what to do."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            raise DatabaseLockedError(
                f"The database {path} is busy: another tutorloop (or another program) is writing to it. "
                "Wait a moment and try again, or close the other program."
            ) from exc
        if "readonly" in text or "read-only" in text or "unable to open" in text:
            raise DatabaseReadOnlyError(
                f"The database {path} cannot be written. Check that the file and its folder are writable "
                "by you and that the disk is not full or mounted read-only, or choose another folder "
                "with --data-dir."
            ) from exc
        if "disk i/o" in text or "malformed" in text or "not a database" in text:
            raise StorageError(
                f"The database {path} cannot be read ({exc}). Restore it from a backup, or move it "
                "aside to start fresh."
            ) from exc
        raise
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc).lower() or "malformed" in str(exc).lower():
            raise StorageError(
                f"The database {path} is damaged or is not a tutorloop database ({exc}). Restore it from a "
                "backup, or move it aside to start fresh."
            ) from exc
        raise


class Database:
    """One SQLite connection with tutorloop's pragmas; wraps sqlite_utils.Database as `.db`.

    A Database belongs to the thread that opened it (sqlite3's rule); open one per thread or process.
    """

    def __init__(self, path: Path | str, *, migrate: bool = True) -> None:
        self.path = Path(path) if str(path) != ":memory:" else path
        with translate_errors(path):
            if isinstance(self.path, Path):
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if str(path) != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            self.db = sqlite_utils.Database(conn)
            if migrate:
                self.migrate()

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    @property
    def user_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> int:
        """Apply pending migrations, each in its own transaction; returns the resulting version."""
        current = self.user_version
        all_migrations = migrations()
        if current > len(all_migrations):
            raise StorageError(
                f"The database {self.path} was written by a newer tutorloop (schema {current}, this one "
                f"knows {len(all_migrations)}). Update tutorloop, or use another --data-dir."
            )
        for version, _name, sql in all_migrations[current:]:
            self.run_script(f"{sql}\nPRAGMA user_version = {version};")
        return self.user_version

    def run_script(self, sql: str) -> None:
        """Run a multi-statement SQL script in one transaction: all of it, or none of it."""
        with translate_errors(self.path):
            # executescript() commits first and does not honour our transaction, so wrap the
            # script in one explicit BEGIN ... COMMIT.
            try:
                self.conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nCOMMIT;")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception; sqlite errors translated."""
        with translate_errors(self.path):
            if self.conn.in_transaction:  # nested: join the outer transaction
                yield self.db
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict]:
        with translate_errors(self.path):
            return list(self.db.query(sql, params))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_database(path: Path | str) -> Database:
    return Database(path)
