from __future__ import annotations

import os
import sqlite3

import pytest

from storage import Database, DatabaseLockedError, DatabaseReadOnlyError, StorageError, users
from storage.db import migrations


def test_fresh_database_is_migrated_with_pragmas(db: Database) -> None:
    assert db.user_version == len(migrations())
    assert db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_reopening_keeps_data_and_version(data_dir) -> None:
    with Database(data_dir.db_path) as first:
        user = users.create_user(first, "Ana", grade="7")
    with Database(data_dir.db_path) as second:
        assert users.get_user(second, user.id).name == "Ana"
        assert second.user_version == len(migrations())


def test_newer_schema_is_refused(data_dir) -> None:
    Database(data_dir.db_path).close()
    raw = sqlite3.connect(data_dir.db_path)
    raw.execute(f"PRAGMA user_version = {len(migrations()) + 1}")
    raw.close()
    with pytest.raises(StorageError, match="newer tutorloop"):
        Database(data_dir.db_path)


def test_locked_database_gives_clear_message(data_dir, monkeypatch) -> None:
    monkeypatch.setattr("storage.db.BUSY_TIMEOUT_S", 0.1)
    db = Database(data_dir.db_path)
    blocker = sqlite3.connect(data_dir.db_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DatabaseLockedError, match="busy"):
            users.create_user(db, "Ben")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert users.find_user(db, "Ben") is None
    db.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_folder_gives_clear_message(tmp_path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(DatabaseReadOnlyError, match="cannot be written"):
            Database(folder / "tutorloop.db")
    finally:
        folder.chmod(0o700)


def test_read_only_file_gives_clear_message(data_dir) -> None:
    Database(data_dir.db_path).close()
    # A read-only connection stands in for a read-only mount; it behaves the same for root.
    ro = Database.__new__(Database)
    ro.path = data_dir.db_path
    import sqlite_utils

    ro.db = sqlite_utils.Database(sqlite3.connect(f"file:{data_dir.db_path}?mode=ro", uri=True, isolation_level=None))
    with pytest.raises(DatabaseReadOnlyError, match="cannot be written"):
        users.create_user(ro, "Cleo")
    ro.close()


def test_garbage_file_is_reported_not_traced(data_dir) -> None:
    data_dir.db_path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="cannot be used: it is not an SQLite database"):
        Database(data_dir.db_path)
