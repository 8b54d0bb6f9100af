"""`tutorloop class share-practice on|off` and `class practice` as real subprocesses: a teacher's data
folder, a student's, one class folder."""
from __future__ import annotations

import json
from pathlib import Path

from storage import Database, DataDir, practice, users
from tests.support.class_folder import make_class, student_desktop, teacher_desktop
from tests.support.classroom import PASSWORD
from tests.support.cli import tutorloop


def test_the_teacher_switches_sharing_on_and_sees_each_students_attempts(tmp_path: Path) -> None:
    teacher = teacher_desktop(tmp_path / "teacher")
    ana = student_desktop(tmp_path / "ana", "Ana")
    (tmp_path / "share").mkdir()
    make_class(teacher, tmp_path / "share" / "7b", ana)
    teacher_home, ana_home = teacher.data_dir.root, ana.data_dir.root
    teacher.close()
    ana.close()

    refused = tutorloop("class", "share-practice", "on", home=ana_home)
    assert refused.returncode != 0 and "teacher" in refused.stderr
    wrong = tutorloop("class", "share-practice", "on", home=teacher_home, TUTORLOOP_PASSWORD="wrong password")
    assert wrong.returncode == 3
    assert "shared: off" in tutorloop("class", "status", home=teacher_home).stdout
    on = tutorloop("class", "share-practice", "on", home=teacher_home, TUTORLOOP_PASSWORD=PASSWORD)
    assert on.returncode == 0 and "tutorloop class practice" in on.stdout, on.stderr

    with Database(DataDir(ana_home).db_path) as db:
        student = users.list_users(db, role="student")[0]
        for answer, verdict in (("3/4", "correct"), ("2/4", "incorrect"), ("0.75", "correct")):
            item = practice.add_item(db, student.id, topic="Fractions", question="What is 1/4 + 2/4?",
                                     answer_key="3/4")
            practice.record_attempt(db, item.id, student.id, answer=answer, verdict=verdict, feedback="",
                                    p_known_before=0.3, p_known_after=0.5, card_json='{"due": "2027-01-01"}',
                                    due="2027-01-01")
    sent = tutorloop("class", "sync", home=ana_home)
    assert sent.returncode == 0 and "3 practice attempt(s)" in sent.stdout, sent.stderr
    assert tutorloop("class", "sync", home=teacher_home).returncode == 0

    shown = tutorloop("class", "practice", "--json", home=teacher_home, TUTORLOOP_PASSWORD=PASSWORD)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    (row,) = data["students"]
    assert data["share_practice"] is True
    assert (row["student_name"], row["attempts"], row["correct"], row["share_correct"]) == ("Ana", 3, 2, 0.667)
    table = tutorloop("class", "practice", home=teacher_home, TUTORLOOP_PASSWORD=PASSWORD)
    assert "Ana" in table.stdout and "67%" in table.stdout
    assert "shared: on" in tutorloop("class", "status", home=teacher_home).stdout

    off = tutorloop("class", "share-practice", "off", home=teacher_home, TUTORLOOP_PASSWORD=PASSWORD)
    assert off.returncode == 0 and "no longer shared" in off.stdout
