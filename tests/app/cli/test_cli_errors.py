"""Every `tutorloop` entry point, `adapt --if-due` (what cron runs) included, ends a storage failure
in ONE line and a documented exit status, never a traceback: a data folder that is a file, a damaged
database, a database another process holds locked for longer than the busy timeout, and a data
folder that cannot be written. Real subprocesses on real files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app.cli.common import EXIT_BUSY, EXIT_CODES_HELP, EXIT_ERROR
from storage import Database, DataDir, users
from tests.support.cli import (ROOT, damage, output_lines, read_only_tree, tutorloop, unprivileged_prefix,
                               write_lock_held)

NEW_TEACHER = {"TUTORLOOP_NEW_PASSWORD": "a long enough password"}


def assert_one_line(done, code: int, *words: str) -> str:
    lines = output_lines(done)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert done.returncode == code, (done.returncode, lines)
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def filled(data_dir: DataDir) -> None:
    with Database(data_dir.db_path) as db:
        for i in range(300):
            users.create_user(db, f"Student {i:04d} " + "x" * 40, grade="7")


def test_the_exit_codes_are_in_the_help() -> None:
    done = tutorloop("--help", home=Path("/nonexistent"))
    assert done.returncode == 0 and EXIT_CODES_HELP in done.stdout
    for code in ("0", "1", "2", "3", "75", "130"):
        assert f"\n  {code} " in EXIT_CODES_HELP


def test_a_data_folder_that_is_a_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder")
    for args in (("adapt", "--if-due"), ("adapters", "list"), ("review", "list", "--json"), ("teacher", "add", "X"),
                 ("ask", "What is 1/2 + 1/4?")):
        assert_one_line(tutorloop(*args, home=home, **NEW_TEACHER), EXIT_ERROR, "is a file")
    done = tutorloop("adapt", "--if-due", "--json", home=home)
    assert done.returncode == EXIT_ERROR and "Traceback" not in done.stderr
    (event,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert event["phase"] == "error" and "is a file" in event["message"]
    assert home.read_text() == "not a folder"


def test_a_damaged_database(data_dir: DataDir) -> None:
    filled(data_dir)
    damage(data_dir.db_path)
    before = data_dir.db_path.read_bytes()
    for args in (("adapt", "--if-due"), ("adapters", "list"), ("review", "list", "--json"), ("teacher", "add", "X"),
                 ("ask", "What is 1/2 + 1/4?")):
        assert_one_line(tutorloop(*args, home=data_dir.root, **NEW_TEACHER), EXIT_ERROR, "cannot be used",
                        "Nothing was changed")
    assert data_dir.db_path.read_bytes() == before


def test_a_database_locked_longer_than_the_busy_timeout(data_dir: DataDir) -> None:
    Database(data_dir.db_path).close()
    with write_lock_held(data_dir.db_path):
        # cron's round records its decision (a write): busy, said once, exit 75 (try again later)
        assert_one_line(tutorloop("adapt", "--if-due", home=data_dir.root), EXIT_BUSY, "is busy")
        assert_one_line(tutorloop("teacher", "add", "X", home=data_dir.root, **NEW_TEACHER), EXIT_BUSY, "is busy")


def test_a_data_folder_that_cannot_be_written(data_dir: DataDir) -> None:
    prefix = unprivileged_prefix()
    filled(data_dir)
    with read_only_tree(data_dir.root):
        for args in (("adapt", "--if-due"), ("adapters", "list"), ("review", "list", "--json")):
            assert_one_line(tutorloop(*args, home=data_dir.root, prefix=prefix), EXIT_ERROR, "cannot be written")
        done = tutorloop("adapt", "--if-due", "--json", home=data_dir.root, prefix=prefix)
        assert done.returncode == EXIT_ERROR and "Traceback" not in done.stderr
        assert [json.loads(line)["phase"] for line in done.stdout.splitlines()] == ["error"]


def test_python_m_learner_adapt_if_due_on_a_damaged_database(data_dir: DataDir) -> None:
    """What the cron line and the window's RoundProcess run: the same one line (one JSON event)."""
    filled(data_dir)
    damage(data_dir.db_path)
    done = subprocess.run([sys.executable, "-m", "learner.adapt", "--if-due", "--json"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == EXIT_ERROR and "Traceback" not in done.stderr, done.stderr
    (event,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert event["phase"] == "error" and "cannot be used" in event["message"]
