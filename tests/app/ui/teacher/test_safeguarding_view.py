"""The safeguarding flow in the window: real widgets, the real worker thread and the tiny model, a
real SQLite file. A flagged message gets the school's help text instead of a generated reply, the
alert reaches the Teacher menu and the Safeguarding window (teachers only), and the exchange stays
out of the review queue."""
from __future__ import annotations

from PySide6.QtCore import Qt

from app.ui.context import AppContext
from app.ui.main_window import MainWindow
from app.ui.teacher.safeguarding_view import SafeguardingView
from app.ui.teacher.teacher_actions import TeacherActions
from learner.safeguarding import help_text
from storage import Database, chat, review, safeguarding, users
from tests.app.ui.test_main_window import send_and_wait
from tests.support.classroom import PASSWORD

DISTRESS = "nobody would care if i wasnt here anymore. i want to hurt myself tonight"


def test_a_flagged_message_gets_the_help_text_and_alerts_the_teacher(qtbot, teacher: users.User, window: MainWindow,
                                                                     ctx: AppContext) -> None:
    actions = window.feature(TeacherActions)
    assert actions.safeguarding_action.text() == "Safe&guarding alerts…"
    reply = send_and_wait(qtbot, window, DISTRESS)
    assert reply.safeguarding is not None and reply.safeguarding.category == "self_harm"
    assert reply.text == help_text(ctx.data_dir) and reply.n_tokens == 0      # nothing was generated
    message, stored = chat.list_messages(ctx.db, window.session.id)
    assert (message.content, stored.content, stored.status) == (DISTRESS, help_text(ctx.data_dir), "complete")
    widget = window.chat.widget_for(stored.id)
    assert widget is not None and "trusted adult" in widget.message.content

    # Anyone sees that alerts wait (a count, in the menu); the red indicator only with a teacher signed in.
    assert actions.safeguarding_action.text() == "Safe&guarding alerts (1 new)…"
    assert not actions.alert_indicator.isVisible()
    # Opening the list asks for a teacher first: a student at the desk gets the sign-in dialog, not the alerts.
    actions.safeguarding_action.trigger()
    assert actions.safeguarding_window is None
    dialog = window.teacher_sign_in.dialog
    assert dialog is not None
    dialog.password_edit.setText(PASSWORD)
    dialog.submit()
    qtbot.waitUntil(lambda: actions.safeguarding_window is not None, timeout=5_000)
    view = actions.safeguarding_window
    assert [(a.text, a.student_name, a.reply_id) for a in view.alerts] == [(DISTRESS, "Ana", stored.id)]
    assert view.table.item(0, 5).text() == DISTRESS
    assert actions.alert_indicator.isVisible() and actions.alert_indicator.text() == "Safeguarding: 1 new"

    # The flagged exchange, and what follows it in that session, never reach the review queue.
    follow_up = send_and_wait(qtbot, window, "ok. what is a fraction?")
    assert follow_up.safeguarding is None and follow_up.text != help_text(ctx.data_dir)
    assert review.list_queue(ctx.db, teacher) == []

    view.table.selectRow(0)
    view.note_edit.setText("Spoke with Ana and the DSL.")
    qtbot.mouseClick(view.ack_button, Qt.MouseButton.LeftButton)
    assert safeguarding.unacknowledged_count(ctx.db) == 0
    assert "Acknowledged by Ms Lee: Spoke with Ana and the DSL." in view.table.item(0, 4).text()
    assert not actions.alert_indicator.isVisible()
    assert actions.safeguarding_action.text() == "Safe&guarding alerts…"
    # Signing out closes the list.
    actions.sign_out_action.trigger()
    qtbot.waitUntil(lambda: actions.safeguarding_window is None, timeout=5_000)


def test_the_list_shows_nothing_without_a_teacher(qtbot, data_dir, db: Database, teacher: users.User) -> None:
    ana = users.create_user(db, "Ana", grade="7")
    safeguarding.record_alert(db, text="my dad hits me", category="abuse", stage="lexicon", student_id=ana.id)
    for signed_in in (None, ana):      # nobody, or a student profile passed off as the teacher
        ctx = AppContext(data_dir=data_dir, db=db, student=ana, teacher=signed_in)
        view = SafeguardingView(ctx)
        qtbot.addWidget(view)
        assert view.table.rowCount() == 0 and view.alerts == []
        assert "teacher" in view.count_label.text()
    ctx = AppContext(data_dir=data_dir, db=db, student=ana, teacher=teacher)
    view = SafeguardingView(ctx)
    qtbot.addWidget(view)
    assert view.table.rowCount() == 1 and view.table.item(0, 1).text() == "Ana"
