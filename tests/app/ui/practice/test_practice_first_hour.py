"""The Practice panel as a new student met it: waiting, stale state, layout, keys."""
from __future__ import annotations

import threading

from PySide6.QtCore import Qt

from app.ui.practice.practice_view import PracticeController
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
