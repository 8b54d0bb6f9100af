"""pytest-qt flows for sign-in (first run, throttling), the audit view and student data."""
from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta

from app.ui.context import AppContext
from app.ui.main_window import MainWindow
from app.ui.teacher.audit_view import AuditView
from app.ui.teacher.student_data_dialog import StudentDataDialog
from app.ui.teacher.teacher_actions import TeacherActions
from app.ui.teacher_login import TeacherLoginDialog
from storage import Database, auth, review, users
from tests.support.classroom import FAST, PASSWORD, Classroom, fixed_prompt
from tests.support.window import MessageBoxes


def _teacher_window(qtbot, ctx: AppContext) -> MainWindow:
    """A real main window with only the teacher feature (its model is never loaded)."""
    window = MainWindow(ctx, features=(TeacherActions,))
    qtbot.addWidget(window)
    return window


def test_first_run_creates_the_first_teacher(qtbot, data_dir, db: Database) -> None:
    ctx = AppContext(data_dir=data_dir, db=db)
    window = _teacher_window(qtbot, ctx)
    assert window.feature(TeacherActions).sign_in_action.text() == "Create the first &teacher account…"
    dialog = TeacherLoginDialog(ctx, params=FAST)
    qtbot.addWidget(dialog)
    assert dialog.first_run and dialog.windowTitle() == "Create the first teacher"
    dialog.name_edit.setText("Ms Lee")
    dialog.password_edit.setText(PASSWORD)
    dialog.confirm_edit.setText(PASSWORD + "typo")
    dialog.submit()
    assert "differ" in dialog.error_label.text() and not auth.teacher_exists(db)
    dialog.password_edit.setText(PASSWORD)
    dialog.confirm_edit.setText(PASSWORD)
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        dialog.submit()
    assert ctx.teacher is not None and ctx.teacher.name == "Ms Lee"
    # The next dialog is a sign-in, not a second "first teacher".
    second = TeacherLoginDialog(ctx)
    qtbot.addWidget(second)
    assert not second.first_run and second.name() == "Ms Lee"


def test_sign_in_wrong_password_then_countdown(qtbot, data_dir, db: Database, teacher) -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    ctx = AppContext(data_dir=data_dir, db=db)
    dialog = TeacherLoginDialog(ctx, clock=lambda: now)
    qtbot.addWidget(dialog)
    for _ in range(auth.FREE_ATTEMPTS):               # delays start after three wrong passwords
        dialog.password_edit.setText("wrong wrong")
        dialog.submit()
        assert "wrong password" in dialog.error_label.text() and ctx.teacher is None
    dialog.password_edit.setText("wrong wrong")
    dialog.submit()
    assert "try again in 2 seconds" in dialog.error_label.text()
    assert not dialog.submit_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.submit_button.isEnabled(), timeout=5000)   # the countdown re-enables it
    dialog._clock = lambda: now + timedelta(seconds=3)
    dialog.password_edit.setText(PASSWORD)
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        dialog.submit()
    assert ctx.teacher == teacher


def test_audit_view_lists_and_exports(qtbot, data_dir, db: Database, classroom: Classroom, tmp_path) -> None:
    review.approve(db, classroom.teacher, classroom.replies[0].id, prompt_for=fixed_prompt)
    review.reject(db, classroom.teacher, classroom.replies[1].id, "wrong")
    ctx = AppContext(data_dir=data_dir, db=db, teacher=classroom.teacher)
    view = AuditView(ctx)
    qtbot.addWidget(view)
    actions = [view.table.item(r, 2).text() for r in range(view.table.rowCount())]
    assert actions == ["review.reject", "review.approve", "teacher.add"]
    view.group_filter.setCurrentIndex(view.group_filter.findData("review."))
    assert view.table.rowCount() == 2
    assert view.export_to(tmp_path / "audit.csv", "csv") == 2
    rows = list(csv.DictReader((tmp_path / "audit.csv").read_text(encoding="utf-8").splitlines()))
    assert [(r["actor_name"], r["action"]) for r in rows] == [("Ms Lee", "review.reject"), ("Ms Lee", "review.approve")]
    assert json.loads(rows[0]["details"])["reason"] == "wrong"
    view.group_filter.setCurrentIndex(0)
    assert view.export_to(tmp_path / "audit.json", "json") == 4   # the CSV export is itself logged
    assert json.loads((tmp_path / "audit.json").read_text(encoding="utf-8"))[0]["action"] == "audit.export"


def test_audit_view_without_a_teacher_shows_nothing(qtbot, data_dir, db, classroom: Classroom, tmp_path,
                                                   message_boxes: MessageBoxes) -> None:
    view = AuditView(AppContext(data_dir=data_dir, db=db, teacher=classroom.student))
    qtbot.addWidget(view)
    assert view.table.rowCount() == 0 and "only a teacher" in view.count_label.text()
    assert view.export_to(tmp_path / "a.csv", "csv") is None
    assert not (tmp_path / "a.csv").exists() and message_boxes.texts("warning")


def test_student_data_dialog_exports_and_deletes_after_typing_the_name(qtbot, data_dir, db, classroom: Classroom,
                                                                       tmp_path) -> None:
    review.approve(db, classroom.teacher, classroom.replies[0].id, prompt_for=fixed_prompt)
    dialog = StudentDataDialog(AppContext(data_dir=data_dir, db=db, teacher=classroom.teacher))
    qtbot.addWidget(dialog)
    assert dialog.student_combo.currentText() == "Ana"
    written = dialog.export_to(tmp_path / "ana.json")
    assert json.loads(written.read_text(encoding="utf-8"))["profile"]["name"] == "Ana"
    assert not dialog.delete_button.isEnabled()
    dialog.confirm_edit.setText("ana")
    assert dialog.delete_button.isEnabled()
    dialog.delete_button.click()
    assert users.find_user(db, "Ana") is None and review.list_examples(db) == []
    assert "Deleted Ana" in dialog.result_label.text() and dialog.student_combo.count() == 0


def test_teacher_menu_asks_for_sign_in_before_opening_the_queue(qtbot, data_dir, db, classroom: Classroom) -> None:
    ctx = AppContext(data_dir=data_dir, db=db)
    window = _teacher_window(qtbot, ctx)
    actions = window.feature(TeacherActions)
    assert actions.sign_in_action.isVisible() and not actions.sign_out_action.isVisible()
    actions.review_action.trigger()
    dialog = window.teacher_sign_in.dialog
    assert dialog is not None and actions.review_window is None
    dialog.password_edit.setText(PASSWORD)
    dialog.submit()
    qtbot.waitUntil(lambda: actions.review_window is not None)
    assert actions.review_window.list.count() == 3
    assert actions.sign_out_action.isVisible() and "Ms Lee" in actions.sign_out_action.text()
    actions.sign_out_action.trigger()
    assert ctx.teacher is None and actions.review_window is None


def test_exchange_dialog_imports_reports_bad_lines_and_exports(qtbot, data_dir, db, teacher, tmp_path) -> None:
    from app.ui.teacher.exchange_dialog import ExchangeDialog

    ctx = AppContext(data_dir=data_dir, db=db, teacher=teacher)
    dialog = ExchangeDialog(ctx)
    qtbot.addWidget(dialog)
    path = tmp_path / "in.jsonl"
    path.write_text('{"prompt": "2+2?", "completion": "4"}\n{"messages": [{"content": "x"}]}\n', encoding="utf-8")
    assert dialog.import_from(path) is None
    assert "line 2" in dialog.result.toPlainText() and "nothing was imported" in dialog.result.toPlainText()
    assert review.list_queue(db, teacher) == []
    dialog.partial_check.setChecked(True)
    dialog.import_as.setCurrentIndex(dialog.import_as.findData("approved"))
    with qtbot.waitSignal(ctx.changes.changed, timeout=2000):
        report = dialog.import_from(path)
    assert report is not None and report.imported == 1
    assert "1 bad line(s) skipped" in dialog.result.toPlainText()
    assert dialog.export_to(tmp_path / "out.jsonl") == 1
    assert json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8"))["messages"][-1]["content"] == "4"
