"""Opening refuses what is not a healthy tutorloop database (and never replaces it with an empty one),
backs up daily, and `db check` / `db restore` work on what opening refuses."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from storage import DataDir, Database, StorageError, auth, users
from storage.backup import check_database, daily_backup, list_backups, restore_backup
from storage.db import APPLICATION_ID, migrations
from storage.errors import DatabaseDamaged
from tests.support.classroom import FAST, PASSWORD
from tests.support.cli import damage


def filled(data_dir: DataDir, rows: int = 400) -> None:
    with Database(data_dir.db_path) as db:
        for i in range(rows):
            users.create_user(db, f"Student {i:04d} " + "x" * 40, grade="7")


def test_a_zero_byte_file_is_refused_not_replaced(data_dir: DataDir) -> None:
    data_dir.db_path.write_bytes(b"")
    with pytest.raises(DatabaseDamaged, match="empty \\(0 bytes\\).*Nothing was changed"):
        Database(data_dir.db_path)
    assert data_dir.db_path.stat().st_size == 0            # not silently made a new database


def test_another_programs_sqlite_file_is_refused_untouched(data_dir: DataDir) -> None:
    raw = sqlite3.connect(data_dir.db_path)
    raw.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")   # it even has a users table
    raw.commit()
    raw.close()
    before = data_dir.db_path.read_bytes()
    with pytest.raises(DatabaseDamaged, match="not a tutorloop one"):
        Database(data_dir.db_path)
    assert data_dir.db_path.read_bytes() == before
    raw = sqlite3.connect(data_dir.db_path)
    raw.execute("PRAGMA application_id = 42")
    raw.close()
    with pytest.raises(DatabaseDamaged, match="another program's SQLite database"):
        Database(data_dir.db_path)


def test_new_databases_carry_the_application_id(db: Database) -> None:
    assert db.application_id == APPLICATION_ID
    assert db.query("SELECT length(database_id) AS n FROM database_info")[0]["n"] == 32


def test_a_database_from_before_the_application_id_is_recognised(data_dir: DataDir) -> None:
    raw = sqlite3.connect(data_dir.db_path, isolation_level=None)
    for version, _name, sql in migrations()[:7]:
        raw.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    raw.close()
    with Database(data_dir.db_path) as db:
        assert db.application_id == APPLICATION_ID and db.user_version == len(migrations())


def test_a_partly_damaged_file_is_refused_before_anything_is_written(data_dir: DataDir) -> None:
    filled(data_dir)
    Database(data_dir.db_path).close()                        # the day's backup
    damage(data_dir.db_path)                                  # four b-tree page headers
    # Which check finds it depends on where the pages fall: SQLite itself ("malformed") or the
    # consistency check; either way the file is refused, nothing is written and the backup is named.
    with pytest.raises(DatabaseDamaged, match="cannot be used: .*Nothing was changed.*newest backup is .*db restore") \
            as refused:
        Database(data_dir.db_path)
    assert "\n" not in str(refused.value)
    verdict = check_database(data_dir.db_path)
    assert not verdict.ok and "db restore" in verdict.describe()


def test_a_data_folder_that_is_a_file_is_explained(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("oops")
    with pytest.raises(StorageError, match="is a file, but tutorloop needs a folder"):
        DataDir(home).ensure()
    with pytest.raises(StorageError, match="is a file, but tutorloop needs a folder"):
        Database(home / "tutorloop.db")


def test_a_missing_database_whose_backups_remain_is_not_started_afresh(data_dir: DataDir) -> None:
    with Database(data_dir.db_path) as db:
        auth.create_teacher(db, None, "Ms Lee", PASSWORD, params=FAST)
    with Database(data_dir.db_path):
        pass                                                  # the day's first full open backs up
    assert len(list_backups(data_dir.db_path)) == 1
    data_dir.db_path.unlink()
    with pytest.raises(DatabaseDamaged, match="missing, but its backups.*db restore"):
        Database(data_dir.db_path)
    assert not data_dir.db_path.exists()


def test_daily_backups_keep_seven_and_restore_puts_one_back(data_dir: DataDir) -> None:
    with Database(data_dir.db_path) as db:
        auth.create_teacher(db, None, "Ms Lee", PASSWORD, params=FAST)
        for day in range(1, 10):
            daily_backup(db.conn, data_dir.db_path, day=f"2026-11-{day:02d}")
        assert daily_backup(db.conn, data_dir.db_path, day="2026-11-09") is None     # once a day
    backups = list_backups(data_dir.db_path)
    assert [b.day for b in backups] == [f"2026-11-{d:02d}" for d in range(9, 2, -1)]
    assert check_database(backups[0].path).ok
    data_dir.db_path.write_bytes(b"")                          # the disaster
    for side in ("-wal", "-shm"):
        Path(str(data_dir.db_path) + side).unlink(missing_ok=True)
    assert not check_database(data_dir.db_path).ok
    result = restore_backup(data_dir.db_path)
    assert result.restored_from == backups[0].path and result.moved_aside is not None
    assert result.moved_aside.stat().st_size == 0              # kept for repair, never deleted
    with Database(data_dir.db_path) as restored:
        assert users.find_user(restored, "Ms Lee") is not None
    assert check_database(data_dir.db_path).ok


def test_two_processes_creating_the_database_at_once_both_open_it(data_dir: DataDir) -> None:
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_it() -> None:
        barrier.wait()
        try:
            Database(data_dir.db_path).close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert not [p for p in data_dir.root.iterdir() if p.name.startswith(".tutorloop.db.new")]
