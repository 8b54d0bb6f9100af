"""The Practice panel as a new student met it: waiting, stale state, layout, keys."""
from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta, timezone

from PySide6.QtCore import Qt

from app.ui.practice.practice_view import PANEL_WIDTH, PracticeController
from learner.practice import Judgement, store_attempt
from storage import chat, practice
from tests.support.practice import GOOD_ITEM, MODEL_TOPIC
from tests.support.window import REPLY_TIMEOUT_MS


class HeldGenerator:
    """Writes GOOD_ITEM once `release` is set (it runs on the model worker's thread)."""

    model_id = "scripted-model"
    adapter_version = None

    def __init__(self) -> None:
        self.release = threading.Event()

    def __call__(self, messages, settings) -> str:
        self.release.wait(timeout=30)
        return GOOD_ITEM


def test_the_waiting_line_counts_the_seconds(qtbot, window, ctx) -> None:
    controller = window.feature(PracticeController)
    panel = controller.panel
    held = HeldGenerator()
    panel.make_generator = lambda tutor, stop=None: held
    now = [500.0]
    panel._clock = lambda: now[0]
    controller.dock.show()
    panel.topic_edit.setText(MODEL_TOPIC)
    qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    assert panel.status_label.text() == f"Writing an easy question on {MODEL_TOPIC}…"
    now[0] += 7
    qtbot.waitUntil(lambda: panel.status_label.text() == f"Writing an easy question on {MODEL_TOPIC}… 7 s",
                    timeout=5_000)
    held.release.set()
    with qtbot.waitSignal(panel.item_opened, timeout=REPLY_TIMEOUT_MS):
        pass
    assert panel.status_label.text() == "Answer in the box below, then press Check my answer."
    assert not panel._wait_timer.isActive()


def test_switching_session_clears_the_other_sessions_question_and_status(qtbot, window, ctx) -> None:
    controller = window.feature(PracticeController)
    panel = controller.panel
    panel.rng = random.Random(2)
    fractions = chat.create_session(ctx.db, ctx.student.id, title="Fractions", topic="Fractions")
    decimals = chat.create_session(ctx.db, ctx.student.id, title="Decimals", topic="Decimals")
    window.open_session(fractions.id)
    controller.dock.show()
    with qtbot.waitSignal(panel.item_opened, timeout=REPLY_TIMEOUT_MS):
        qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    assert panel.item.topic == "Fractions"
    panel.answer_edit.setPlainText("7")
    with qtbot.waitSignal(panel.attempt_recorded, timeout=REPLY_TIMEOUT_MS):
        qtbot.mouseClick(panel.check_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.dispute_button, Qt.MouseButton.LeftButton)
    assert panel.status_label.text().startswith("Sent to your teacher")

    window.open_session(decimals.id)
    assert panel.item is None and panel.question_label.text().startswith("No question yet")
    assert panel.status_label.text() == "" and panel.verdict_label.text() == ""
    assert not panel.dispute_box.isVisible()


def test_the_welcome_back_offer_goes_when_nothing_is_due(qtbot, open_window, ctx) -> None:
    item = practice.add_item(ctx.db, ctx.student.id, topic="Fractions", question="What is 1/4 + 2/4?",
                             answer_key="3/4")
    store_attempt(ctx.db, item, ctx.student.id, answer="3/4",
                  judgement=Judgement(verdict="correct", feedback="Right.", by_model=False),
                  now=datetime.now(timezone.utc) - timedelta(days=30))
    win = open_window()
    controller = win.feature(PracticeController)
    panel = controller.panel
    assert panel.offer_label.isVisible() and "1 practice question is due" in panel.offer_label.text()
    controller.review_action.trigger()
    panel.answer_edit.setPlainText("3/4")
    with qtbot.waitSignal(panel.attempt_recorded, timeout=REPLY_TIMEOUT_MS):
        qtbot.mouseClick(panel.check_button, Qt.MouseButton.LeftButton)
    assert panel.due_list.item(0).text().startswith("Nothing due")
    assert not panel.offer_label.isVisible()


def test_typing_an_answer_does_not_move_the_check_button(qtbot, window, ctx) -> None:
    controller = window.feature(PracticeController)
    panel = controller.panel
    panel.rng = random.Random(2)
    window.resize(800, 600)
    controller.dock.show()
    panel.topic_edit.setText("Fractions")
    with qtbot.waitSignal(panel.item_opened, timeout=REPLY_TIMEOUT_MS):
        qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.check_button.isVisible())
    width, least = panel.width(), panel.minimumSizeHint().width()
    where = panel.check_button.mapTo(window, panel.check_button.rect().center())
    qtbot.keyClicks(panel.answer_edit, "3")
    qtbot.waitUntil(lambda: panel.count_label.text() == "1 / 4,000 characters")
    assert panel.width() == width and panel.minimumSizeHint().width() == least
    assert panel.width() == PANEL_WIDTH   # one width, whatever the labels say
    assert panel.check_button.mapTo(window, panel.check_button.rect().center()) == where


def test_at_800_by_600_with_the_panel_open_nothing_in_the_chat_is_cut(qtbot, window, ctx) -> None:
    session = chat.create_session(ctx.db, ctx.student.id, title="Adding fractions", topic="Fractions")
    chat.add_message(ctx.db, session.id, "user", "How do I add 2/3 and 1/6?", mode="explain")
    reply = chat.add_message(ctx.db, session.id, "assistant", "", mode="explain", status="generating")
    chat.finish_message(ctx.db, reply.id, "To add fractions they need the same denominator: 2/3 is 4/6, "
                        "so 4/6 + 1/6 = 5/6.", status="complete")
    window.open_session(session.id)
    window.feature(PracticeController).dock.show()
    window.resize(800, 600)
    view = window.chat
    qtbot.waitUntil(lambda: all(w.narrow for w in view.message_widgets()))
    qtbot.waitUntil(lambda: all(w.width() <= view.viewport().width() for w in view.message_widgets()))
    widget = view.widget_for(reply.id)
    right = widget.suggest_button.mapTo(view.viewport(), widget.suggest_button.rect().topRight()).x()
    assert right <= view.viewport().width()
    assert window.private_check.width() >= window.private_check.sizeHint().width()
