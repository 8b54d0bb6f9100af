"""A teacher's sign-in in the window ends when the open profile changes or after the teacher's idle
time (storage.auth.TeacherSignIn kept by app.ui.teacher_login.TeacherSignIn): the teacher tools
close and the status bar says why. Sign-in attempts are throttled per source (the open profile)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import app.ui.main_window as main_window_module
from app.ui.context import AppContext
from app.ui.main_window import MainWindow
from app.ui.teacher.teacher_actions import TeacherActions
from app.ui.teacher_login import IDLE_CHECK_MS
from storage import Database, auth, users
from tests.support.classroom import PASSWORD, Classroom

START = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def window(qtbot, data_dir, db: Database, classroom: Classroom) -> MainWindow:
    ctx = AppContext(data_dir=data_dir, db=db, student=classroom.student)
    win = MainWindow(ctx, features=(TeacherActions,))
    qtbot.addWidget(win)
    win.teacher_sign_in.now = lambda: START
    return win


def sign_in_and_open_the_queue(qtbot, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    sources: list[str | None] = []
    real = auth.authenticate

    def spy(*args, **kwargs):
        sources.append(kwargs.get("source"))
        return real(*args, **kwargs)

    monkeypatch.setattr(auth, "authenticate", spy)
    actions = window.feature(TeacherActions)
    actions.review_action.trigger()
    dialog = window.teacher_sign_in.dialog
    dialog.password_edit.setText(PASSWORD)
    dialog.submit()
    qtbot.waitUntil(lambda: actions.review_window is not None)
    return sources


def test_sign_in_is_throttled_per_profile_and_a_profile_change_signs_out(
        qtbot, window: MainWindow, classroom: Classroom, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = sign_in_and_open_the_queue(qtbot, window, monkeypatch)
    assert sources == [auth.signin_source(classroom.student.id)]
    sign_in = window.teacher_sign_in
    assert window.ctx.teacher == classroom.teacher and sign_in.session is not None
    assert sign_in.idle_timer.isActive() and sign_in.idle_timer.interval() == IDLE_CHECK_MS

    ben = users.create_user(db, "Ben", grade="7")
    monkeypatch.setattr(main_window_module, "choose_profile", lambda _db, _parent: ben)
    window.switch_profile()                                       # File ▸ Switch profile…
    actions = window.feature(TeacherActions)
    assert window.ctx.student == ben and window.ctx.teacher is None
    assert actions.review_window is None and actions.sign_in_action.isVisible()
    assert "signed out because the profile changed" in window.statusBar().currentMessage()
    assert not sign_in.idle_timer.isActive()


def test_idle_time_signs_out_and_teacher_actions_count_as_activity(
        qtbot, window: MainWindow, classroom: Classroom, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    auth.set_idle_sign_out_minutes(db, classroom.teacher, 5)
    sign_in_and_open_the_queue(qtbot, window, monkeypatch)
    sign_in = window.teacher_sign_in
    sign_in.now = lambda: START + timedelta(minutes=4)
    sign_in.idle_timer.timeout.emit()                             # the ~30 s tick
    assert window.ctx.teacher == classroom.teacher
    opened: list[str] = []
    window.with_teacher(lambda: opened.append("audit"))          # a teacher action: activity at minute 4
    assert opened == ["audit"]
    sign_in.now = lambda: START + timedelta(minutes=8)
    sign_in.idle_timer.timeout.emit()
    assert window.ctx.teacher == classroom.teacher                # 4 minutes since the last action
    sign_in.now = lambda: START + timedelta(minutes=9, seconds=1)
    sign_in.idle_timer.timeout.emit()
    assert window.ctx.teacher is None and window.feature(TeacherActions).review_window is None
    assert "signed out after 5 minutes without activity" in window.statusBar().currentMessage()
    # The next teacher action asks for the password again instead of running.
    window.with_teacher(lambda: opened.append("again"))
    assert opened == ["audit"] and sign_in.dialog is not None


def test_signing_out_closes_the_adaptation_window(qtbot, data_dir, db: Database, classroom: Classroom) -> None:
    from app.ui.adaptation.adaptation_view import AdaptationActions

    ctx = AppContext(data_dir=data_dir, db=db, student=classroom.student, teacher=classroom.teacher)
    win = MainWindow(ctx, features=(TeacherActions, AdaptationActions))
    qtbot.addWidget(win)
    adaptation = win.feature(AdaptationActions)
    adaptation.action.trigger()
    assert adaptation.view is not None and adaptation.view.isVisible()
    win.feature(TeacherActions).sign_out_action.trigger()
    assert ctx.teacher is None and not adaptation.view.isVisible()
