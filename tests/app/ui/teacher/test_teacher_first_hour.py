"""The teacher's windows as a new teacher met them: keys, without reaching for the mouse."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.ui.context import AppContext
from app.ui.main_window import SHORTCUTS_HELP, MainWindow
from app.ui.teacher.teacher_actions import TeacherActions
from storage import Database
from tests.support.classroom import Classroom


def _open(qtbot, data_dir, db: Database, classroom: Classroom) -> tuple[MainWindow, TeacherActions]:
    ctx = AppContext(data_dir=data_dir, db=db, teacher=classroom.teacher)
    window = MainWindow(ctx, features=(TeacherActions,))
    qtbot.addWidget(window)
    window.show()
    return window, window.feature(TeacherActions)


def test_j_works_in_the_review_queue_without_clicking_the_list(qtbot, data_dir, db, classroom) -> None:
    _window, actions = _open(qtbot, data_dir, db, classroom)
    actions.review_action.trigger()
    view = actions.review_window
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is view.list)
    first = view.list.currentRow()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_J)
    assert view.list.currentRow() == first + 1


@pytest.mark.parametrize("keys", [(Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier),
                                  (Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)])
def test_esc_and_ctrl_w_close_the_teacher_windows(qtbot, data_dir, db, classroom, keys) -> None:
    _window, actions = _open(qtbot, data_dir, db, classroom)
    for open_action, attribute in ((actions.review_action, "review_window"), (actions.audit_action, "audit_window")):
        open_action.trigger()
        tool = getattr(actions, attribute)
        qtbot.waitExposed(tool)
        tool.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is tool)
        qtbot.keyClick(QApplication.focusWidget() or tool, *keys)
        qtbot.waitUntil(lambda: getattr(actions, attribute) is None)


def test_help_lists_every_shortcut() -> None:
    for keys in ("Ctrl+Shift+P", "Ctrl+Shift+N", "Ctrl+Shift+G", "Ctrl+Shift+R", "Ctrl+Shift+D",
                 "J / K", "A — approve", "E — edit", "R — reject", "Shift+A", "Ctrl+Z", "Esc or Ctrl+W"):
        assert keys in SHORTCUTS_HELP


def _no_emoji(text: str) -> bool:
    # emoji need an emoji font; without one they draw as empty boxes
    return not any(0x1F000 <= ord(ch) <= 0x1FAFF for ch in text)


def test_the_review_queue_needs_no_emoji_font_and_shows_local_times(qtbot, data_dir, db, classroom) -> None:
    from storage import chat

    chat.set_feedback(db, classroom.replies[0].id, rating=-1)
    chat.set_feedback(db, classroom.replies[1].id, rating=1)
    _window, actions = _open(qtbot, data_dir, db, classroom)
    actions.review_action.trigger()
    view = actions.review_window
    rows = [view.list.item(i).text() for i in range(view.list.count())]
    assert all(_no_emoji(row) for row in rows) and any("[Not helpful]" in row for row in rows)
    assert any(" · today " in row for row in rows), rows
    view.list.setCurrentRow(0)
    assert _no_emoji(view.detail.toPlainText()) and "today " in view.detail.toPlainText()
    filters = [view.rating_filter.itemText(i) for i in range(view.rating_filter.count())]
    assert all(_no_emoji(text) for text in filters)


def test_local_time_in_words() -> None:
    from datetime import datetime, timezone

    from app.ui.teacher.review_view import local_time

    now = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
    stamp = datetime(2026, 11, 28, 11, 2, tzinfo=timezone.utc)
    local = stamp.astimezone()
    assert local_time(stamp.isoformat(), now=now) == f"today {local:%H:%M}"
    assert local_time("2026-11-27T11:02:00+00:00", now=now).startswith("yesterday ")
    assert local_time("2025-03-01T11:02:00+00:00", now=now).startswith("1 Mar 2025 ")
    assert local_time("not a time", now=now) == "not a time"


def test_disputes_are_listed_in_the_review_queue_and_resolved_there(qtbot, data_dir, db, classroom) -> None:
    from learner.practice import Judgement, store_attempt
    from storage import practice

    item = practice.add_item(db, classroom.student.id, topic="Fractions", question="What is 1/2 + 1/4?",
                             answer_key="3/4")
    done = store_attempt(db, item, classroom.student.id, answer="0.75",
                         judgement=Judgement(verdict="incorrect", feedback="No.", by_model=True))
    practice.dispute(db, done.attempt.id, classroom.student.id, reason="0.75 is 3/4")
    _window, actions = _open(qtbot, data_dir, db, classroom)
    actions.review_action.trigger()
    view = actions.review_window
    assert "1 waiting" in view.disputes_label.text()
    row = view.disputes_list.item(0).text()
    assert "What is 1/2 + 1/4?" in row and "0.75 is 3/4" in row and "judged incorrect" in row
    view.dispute_verdict.setCurrentText("correct")
    qtbot.mouseClick(view.resolve_button, Qt.MouseButton.LeftButton)
    [resolved] = practice.list_disputes(db, classroom.teacher, status=None)
    assert (resolved.status, resolved.teacher_verdict) == ("overturned", "correct")
    assert "none waiting" in view.disputes_label.text() and "overturned" in view.status_line.text()
