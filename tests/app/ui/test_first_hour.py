"""What a new student and a new teacher ran into in their first hour, each driven the way they did."""
from __future__ import annotations

from PySide6.QtCore import Qt

from app.ui.context import AppContext
from app.ui.teacher_login import TeacherLoginDialog
from storage import Database, auth
from tests.support.classroom import FAST, PASSWORD


def test_enter_creates_the_first_teacher(qtbot, data_dir, db: Database) -> None:
    ctx = AppContext(data_dir=data_dir, db=db)
    dialog = TeacherLoginDialog(ctx, params=FAST)
    qtbot.addWidget(dialog)
    dialog.open()
    qtbot.waitExposed(dialog)
    assert dialog.submit_button.isDefault()
    qtbot.keyClicks(dialog.name_edit, "Ms Lee")
    qtbot.keyClicks(dialog.password_edit, PASSWORD)
    qtbot.keyClicks(dialog.confirm_edit, PASSWORD)
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        qtbot.keyClick(dialog.confirm_edit, Qt.Key.Key_Return)
    assert auth.teacher_exists(db) and ctx.teacher is not None and ctx.teacher.name == "Ms Lee"


def test_enter_signs_a_teacher_in(qtbot, data_dir, db: Database, teacher) -> None:
    ctx = AppContext(data_dir=data_dir, db=db)
    dialog = TeacherLoginDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.open()
    qtbot.waitExposed(dialog)
    qtbot.keyClicks(dialog.password_edit, PASSWORD)
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    assert ctx.teacher == teacher
