"""`tutorloop safeguarding list|ack` and the screen in `tutorloop ask`, as real subprocesses against a
real database file (and, for ask, the tiny model)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from learner.safeguarding import help_text
from storage import Database, DataDir, safeguarding
from tests.support.classroom import PASSWORD, Classroom

ROOT = Path(__file__).resolve().parents[3]


def tutorloop(*args: str, password: str | None = PASSWORD, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TUTORLOOP_PASSWORD", "TUTORLOOP_NEW_PASSWORD")}
    env.pop("QT_QPA_PLATFORM", None)
    if password is not None:
        env["TUTORLOOP_PASSWORD"] = password
    env.update({"HF_HUB_OFFLINE": "1", **extra_env})
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=180, check=False)


def test_ask_answers_a_flagged_message_with_the_school_help_text_and_alerts(
        db: Database, data_dir: DataDir, classroom: Classroom, tiny_model_dir: Path) -> None:
    school = data_dir.root / "safeguarding"
    school.mkdir()
    (school / "help.md").write_text("Talk to Mr Okafor in room 12, or call 0800 1111.\n", encoding="utf-8")
    asked = tutorloop("ask", "nobody would care if i wasnt here anymore. i wanna hurt myself tonight",
                      "--model", str(tiny_model_dir), "--max-new-tokens", "8", password=None)
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.strip() == "Talk to Mr Okafor in room 12, or call 0800 1111."
    assert help_text(data_dir) == "Talk to Mr Okafor in room 12, or call 0800 1111."

    listed = tutorloop("safeguarding", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    alerts = json.loads(listed.stdout)
    assert [(a["text"], a["category"], a["stage"], a["source"], a["acknowledged"]) for a in alerts] == [
        ("nobody would care if i wasnt here anymore. i wanna hurt myself tonight", "self_harm", "lexicon", "cli",
         False)]
    assert "1 not yet acknowledged" in listed.stderr

    acked = tutorloop("safeguarding", "ack", str(alerts[0]["id"]), "--note", "Checked in with the class.")
    assert acked.returncode == 0, acked.stderr
    assert safeguarding.unacknowledged_count(db) == 0
    table = tutorloop("safeguarding", "list")
    assert "ack: Ms Lee" in table.stdout and "i wanna hurt myself" in table.stdout


def test_a_student_or_a_wrong_password_cannot_list_alerts(db: Database, classroom: Classroom) -> None:
    safeguarding.record_alert(db, text="my dad hits me", category="abuse", stage="lexicon",
                              student_id=classroom.student.id)
    wrong = tutorloop("safeguarding", "list", password="not the password")
    assert wrong.returncode == 3 and "my dad hits me" not in wrong.stdout
    # A student profile named as the acting teacher: refused before anything is read.
    student = tutorloop("safeguarding", "list", "--teacher", classroom.student.name)
    assert student.returncode == 3, student.stderr
    assert "my dad hits me" not in student.stdout
