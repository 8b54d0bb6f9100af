from __future__ import annotations

import json

import pytest

from storage import Database, NotFoundError, PermissionDenied, ValidationError, audit, chat, review, students, users
from tests.support.classroom import Classroom, add_exchange, fixed_prompt


def test_export_everything_about_one_student(db: Database, classroom: Classroom, tmp_path) -> None:
    t = classroom.teacher
    chat.set_feedback(db, classroom.replies[0].id, rating=-1, suggestion="show the drawing")
    review.approve(db, t, classroom.replies[1].id, prompt_for=fixed_prompt)
    review.reject(db, t, classroom.replies[2].id, "vague")
    other = users.create_user(db, "Ben")
    add_exchange(db, chat.create_session(db, other.id).id, "Ben's question", "Ben's answer")
    path = students.export_student(db, t, classroom.student.id, tmp_path / "ana.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["profile"]["name"] == "Ana" and "password_hash" not in data["profile"]
    [session] = data["sessions"]
    assert [m["content"] for m in session["messages"]][:2] == ["What is 1/2 + 1/4?", "3/4: write 1/2 as 2/4 and add."]
    assert session["messages"][1]["suggestion"] == "show the drawing"
    assert [r["decision"] for r in data["review_decisions"]] == ["approved", "rejected"]
    assert [e["completion"] for e in data["training_examples"]] == ["2/3."]
    assert "Ben's question" not in path.read_text(encoding="utf-8")
    assert audit.list_entries(db, t, action_prefix="student.export")[0].target == f"user:{classroom.student.id}"


def test_delete_student_removes_everything_derived_and_is_audited(db: Database, classroom: Classroom) -> None:
    t = classroom.teacher
    review.approve(db, t, classroom.replies[0].id, prompt_for=fixed_prompt)
    review.reject(db, t, classroom.replies[1].id, "wrong")
    with pytest.raises(ValidationError, match="type their name"):
        students.delete_student(db, t, classroom.student.id, confirm_name="Ben")
    assert len(review.list_examples(db)) == 1
    removed = students.delete_student(db, t, classroom.student.id, confirm_name="ana")
    assert removed == {"sessions": 1, "messages": 6, "review_decisions": 2, "training_examples": 1}
    assert review.list_examples(db) == [] and review.list_queue(db, t) == []
    assert db.query("SELECT COUNT(*) AS n FROM reviews")[0]["n"] == 0
    with pytest.raises(NotFoundError):
        users.get_user(db, classroom.student.id)
    [entry] = audit.list_entries(db, t, action_prefix="student.delete")
    assert entry.details == {"name": "Ana", "removed": removed}


def test_data_rights_are_teacher_only(db: Database, classroom: Classroom, tmp_path) -> None:
    s = classroom.student
    with pytest.raises(PermissionDenied):
        students.student_data(db, s, s.id)
    with pytest.raises(PermissionDenied):
        students.delete_student(db, s, s.id, confirm_name="Ana")
    with pytest.raises(ValidationError, match="teacher profile"):
        students.delete_student(db, classroom.teacher, classroom.teacher.id, confirm_name="Ms Lee")
    assert users.get_user(db, s.id).name == "Ana"


def test_after_deletion_the_routine_audit_log_holds_no_student_name(db: Database, classroom: Classroom,
                                                                   tmp_path) -> None:
    t = classroom.teacher
    review.approve(db, t, classroom.replies[0].id, prompt_for=fixed_prompt)
    review.reject(db, t, classroom.replies[1].id, "wrong")
    students.export_student(db, t, classroom.student.id, tmp_path / "ana-export.json")
    students.delete_student(db, t, classroom.student.id, confirm_name="Ana")
    entries = audit.list_entries(db, t)
    routine = [e for e in entries if e.action != "student.delete"]
    assert {e.action for e in routine} >= {"review.approve", "review.reject", "student.export"}
    assert routine and all("Ana" not in json.dumps(e.details) + e.target for e in routine)
