"""`tutorloop db check|backups|restore` in real subprocesses, on files that opening refuses."""
from __future__ import annotations

from pathlib import Path

from storage import Database, DataDir, auth, users
from storage.backup import list_backups
from tests.support.classroom import FAST, PASSWORD
from tests.support.cli import damage, output_lines, tutorloop


def backed_up(data_dir: DataDir, rows: int = 300) -> Path:
    """A database with a teacher and enough rows to damage, and today's backup of it."""
    with Database(data_dir.db_path) as db:                     # created: no backup of an empty file
        auth.create_teacher(db, None, "Ms Lee", PASSWORD, params=FAST)
        for i in range(rows):
            users.create_user(db, f"Student {i:04d} " + "x" * 40, grade="7")
    Database(data_dir.db_path).close()                          # the day's first full open backs up
    (backup,) = list_backups(data_dir.db_path)
    return backup.path


def test_check_says_ok_then_names_the_damage_without_opening_the_database(data_dir: DataDir) -> None:
    backup = backed_up(data_dir)
    ok = tutorloop("db", "check", home=data_dir.root)
    assert ok.returncode == 0, ok.stderr
    assert "ok (schema" in ok.stdout and backup.name[len("tutorloop-"):-3] in ok.stdout
    damage(data_dir.db_path)
    before = data_dir.db_path.read_bytes()
    bad = tutorloop("db", "check", home=data_dir.root)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert output_lines(bad) == [bad.stdout.strip()]           # one line: what is wrong, where the backup is
    assert "damaged" in bad.stdout and str(backup) in bad.stdout and "db restore" in bad.stdout
    assert data_dir.db_path.read_bytes() == before             # read-only: no migration, nothing written


def test_restore_puts_the_newest_backup_back_and_keeps_the_damaged_file(data_dir: DataDir) -> None:
    backup = backed_up(data_dir)
    day = backup.name[len("tutorloop-"):-3]
    listed = tutorloop("db", "backups", home=data_dir.root)
    assert listed.returncode == 0 and listed.stdout.startswith(day) and str(backup) in listed.stdout
    assert tutorloop("db", "restore", "--list", home=data_dir.root).stdout == listed.stdout
    data_dir.db_path.write_bytes(b"")                           # the disaster: a 0-byte database
    refused = tutorloop("adapters", "list", home=data_dir.root)
    assert refused.returncode == 1 and "db restore" in refused.stderr
    restored = tutorloop("db", "restore", home=data_dir.root)
    assert restored.returncode == 0, restored.stderr
    fields = dict(line.split(": ", 1) for line in restored.stdout.splitlines())
    assert fields["restored_from"] == str(backup)
    moved = Path(fields["moved_aside"])
    assert moved.parent == data_dir.root and moved.stat().st_size == 0    # kept for repair, never deleted
    with Database(data_dir.db_path) as db:
        assert users.find_user(db, "Ms Lee") is not None
    assert tutorloop("db", "check", home=data_dir.root).returncode == 0


def test_restore_refusals_are_one_line(data_dir: DataDir) -> None:
    backup = backed_up(data_dir)
    no_day = tutorloop("db", "restore", "1999-01-01", home=data_dir.root)
    assert no_day.returncode == 1 and output_lines(no_day) == [no_day.stderr.strip()]
    assert "no backup from 1999-01-01" in no_day.stderr
    damage(backup)
    before = data_dir.db_path.read_bytes()
    bad_backup = tutorloop("db", "restore", home=data_dir.root)
    assert bad_backup.returncode == 1 and len(output_lines(bad_backup)) == 1, bad_backup.stderr
    assert "damaged too" in bad_backup.stderr and "Traceback" not in bad_backup.stderr
    assert data_dir.db_path.read_bytes() == before              # nothing moved aside, nothing replaced
    assert sorted(p.name for p in data_dir.root.glob("tutorloop.db*")) == ["tutorloop.db"]


def test_check_on_a_data_folder_that_is_a_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder")
    done = tutorloop("db", "check", home=home)
    assert done.returncode == 1 and len(output_lines(done)) == 1 and "is a file" in done.stderr
