"""`tutorloop teacher idle-timeout [MINUTES]`: the window's idle sign-out time, read by anyone,
changed by a signed-in teacher (audited), refused in one line when out of range."""
from __future__ import annotations

from storage import Database, DataDir, auth, audit
from storage.users import User
from tests.support.classroom import PASSWORD
from tests.support.cli import output_lines, tutorloop


def test_idle_timeout_is_read_and_set_by_a_teacher(data_dir: DataDir, db: Database, teacher: User) -> None:
    shown = tutorloop("teacher", "idle-timeout", home=data_dir.root)
    assert shown.returncode == 0 and shown.stdout.strip() == str(auth.DEFAULT_IDLE_MINUTES)
    denied = tutorloop("teacher", "idle-timeout", "5", home=data_dir.root, TUTORLOOP_PASSWORD="wrong wrong")
    assert denied.returncode == 3 and auth.idle_sign_out_minutes(db) == auth.DEFAULT_IDLE_MINUTES
    changed = tutorloop("teacher", "idle-timeout", "5", home=data_dir.root, TUTORLOOP_PASSWORD=PASSWORD)
    assert changed.returncode == 0, changed.stderr
    assert auth.idle_sign_out_minutes(db) == 5 and "after 5 minutes" in changed.stderr
    assert audit.list_entries(db, teacher)[0].action == "teacher.idle_sign_out"
    too_long = tutorloop("teacher", "idle-timeout", "9999", home=data_dir.root, TUTORLOOP_PASSWORD=PASSWORD)
    assert too_long.returncode == 1 and len(output_lines(too_long)) == 1 and "from 1 to" in too_long.stderr
    assert auth.idle_sign_out_minutes(db) == 5
