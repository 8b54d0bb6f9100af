"""What a new student and a new teacher ran into in their first hour, each driven the way they did."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor

from app.ui.chat.composer import READY_PLACEHOLDER, Composer
from app.ui.context import AppContext, ChangeKind
from app.ui.main_window import MainWindow
from app.ui.teacher_login import TeacherLoginDialog
from storage import Database, auth
from learner.types import TutorReply
from tests.app.ui.test_main_window import assistant_messages, type_and_send
from tests.support.classroom import FAST, PASSWORD
from tests.support.window import REPLY_TIMEOUT_MS


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


PIECE = "A fraction is a part of a whole thing. "   # 40 characters: about 10 tokens


def reply_until_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The model writes one piece, then keeps going until Stop; it then reports the reply as finished,
    as a later pass (the maths check's rewrite) that the stop cut short does."""
    from learner.tutor import Tutor

    def slow(self, request, settings, *, on_text=None, stop=None):
        on_text(PIECE)
        stop.wait(timeout=30)
        return TutorReply(text=PIECE, answer_key=None, stopped=False, notice=None, n_tokens=10, ttft_s=0.0,
                          tokens_per_s=0.0, model_id=self.model_id, adapter_version=None, messages=())

    monkeypatch.setattr(Tutor, "reply", slow)   # runs on the worker thread


def test_a_reply_stopped_during_a_later_pass_is_stored_and_tagged_stopped(
        qtbot, window: MainWindow, ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    reply_until_stopped(monkeypatch)
    type_and_send(qtbot, window, "What is a fraction?")
    qtbot.waitUntil(lambda: bool(window.pending and window.pending.parts), timeout=REPLY_TIMEOUT_MS)
    # (waiting on the window, not on the worker's signal: that one is emitted on the worker's thread)
    qtbot.keyClick(window.composer.input, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.pending is None, timeout=REPLY_TIMEOUT_MS)
    [assistant] = assistant_messages(ctx.db, window.session.id)
    assert assistant.status == "stopped"
    widget = window.chat.widget_for(assistant.id)
    assert widget.status_tag.isVisible() and widget.status_tag.text() == "stopped"
    assert not widget.progress_label.isVisible()


def test_a_reply_being_written_shows_elapsed_time_and_tokens_per_second(
        qtbot, window: MainWindow, ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    reply_until_stopped(monkeypatch)
    now = [1000.0]
    window._clock = lambda: now[0]
    type_and_send(qtbot, window, "What is a fraction?")
    qtbot.waitUntil(lambda: bool(window.pending and window.pending.parts), timeout=REPLY_TIMEOUT_MS)
    widget = window.chat.widget_for(window.pending.message_id)
    assert widget.progress_label.isVisible() and widget.progress_label.text().startswith("writing…")
    now[0] += 2
    qtbot.waitUntil(lambda: widget.progress_label.text() == "writing… 2 s · ~5 tokens/s", timeout=5_000)
    window.composer.stop_button.click()
    qtbot.waitUntil(lambda: window.pending is None, timeout=REPLY_TIMEOUT_MS)


class PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


def test_the_ready_placeholder_is_painted_as_soon_as_the_model_is_ready(qtbot) -> None:
    composer = Composer()
    qtbot.addWidget(composer)
    composer.show()
    qtbot.waitExposed(composer)
    counter = PaintCounter()
    composer.input.viewport().installEventFilter(counter)
    composer.input.viewport().update()
    qtbot.waitUntil(lambda: counter.paints > 0, timeout=2_000)
    painted = counter.paints
    assert composer.input.placeholderText() == "loading model…"
    composer.set_model_state(ready=True)
    qtbot.waitUntil(lambda: counter.paints > painted, timeout=2_000)
    assert composer.input.placeholderText() == READY_PLACEHOLDER


def reply_with(monkeypatch: pytest.MonkeyPatch, text: str, answer_key: str | None) -> None:
    from learner.tutor import Tutor

    def scripted(self, request, settings, *, on_text=None, stop=None):
        on_text(text)
        return TutorReply(text=text, answer_key=answer_key, stopped=False, notice=None, n_tokens=12, ttft_s=0.0,
                          tokens_per_s=0.0, model_id=self.model_id, adapter_version=None, messages=())

    monkeypatch.setattr(Tutor, "reply", scripted)


@pytest.mark.parametrize(("question", "key", "stored"), [
    ("Try this one: what is 2/3 + 1/6?", "", "2/3 + 1/6 = 5/6"),
    ("Name a mammal that lays eggs.", "", None),
    ("Name a mammal that lays eggs.", "The platypus", "The platypus"),
])
def test_a_practice_reply_without_a_key_says_so_or_gets_the_calculators(
        qtbot, window: MainWindow, ctx, monkeypatch: pytest.MonkeyPatch, question, key, stored) -> None:
    reply_with(monkeypatch, question, key)
    type_and_send(qtbot, window, "Give me a question", mode="practice")
    qtbot.waitUntil(lambda: window.pending is None, timeout=REPLY_TIMEOUT_MS)
    [assistant] = assistant_messages(ctx.db, window.session.id)
    assert assistant.answer_key == stored
    widget = window.chat.widget_for(assistant.id)
    assert widget.reveal_button.isVisible() == (stored is not None)
    if not key:
        assert widget.notice_label.isVisible() and "no answer key" in widget.notice_label.text()


def test_settings_offer_only_devices_this_machine_has_and_say_number_format_in_words(qtbot, tmp_path) -> None:
    import torch

    from app.ui.chat.settings_dialog import SettingsDialog
    from learner.settings import GenerationSettings

    dialog = SettingsDialog(GenerationSettings(dtype="bfloat16"), data_folder=tmp_path)
    qtbot.addWidget(dialog)
    devices = [dialog.device_combo.itemText(i) for i in range(dialog.device_combo.count())]
    assert ("cuda" in devices) == torch.cuda.is_available() and devices[:2] == ["auto", "cpu"]
    labels = [dialog.dtype_combo.itemText(i) for i in range(dialog.dtype_combo.count())]
    assert not any("float" in label for label in labels)
    assert dialog.dtype_combo.currentText() == "Compact (16-bit)"
    assert dialog.chosen_settings().dtype == "bfloat16"


def test_a_signed_in_teacher_is_shown_in_the_status_bar(qtbot, data_dir, db: Database, teacher) -> None:
    from app.ui.teacher.teacher_actions import TeacherActions

    ctx = AppContext(data_dir=data_dir, db=db)
    window = MainWindow(ctx, features=(TeacherActions,))
    qtbot.addWidget(window)
    window.show()
    badge = window.feature(TeacherActions).badge
    assert not badge.isVisible()
    ctx.teacher = teacher
    ctx.changes.notify(ChangeKind.USERS)
    assert badge.isVisible() and badge.text() == f"Teacher: {teacher.name}"
    assert badge.parent() is not None and window.statusBar().isAncestorOf(badge)
    qtbot.mouseClick(badge, Qt.MouseButton.LeftButton)
    assert ctx.teacher is None and not badge.isVisible()


def test_the_mode_description_ends_with_an_ellipsis_when_it_does_not_fit(qtbot) -> None:
    composer = Composer()
    qtbot.addWidget(composer)
    composer.resize(420, 200)
    composer.show()
    qtbot.waitExposed(composer)
    composer.set_mode("hint")
    qtbot.waitUntil(lambda: composer.mode_hint.text().endswith("…"))
    assert composer.mode_hint.full_text().startswith(composer.mode_hint.text()[:-1])


def _luminance(colour: QColor) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    return 0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF()) + 0.0722 * channel(colour.blueF())


def contrast(fg: str, bg: str) -> float:
    light, dark = sorted((_luminance(QColor(fg)), _luminance(QColor(bg))), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_pale_text_meets_wcag_aa_contrast(qtbot) -> None:
    from app.ui.chat import chat_view

    assert contrast(chat_view.MUTED_TEXT, "#ffffff") >= 4.5
    assert contrast(chat_view.MUTED_TEXT, "#f7f7f7") >= 4.5   # the user bubble's alternate base
    assert contrast("#8a1c1c", "#fde7e9") >= 4.5              # the "stopped" tag
    assert contrast("#1b5e20", "#e3f0e8") >= 4.5              # the teacher badge
    composer = Composer()
    qtbot.addWidget(composer)
    for label in (composer.mode_hint, composer.status_label):
        assert chat_view.MUTED_TEXT in label.styleSheet() and "palette(mid)" not in label.styleSheet()
