"""The teacher CLI in real subprocesses, against a real database file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from learner.prompts import mode_turn, system_prompt
from storage import Database, auth, review, users
from tests.support.classroom import FAST, PASSWORD, Classroom

ROOT = Path(__file__).resolve().parents[3]


def tutorloop(*args: str, password: str | None = PASSWORD, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TUTORLOOP_PASSWORD", "TUTORLOOP_NEW_PASSWORD")}
    if password is not None:
        env["TUTORLOOP_PASSWORD"] = password
    env.update(extra_env)
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)


def test_first_teacher_then_credentials_are_required(db: Database) -> None:
    first = tutorloop("teacher", "add", "Ms Lee")
    assert first.returncode == 0, first.stderr
    assert "Teacher Ms Lee added" in first.stderr
    assert auth.authenticate(db, "Ms Lee", PASSWORD).name == "Ms Lee"
    # A second teacher needs a signed-in teacher: the wrong password is refused, nothing created.
    denied = tutorloop("teacher", "add", "Mr Park", password="not the password", TUTORLOOP_NEW_PASSWORD="x" * 10)
    assert denied.returncode == 3 and "wrong password" in denied.stderr
    assert [u.name for u in users.list_users(db, role="teacher")] == ["Ms Lee"]
    ok = tutorloop("teacher", "add", "Mr Park", "--teacher", "Ms Lee", TUTORLOOP_NEW_PASSWORD="park password")
    assert ok.returncode == 0, ok.stderr
    assert auth.authenticate(db, "Mr Park", "park password").name == "Mr Park"


def test_review_commands_end_to_end(db: Database, classroom: Classroom, tmp_path: Path) -> None:
    m1, m2, m3 = (f"m{r.id}" for r in classroom.replies)
    listed = tutorloop("review", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [i["key"] for i in json.loads(listed.stdout)] == [m1, m2, m3]
    assert "3 pending" in listed.stderr

    approved = tutorloop("review", "approve", m1, m2, "--teacher", "ms lee")
    assert approved.returncode == 0, approved.stderr
    assert [line.split("\t")[:2] for line in approved.stdout.splitlines()] == [[m1, "approved"], [m2, "approved"]]
    # The snapshot holds the real system prompt (learner.prompts, assets/prompts) for the reply's mode/grade/topic.
    first = review.list_examples(db)[0]
    assert first.prompt[0]["role"] == "system"
    assert first.prompt[0]["content"] == system_prompt(grade="7", topic="Fractions")
    assert first.prompt[-1] == {"role": "user", "content": mode_turn("explain", "What is 1/2 + 1/4?", grade="7",
                                                                     topic="Fractions")}
    assert first.prompt[-1]["content"] != "What is 1/2 + 1/4?"  # wrapped in the mode's instructions, as generated

    again = tutorloop("review", "approve", m1)
    assert again.returncode == 1 and "already approved by Ms Lee" in again.stderr

    no_reason = tutorloop("review", "reject", m3, "--reason", " ")
    assert no_reason.returncode == 1 and "needs a reason" in no_reason.stderr
    rejected = tutorloop("review", "reject", m3, "--reason", "Too vague")
    assert rejected.returncode == 0, rejected.stderr
    table = tutorloop("review", "list", "--status", "rejected")
    assert m3 in table.stdout and "1 rejected" in table.stderr

    out = tmp_path / "approved.jsonl"
    exported = tutorloop("review", "export", str(out), "--format", "prompt-completion")
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["completion"][0]["content"] for r in records] == [classroom.replies[0].content,
                                                                classroom.replies[1].content]

    undone = tutorloop("review", "undo")
    assert undone.returncode == 0 and undone.stdout.split() == [m3]
    assert len(review.list_examples(db)) == 2


def test_import_reports_bad_lines_and_changes_nothing(db: Database, teacher, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'
                   '{"messages": [{"content": "no role"}, {"role": "assistant", "content": "x"}]}\n', encoding="utf-8")
    result = tutorloop("review", "import", str(bad))
    assert result.returncode == 1
    assert "line 2: \"messages\": message 1 has no role" in result.stderr and "nothing was imported" in result.stderr
    assert db.query("SELECT COUNT(*) AS n FROM imported_exchanges")[0]["n"] == 0
    partial = tutorloop("review", "import", str(bad), "--partial", "--as", "approved")
    assert partial.returncode == 0, partial.stderr
    assert "skipped line 2" in partial.stderr and "Imported 1 as approved" in partial.stderr
    assert [e.completion for e in review.list_examples(db)] == ["hello"]


def test_a_student_profile_cannot_act_as_teacher(db: Database, classroom: Classroom) -> None:
    # Even a student profile that somehow has a password hash is not a teacher.
    with db.transaction() as t:
        t["users"].update(classroom.student.id, {"password_hash": auth.hash_password(PASSWORD, params=FAST)})
    result = tutorloop("review", "approve", f"m{classroom.replies[0].id}", "--teacher", "Ana")
    assert result.returncode == 3
    assert review.list_examples(db) == []


def test_data_rights_from_the_cli(db: Database, classroom: Classroom, tmp_path: Path) -> None:
    out = tmp_path / "ana.json"
    assert tutorloop("student", "export", "Ana", str(out)).returncode == 0
    assert json.loads(out.read_text(encoding="utf-8"))["profile"]["name"] == "Ana"
    refused = tutorloop("student", "delete", "Ana")
    assert refused.returncode == 2 and "--confirm" in refused.stderr
    deleted = tutorloop("student", "delete", "Ana", "--confirm", "Ana")
    assert deleted.returncode == 0, deleted.stderr
    assert users.find_user(db, "Ana") is None
    audit_csv = tmp_path / "audit.csv"
    assert tutorloop("audit", "export", str(audit_csv)).returncode == 0
    text = audit_csv.read_text(encoding="utf-8")
    assert "student.delete" in text and "student.export" in text
