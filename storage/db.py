"""Opening the database: identity and damage checks, pragmas, forward migrations, error translation.

Migrations are numbered SQL files in storage/migrations/ (0001_chat.sql, 0002_review.sql, ...);
PRAGMA user_version records the last one applied. Each file runs in one transaction, so a crash
mid-migration leaves the previous version intact. A few need Python as well (Unicode
normalisation, hashing, the data folder's path): `storage.migrations.steps` runs those inside the
same transaction, right after their SQL.

Opening never replaces an existing file. A missing database is created whole under a temporary
name and linked into place, so no process ever sees a half-made one; a 0-byte file, a file that is
not SQLite, another program's SQLite file or one that fails `PRAGMA quick_check` is refused with a
message naming the newest backup (`storage.backup`), and so is a missing database whose backups
are still there: a deleted or truncated file must never hand out a fresh database in which anyone
can create the first teacher.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import sqlite_utils

from storage.backup import daily_backup, list_backups
from storage.errors import DatabaseDamaged, DatabaseLockedError, DatabaseReadOnlyError, StorageError
from storage.migrations.steps import STEPS, Step
from storage.paths import ensure_folder
from storage.schema import APPLICATION_ID, SQLITE_MAGIC, migrations, schema_version

__all__ = ["APPLICATION_ID", "BUSY_TIMEOUT_S", "Database", "end_of", "migrations", "open_database",
           "schema_version", "translate_errors", "utcnow"]

BUSY_TIMEOUT_S = 5.0
# Tables every tutorloop database has had since the first release: a database from before
# application_id was set is recognised by them.
_LEGACY_TABLES = frozenset({"users", "sessions", "messages", "feedback", "settings"})


def utcnow() -> str:
    """Timestamps are stored as ISO-8601 UTC strings, which sort and compare as text."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def end_of(day_or_time: str) -> str:
    """An inclusive `until` bound as an exclusive one: '2026-11-28' -> '2026-11-29', so the whole
    day is included; full times pass through unchanged."""
    if len(day_or_time) == 10:
        return (date.fromisoformat(day_or_time) + timedelta(days=1)).isoformat()
    return day_or_time


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
            raise DatabaseDamaged(_damaged_message(path, f"SQLite says: {exc}")) from exc
        raise
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc).lower() or "malformed" in str(exc).lower():
            raise DatabaseDamaged(_damaged_message(path, f"SQLite says: {exc}")) from exc
        raise


def sql_statements(script: str) -> list[str]:
    """The statements of an SQL script, split where SQLite itself says a statement is complete (so a
    semicolon inside a string, a comment or a trigger body does not split one); comments alone are
    dropped."""
    statements, buffer = [], ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if _has_code(buffer):
                statements.append(buffer.strip())
            buffer = ""
    if _has_code(buffer):
        raise StorageError(f"an SQL script ends in an incomplete statement: {buffer.strip()[:80]!r}")
    return statements


def _has_code(text: str) -> bool:
    return any(line.split("--", 1)[0].strip(" \t;") for line in text.splitlines())


def _damaged_message(path: Path | str, what: str) -> str:
    """What is wrong, where the newest backup is, and what to do: the one wording for every refusal."""
    if not isinstance(path, Path):
        return f"The database {path} cannot be used: {what}."
    backups = list_backups(path)
    if backups:
        where = (f"The newest backup is {backups[0].path} ({backups[0].day}). Restore it with "
                 f"`tutorloop db restore`, which moves the damaged file aside first.")
    else:
        where = (f"There is no backup in {path.parent / 'backups'}. Move {path.name} aside to keep it for "
                 "repair, then start tutorloop again to begin with an empty database.")
    return f"The database {path} cannot be used: {what}. Nothing was changed. {where}"


def _refuse_missing_with_backups(path: Path) -> None:
    """A missing database whose daily backups are still there was deleted or moved, not never made."""
    backups = list_backups(path)
    if backups:
        raise DatabaseDamaged(
            f"The database {path} is missing, but its backups are still in {backups[0].path.parent} (newest "
            f"{backups[0].day}). Restore it with `tutorloop db restore`. To really start over with no "
            f"profiles, no teachers and no history, move the backups folder aside first.")


def _check_file(path: Path) -> None:
    """Refuse, before SQLite touches it, a file that cannot be a database (so none is ever 'repaired'
    into an empty one)."""
    try:
        if not path.is_file():
            raise DatabaseDamaged(_damaged_message(path, "it is not a regular file"))
        size = path.stat().st_size
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_MAGIC))
    except PermissionError:
        raise DatabaseReadOnlyError(f"The database {path} cannot be read: permission denied. Check that the "
                                    "file belongs to you, or choose another folder with --data-dir.") from None
    if size == 0:
        raise DatabaseDamaged(_damaged_message(path, "the file is empty (0 bytes), so it was truncated or "
                                                     "never finished"))
    if header != SQLITE_MAGIC:
        raise DatabaseDamaged(_damaged_message(path, "it is not an SQLite database (the file does not start "
                                                     "with SQLite's header)"))


def _create_new(path: Path) -> None:
    """A fresh, empty tutorloop database at `path`, made under a temporary name and linked into
    place: never a 0-byte file that another process could take for a damaged one, and never over a
    file that appeared meanwhile (that one wins)."""
    ensure_folder(path.parent)
    _refuse_missing_with_backups(path)
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}-{secrets.token_hex(4)}")
    tmp.unlink(missing_ok=True)
    with translate_errors(path):
        conn = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            return  # another process created it first: use theirs
        except OSError:
            # No hard links here (some network and FUSE file systems): copy with O_EXCL instead.
            data = tmp.read_bytes()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
    finally:
        tmp.unlink(missing_ok=True)


class Database:
    """One SQLite connection with tutorloop's pragmas; wraps sqlite_utils.Database as `.db`.

    A Database belongs to the thread that opened it (sqlite3's rule); open one per thread or process.
    `migrate=True` (the default, every process's main connection) also applies pending migrations,
    runs `PRAGMA quick_check` and makes the day's backup; helper connections (a heartbeat thread)
    pass `migrate=False` and only get the identity checks.
    """

    def __init__(self, path: Path | str, *, migrate: bool = True, check: bool | None = None) -> None:
        memory = str(path) == ":memory:"
        self.path: Path | str = path if memory else Path(path)
        check = migrate if check is None else check
        created = False
        if isinstance(self.path, Path):
            ensure_folder(self.path.parent)
            if not self.path.exists() and not self.path.is_symlink():
                _create_new(self.path)
                created = True
            else:
                _check_file(self.path)
        with translate_errors(self.path):
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                conn.execute("PRAGMA foreign_keys = ON")
                self.db = sqlite_utils.Database(conn)
                self._check_identity()
                if not memory and conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                if check and not memory and not created:
                    self._quick_check()
                if migrate:
                    self.migrate()
            except BaseException:
                conn.close()
                raise
        if check and isinstance(self.path, Path) and not created:
            daily_backup(self.conn, self.path)

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    @property
    def user_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    @property
    def application_id(self) -> int:
        return self.conn.execute("PRAGMA application_id").fetchone()[0]

    def _check_identity(self) -> None:
        """Ours (application_id), ours from before the id was set (our tables), brand new (nothing
        in it), or refused: another program's database is never migrated."""
        app_id, version = self.application_id, self.user_version
        if app_id == APPLICATION_ID:
            if version > schema_version():
                raise StorageError(
                    f"The database {self.path} was written by a newer tutorloop (schema {version}, this one "
                    f"knows {schema_version()}). Update tutorloop, or use another --data-dir.")
            return
        if app_id != 0:
            raise DatabaseDamaged(_damaged_message(
                self.path, f"it is another program's SQLite database (application id {app_id:#x}), not tutorloop's"))
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables and version == 0:
            return   # an empty SQLite file: nothing in it to lose or to mistake
        if version > 0 and _LEGACY_TABLES <= tables:
            return   # made before application_id was set; migration 0008 sets it
        raise DatabaseDamaged(_damaged_message(
            self.path, "it is an SQLite database, but not a tutorloop one (it lacks tutorloop's tables and mark)"))

    def _quick_check(self) -> None:
        """SQLite's cheap consistency check (pages, b-trees, record formats): a file damaged by a crash
        or a bad disk is refused before anything is written into it."""
        rows = [r[0] for r in self.conn.execute("PRAGMA quick_check(5)")]
        if rows != ["ok"]:
            found = "; ".join(line.strip() for row in rows for line in str(row).splitlines()
                              if line.strip() and not line.startswith("***"))
            raise DatabaseDamaged(_damaged_message(self.path, f"SQLite's consistency check failed ({found[:300]})"))

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
            self._apply(version, sql, STEPS.get(version))
        return self.user_version

    def _apply(self, version: int, sql: str, step: Step | None) -> None:
        """One migration in one transaction: its SQL, its Python step, the version bump. Skipped when
        another process applied it while this one waited for the write lock."""
        with translate_errors(self.path):
            # executescript() would commit our BEGIN first, so the statements run one by one.
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                if self.user_version >= version:
                    self.conn.execute("ROLLBACK")
                    return
                for statement in sql_statements(sql):
                    self.conn.execute(statement)
                if step is not None:
                    step(self.conn, self.path if isinstance(self.path, Path) else None)
                self.conn.execute(f"PRAGMA user_version = {version}")
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

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

    @contextlib.contextmanager
    def waiting_at_most(self, seconds: float) -> Iterator[None]:
        """A shorter busy timeout for writes that may be skipped (a password rehash, a notice in the
        audit log): a reader must not wait the full timeout behind another process's long write."""
        self.conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
        try:
            yield
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")

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
