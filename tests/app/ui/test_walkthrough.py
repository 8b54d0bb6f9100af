"""A first hour, scripted: the main window driven with key presses (and a few clicks) through
pytest-qt, the real worker thread and the tiny model, asserting what the user sees at each step."""
from __future__ import annotations

import random

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.ui.adaptation.adaptation_view import AdaptationActions
from app.ui.chat.chat_view import SuggestionDialog
from app.ui.main_window import MainWindow
from app.ui.practice.practice_view import CHECKED_TEXT, PracticeController
from app.ui.teacher.review_view import RejectDialog
from app.ui.teacher.teacher_actions import TeacherActions
from app.ui.teacher_login import TeacherLoginDialog
from storage import auth, chat, review
from tests.app.ui.test_main_window import assistant_messages, hold_at_first_piece
from tests.support.window import REPLY_TIMEOUT_MS, tiny_settings

PASSWORD = "walkthrough password"


def keys(qtbot, text: str) -> None:
    qtbot.keyClicks(QApplication.focusWidget(), text)


def press(qtbot, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(QApplication.focusWidget(), key, modifier)


def test_a_first_hour(qtbot, window: MainWindow, ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    assert window.composer.input.placeholderText().startswith("Ask a question")

    # ask, then Stop: the reply is kept, tagged and stored as stopped
    window.apply_settings(tiny_settings(window.settings.model_spec, max_new_tokens=3000))
    held = hold_at_first_piece(window)
    window.composer.input.setFocus()
    keys(qtbot, "How do I add 2/3 and 1/6?")
    press(qtbot, Qt.Key.Key_Return)
    qtbot.waitUntil(held.is_set, timeout=REPLY_TIMEOUT_MS)
    assert window.composer.stop_button.isVisible()
    press(qtbot, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.pending is None, timeout=REPLY_TIMEOUT_MS)
    [reply] = assistant_messages(ctx.db, window.session.id)
    widget = window.chat.widget_for(reply.id)
    assert reply.status == "stopped" and widget.status_tag.isVisible() and widget.status_tag.text() == "stopped"
    assert window.composer.status_label.text() == "Stopped."

    # rate and suggest
    qtbot.mouseClick(widget.thumbs_down, Qt.MouseButton.LeftButton)
    assert widget.feedback_status.text() == "Thanks — noted."
    monkeypatch.setattr(SuggestionDialog, "ask", classmethod(lambda cls, current, parent=None: "2/3 = 4/6, so 5/6."))
    qtbot.mouseClick(widget.suggest_button, Qt.MouseButton.LeftButton)
    assert widget.suggest_button.text().startswith("Edit") and chat.get_feedback(ctx.db, reply.id).rating == -1

    # practice: a new question (Ctrl+Shift+N), an answer, check, reveal
    first_session = window.session.id
    window.topic_edit.setFocus()
    keys(qtbot, "Fractions")
    press(qtbot, Qt.Key.Key_Tab)
    practice = window.feature(PracticeController)
    practice.panel.rng = random.Random(2)
    with qtbot.waitSignal(practice.panel.item_opened, timeout=REPLY_TIMEOUT_MS):
        qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    panel = practice.panel
    assert practice.dock.isVisible() and panel.key_check_label.text() == CHECKED_TEXT
    assert QApplication.focusWidget() is panel.answer_edit
    keys(qtbot, "7")
    with qtbot.waitSignal(panel.attempt_recorded, timeout=REPLY_TIMEOUT_MS):
        qtbot.mouseClick(panel.check_button, Qt.MouseButton.LeftButton)
    assert panel.verdict_label.text() == "✘ Not quite"
    qtbot.mouseClick(panel.reveal_button, Qt.MouseButton.LeftButton)
    assert panel.item.answer_key in panel.key_label.text()

    # switch session: Ctrl+N, then back through the list
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.session.id != first_session and window.chat.message_widgets() == []
    assert panel.item is None, "the other session's question does not follow"
    window.sidebar.setFocus()
    window.open_session(first_session)
    assert [w.message.status for w in window.chat.message_widgets()] == ["complete", "stopped"]

    # the first teacher, created with Enter
    teacher_actions = window.feature(TeacherActions)
    assert teacher_actions.sign_in_action.text() == "Create the first &teacher account…"
    teacher_actions.review_action.trigger()   # Ctrl+Shift+R: asks for the sign-in first
    dialog = window.teacher_sign_in.dialog
    assert isinstance(dialog, TeacherLoginDialog) and dialog.first_run
    qtbot.waitExposed(dialog)
    qtbot.keyClicks(dialog.name_edit, "Ms Lee")
    qtbot.keyClicks(dialog.password_edit, PASSWORD)
    qtbot.keyClicks(dialog.confirm_edit, PASSWORD)
    qtbot.keyClick(dialog.confirm_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: teacher_actions.review_window is not None, timeout=10_000)
    assert auth.teacher_exists(ctx.db) and teacher_actions.badge.text() == "Teacher: Ms Lee"

    # review with J / A / R / Ctrl+Z
    view = teacher_actions.review_window
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is view.list)
    assert view.list.count() == 1 and "[Not helpful]" in view.list.item(0).text()
    press(qtbot, Qt.Key.Key_J)
    press(qtbot, Qt.Key.Key_A)
    assert len(review.list_examples(ctx.db)) == 1 and "approved" in view.counts_label.text()
    press(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert review.list_examples(ctx.db) == [] and "Undid" in view.status_line.text()
    view.list.setFocus()
    press(qtbot, Qt.Key.Key_R)
    reject = view.dialog
    assert isinstance(reject, RejectDialog)
    reject.reason_edit.setCurrentText("Stopped before the answer")
    qtbot.mouseClick(reject.reject_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.dialog is None)
    assert "<b>1</b> rejected" in view.counts_label.text()
    press(qtbot, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: teacher_actions.review_window is None)

    # Adaptation (Ctrl+Shift+D): explained before the first round
    window.activateWindow()
    window.feature(AdaptationActions).action.trigger()
    adaptation = window.feature(AdaptationActions).view
    qtbot.waitUntil(lambda: adaptation is not None and adaptation.isVisible())
    assert adaptation.no_versions_label.isVisible() and not adaptation.progress.isVisible()
    assert adaptation.examples_label.text() == "Train now would use 0 approved examples."
    adaptation.close()

    # 800 × 600 with the practice panel open: the panel keeps its width, the chat still shows
    window.resize(800, 600)
    qtbot.waitUntil(lambda: window.width() <= 800)
    assert panel.width() == 320 and window.chat.width() > 0
