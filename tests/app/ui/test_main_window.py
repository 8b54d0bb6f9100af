"""The main window driven as a student would: real widgets, the real worker thread, the tiny model,
and a real SQLite file underneath."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox

from app.ui.chat.chat_view import SuggestionDialog
from app.ui.main_window import MainWindow
from app.ui.worker import FAILED, READY
from app.ui.context import ChangeKind
from learner.settings import STORAGE_KEY as SETTINGS_KEY
from storage import DataDir, auth, chat, users
from storage import adapters
from tests.learner.adapt.test_round import noisy_adapter
from tests.support.window import LOAD_TIMEOUT_MS, REPLY_TIMEOUT_MS, tiny_settings


def type_and_send(qtbot, window: MainWindow, text: str, *, mode: str = "explain") -> None:
    window.composer.mode_buttons[mode].click()
    window.composer.input.setPlainText(text)
    qtbot.keyClick(window.composer.input, Qt.Key.Key_Return)


def send_and_wait(qtbot, window: MainWindow, text: str, *, mode: str = "explain"):
    """Send and wait for the reply; returns the TutorReply the worker produced."""
    with qtbot.waitSignal(window.model.worker.finished, timeout=REPLY_TIMEOUT_MS) as done:
        type_and_send(qtbot, window, text, mode=mode)
    qtbot.waitUntil(lambda: window.pending is None, timeout=5_000)
    return done.args[1]


def hold_at_first_piece(window: MainWindow) -> threading.Event:
    """Make the worker, on its own thread, pause at its first streamed piece until the request's
    stop event is set. The tiny model writes ~700 tokens/s and may end by itself within a few dozen
    tokens, so this is what makes "stop mid-way" deterministic: the stop lands while generation is
    certainly still running. Returns an Event set when the worker is held."""
    held = threading.Event()

    def hold(request_id: int, _text: str) -> None:
        stop = window.model.stop_event(request_id)
        if not held.is_set() and stop is not None:
            held.set()
            stop.wait(timeout=30)

    window.model.worker.token.connect(hold, Qt.ConnectionType.DirectConnection)
    return held


def assistant_messages(db, session_id: int) -> list[chat.Message]:
    return [m for m in chat.list_messages(db, session_id) if m.role == "assistant"]


def test_sending_streams_tokens_and_stores_both_messages(qtbot, window: MainWindow, ctx) -> None:
    torch.manual_seed(0)  # the tiny model samples; a fixed seed makes it write something visible
    pieces: list[str] = []
    window.model.worker.token.connect(lambda _rid, text: pieces.append(text))
    reply = send_and_wait(qtbot, window, "What is a fraction?", mode="hint")

    assert len(pieces) >= 2, "the reply should stream in pieces"
    assert "".join(pieces) == reply.text
    session = window.session
    assert session is not None and session.title == "What is a fraction?"
    user, assistant = chat.list_messages(ctx.db, session.id)
    assert (user.role, user.content, user.mode) == ("user", "What is a fraction?", "hint")
    assert (assistant.status, assistant.mode, assistant.content) == ("complete", "hint", reply.text)
    assert assistant.model_id == "tiny-qwen2" and assistant.adapter_version is None
    widget = window.chat.widget_for(assistant.id)
    assert widget is not None and widget.feedback_row.isVisible()
    assert window.composer.text() == "" and window.composer.send_button.isVisible()


def test_stop_ends_generation_early_and_stores_a_stopped_reply(qtbot, window: MainWindow, ctx) -> None:
    window.apply_settings(tiny_settings(window.settings.model_spec, max_new_tokens=3000))
    assert window.model.state == READY, "changing only max_new_tokens must not reload the model"
    held = hold_at_first_piece(window)
    type_and_send(qtbot, window, "Tell me a very long story about fractions.")
    qtbot.waitUntil(held.is_set, timeout=REPLY_TIMEOUT_MS)
    assert window.composer.stop_button.isVisible() and not window.composer.send_button.isVisible()
    with qtbot.waitSignal(window.model.worker.cancelled, timeout=REPLY_TIMEOUT_MS) as stopped:
        qtbot.keyClick(window, Qt.Key.Key_Escape)  # Esc stops, like the Stop button
    reply = stopped.args[1]
    assert reply.stopped and reply.n_tokens < 3000
    qtbot.waitUntil(lambda: window.pending is None, timeout=5_000)
    [assistant] = assistant_messages(ctx.db, window.session.id)
    assert assistant.status == "stopped" and assistant.content == reply.text
    assert "stopped" in window.chat.widget_for(assistant.id).header.text()


def test_ratings_and_suggestion_are_stored_and_come_back_after_restart(
        qtbot, window: MainWindow, ctx, open_window, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    send_and_wait(qtbot, window, "Explain photosynthesis")
    session_id = window.session.id
    [assistant] = assistant_messages(ctx.db, session_id)
    widget = window.chat.widget_for(assistant.id)

    qtbot.mouseClick(widget.thumbs_up, Qt.MouseButton.LeftButton)
    assert chat.get_feedback(ctx.db, assistant.id).rating == 1
    qtbot.mouseClick(widget.thumbs_down, Qt.MouseButton.LeftButton)
    assert chat.get_feedback(ctx.db, assistant.id).rating == -1
    assert not widget.thumbs_up.isChecked()
    qtbot.mouseClick(widget.thumbs_down, Qt.MouseButton.LeftButton)  # a second click takes it back
    assert chat.get_feedback(ctx.db, assistant.id).rating is None
    qtbot.mouseClick(widget.thumbs_up, Qt.MouseButton.LeftButton)

    monkeypatch.setattr(SuggestionDialog, "ask", classmethod(lambda cls, current, parent=None: "  Plants make sugar from light.  "))
    qtbot.mouseClick(widget.suggest_button, Qt.MouseButton.LeftButton)
    feedback = chat.get_feedback(ctx.db, assistant.id)
    assert (feedback.rating, feedback.suggestion) == (1, "Plants make sugar from light.")

    window.close()
    reopened = open_window()
    assert reopened.session is not None and reopened.session.id == session_id
    assert reopened.sidebar.session_ids() == [session_id]
    contents = [w.message.content for w in reopened.chat.message_widgets()]
    assert contents == [m.content for m in chat.list_messages(ctx.db, session_id)]
    again = reopened.chat.widget_for(assistant.id)
    assert again.thumbs_up.isChecked() and not again.thumbs_down.isChecked()
    assert again.suggest_button.text().startswith("Edit")


def test_closing_mid_reply_stores_the_partial_text_as_stopped(qtbot, window: MainWindow, ctx) -> None:
    window.apply_settings(tiny_settings(window.settings.model_spec, max_new_tokens=3000))
    held = hold_at_first_piece(window)
    type_and_send(qtbot, window, "Write a long answer about the mitochondria.")
    qtbot.waitUntil(held.is_set, timeout=REPLY_TIMEOUT_MS)
    qtbot.waitUntil(lambda: bool(window.pending and window.pending.parts), timeout=5_000)
    session_id = window.session.id
    assert chat.get_message(ctx.db, window.pending.message_id).status == "generating"
    window.close()  # stops the worker, waits for its thread, stores what was written
    assert not window.model.thread.isRunning()
    [assistant] = assistant_messages(ctx.db, session_id)
    assert assistant.status == "stopped"
    assert assistant.content, "the text streamed before closing must be kept"


def test_empty_message_is_refused(qtbot, window: MainWindow, ctx) -> None:
    window.composer.input.setPlainText("   \n\t ")
    assert not window.composer.send_button.isEnabled()
    qtbot.keyClick(window.composer.input, Qt.Key.Key_Return)
    assert "empty" in window.composer.status_label.text()
    assert window.pending is None
    assert window.session is None or chat.list_messages(ctx.db, window.session.id) == []


def test_shift_enter_adds_a_line_and_enter_sends(qtbot, window: MainWindow, ctx) -> None:
    torch.manual_seed(0)
    window.composer.input.setPlainText("line one")
    window.composer.input.moveCursor(window.composer.input.textCursor().MoveOperation.End)
    qtbot.keyClick(window.composer.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(window.composer.input, "line two")
    assert window.composer.text() == "line one\nline two"
    assert window.pending is None
    with qtbot.waitSignal(window.model.worker.finished, timeout=REPLY_TIMEOUT_MS):
        qtbot.keyClick(window.composer.input, Qt.Key.Key_Return)
    user = chat.list_messages(ctx.db, window.session.id)[0]
    assert user.content == "line one\nline two"


def test_a_100k_paste_is_accepted_and_the_trimming_notice_is_shown(qtbot, window: MainWindow, ctx) -> None:
    torch.manual_seed(0)
    window.apply_settings(tiny_settings(window.settings.model_spec, max_new_tokens=8))
    paste = ("Photosynthesis turns light into sugar. " * 3000)[:100_000]
    reply = send_and_wait(qtbot, window, paste)
    assert reply.notice and "trimmed" in reply.notice
    user, assistant = chat.list_messages(ctx.db, window.session.id)
    assert len(user.content) == 100_000
    assert assistant.notice.startswith(reply.notice)
    assert ("length limit (8 tokens)" in assistant.notice) == (reply.n_tokens >= 8)
    widget = window.chat.widget_for(assistant.id)
    assert widget.notice_label.isVisible() and "trimmed" in widget.notice_label.text()
    folded = window.chat.widget_for(user.id)
    assert folded.unfold_button.isVisible()
    qtbot.mouseClick(folded.unfold_button, Qt.MouseButton.LeftButton)
    assert folded.body.toPlainText() == paste


def test_rename_and_delete_sessions_from_the_sidebar(
        qtbot, window: MainWindow, ctx, message_boxes, monkeypatch: pytest.MonkeyPatch) -> None:
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    first = window.session
    assert first is not None and window.sidebar.session_ids() == [first.id]
    chat.add_message(ctx.db, first.id, "user", "hello")  # a used session: Ctrl+N makes a new one
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    second = window.session
    assert second.id != first.id and set(window.sidebar.session_ids()) == {first.id, second.id}

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Adding fractions", True)))
    window.sidebar.rename_session(second.id)
    assert chat.get_session(ctx.db, second.id).title == "Adding fractions"
    assert window.title_label.text() == "Adding fractions" and "Adding fractions" in window.windowTitle()

    window.topic_edit.setText("Fractions")
    window.topic_edit.editingFinished.emit()
    assert chat.get_session(ctx.db, second.id).topic == "Fractions"
    window.private_check.click()
    assert chat.get_session(ctx.db, second.id).private is True

    message_boxes.answer = QMessageBox.StandardButton.No
    window.sidebar.delete_session(second.id)
    assert chat.get_session(ctx.db, second.id).title == "Adding fractions"
    assert "Delete “Adding fractions”" in message_boxes.texts("question")[-1]

    message_boxes.answer = QMessageBox.StandardButton.Yes
    window.sidebar.delete_session(second.id)
    assert [s.id for s in chat.list_sessions(ctx.db, ctx.student.id)] == [first.id]
    assert window.sidebar.session_ids() == [first.id]
    assert window.session is not None and window.session.id == first.id
    assert [w.message.content for w in window.chat.message_widgets()] == ["hello"]


def test_settings_apply_without_restart(qtbot, window: MainWindow, ctx, message_boxes, tmp_path) -> None:
    window.apply_settings(tiny_settings(window.settings.model_spec, max_new_tokens=7, temperature=0.3))
    stored = chat.get_setting(ctx.db, SETTINGS_KEY)
    assert (stored["max_new_tokens"], stored["temperature"]) == (7, 0.3)
    assert window.model.state == READY

    missing = tmp_path / "no-such-model"
    missing.mkdir()
    window.apply_settings(tiny_settings(missing))
    qtbot.waitUntil(lambda: window.model.state == FAILED, timeout=LOAD_TIMEOUT_MS)
    assert "config.json" in message_boxes.texts("warning")[-1]
    assert not window.composer.send_button.isEnabled()
    assert "config.json" in window.composer.status_label.text()
    assert window.composer.retry_button.isVisible()

    window.apply_settings(tiny_settings(stored["model_spec"]))
    assert window.composer.input.placeholderText() == "loading model…"
    qtbot.waitUntil(lambda: window.model.state == READY, timeout=LOAD_TIMEOUT_MS)
    assert window.composer.input.placeholderText() != "loading model…"
    assert not window.composer.retry_button.isVisible()


def test_a_failed_reply_is_stored_as_failed_with_the_reason_shown(
        qtbot, window: MainWindow, ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    from learner.errors import GenerationError
    from learner.tutor import Tutor

    def out_of_memory(self, request, settings, *, on_text=None, stop=None):
        on_text("Half an ans")
        raise GenerationError("The model ran out of memory. Lower 'max new tokens'.")

    monkeypatch.setattr(Tutor, "reply", out_of_memory)  # fault injection on the worker thread
    with qtbot.waitSignal(window.model.worker.failed, timeout=REPLY_TIMEOUT_MS):
        type_and_send(qtbot, window, "Explain fractions")
    qtbot.waitUntil(lambda: window.pending is None, timeout=5_000)
    [assistant] = assistant_messages(ctx.db, window.session.id)
    assert (assistant.status, assistant.content) == ("failed", "Half an ans")
    assert "ran out of memory" in assistant.notice
    widget = window.chat.widget_for(assistant.id)
    assert "failed" in widget.header.text() and "ran out of memory" in widget.notice_label.text()
    assert not widget.feedback_row.isVisible()
    assert "ran out of memory" in window.composer.status_label.text()
    assert window.composer.send_button.isVisible()


def test_switching_sessions_mid_reply_keeps_the_reply_in_its_own_session(qtbot, window: MainWindow, ctx) -> None:
    window.apply_settings(tiny_settings(window.settings.model_spec, max_new_tokens=3000))
    held = hold_at_first_piece(window)
    type_and_send(qtbot, window, "Tell me about the water cycle.")
    qtbot.waitUntil(held.is_set, timeout=REPLY_TIMEOUT_MS)
    first = window.session.id
    window.new_session()
    assert window.session.id != first and window.chat.message_widgets() == []
    with qtbot.waitSignal(window.model.worker.cancelled, timeout=REPLY_TIMEOUT_MS):
        window.composer.stop_button.click()
    qtbot.waitUntil(lambda: window.pending is None, timeout=5_000)
    assert window.chat.message_widgets() == [], "the reply must not appear in the session now open"
    [assistant] = assistant_messages(ctx.db, first)
    assert assistant.status == "stopped"
    window.open_session(first)
    assert [w.message.status for w in window.chat.message_widgets()] == ["complete", "stopped"]


@pytest.mark.parametrize(("grade", "in_prompt"), [("7", "grade 7"), (" 11 ", "grade 11"),
                                                  ("University", "University"), ("", "")])
def test_numeric_grades_reach_the_prompt_as_grade_n(grade: str, in_prompt: str) -> None:
    from app.ui.main_window import _prompt_grade

    assert _prompt_grade(grade) == in_prompt


def test_a_long_session_opens_scrolled_to_the_newest_message(qtbot, ctx, open_window) -> None:
    session = chat.create_session(ctx.db, ctx.student.id, title="Long one")
    for i in range(40):
        chat.add_message(ctx.db, session.id, "user", f"Question {i}")
        chat.add_message(ctx.db, session.id, "assistant", f"Answer {i}\n\n- a point\n- another", mode="explain")
    window = open_window()
    bar = window.chat.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), timeout=5_000)


def test_switching_profile_shows_that_students_sessions(
        qtbot, window: MainWindow, ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    import app.ui.main_window

    ana_session = chat.create_session(ctx.db, ctx.student.id, title="Ana's fractions")
    ben = users.create_user(ctx.db, "Ben", grade="University")
    ben_session = chat.create_session(ctx.db, ben.id, title="Ben's integrals", topic="Calculus")
    monkeypatch.setattr(app.ui.main_window, "choose_profile", lambda db, parent=None: ben)
    window.switch_profile_action.trigger()
    assert ctx.student.id == ben.id
    assert window.sidebar.session_ids() == [ben_session.id]
    assert window.session.id == ben_session.id and window.topic_edit.text() == "Calculus"
    assert "Ben (University)" in window.windowTitle()
    assert ana_session.id not in window.sidebar.session_ids()


def test_change_topic_from_the_sidebar(qtbot, window: MainWindow, ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    session = chat.create_session(ctx.db, ctx.student.id, title="Plants")
    window.open_session(session.id)
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Photosynthesis", True)))
    window.sidebar.topic_action.trigger()
    assert chat.get_session(ctx.db, session.id).topic == "Photosynthesis"
    assert window.topic_edit.text() == "Photosynthesis"
    assert "Photosynthesis" in window.sidebar.list.item(0).text()


def test_a_reply_records_the_adapter_that_wrote_it_when_a_swap_was_queued_first(
        qtbot, window: MainWindow, ctx, data_dir: DataDir, tiny_model_dir: Path) -> None:
    """A teacher promotes v1 and a student sends at once: the swap runs on the worker before the
    answer, so the answer is v1's and must be stored as v1's (not as the base model's, which was
    loaded when the message was sent)."""
    path = noisy_adapter(tiny_model_dir, data_dir, data_dir.adapters_dir / "v1", seed=1)
    adapters.register_adapter(ctx.db, version=1, base_model_id=window.model.model_id, path=str(path), n_examples=1,
                           n_heldout=0, n_replay=0, examples_approved_until=None, recipe={}, metrics={}, gate={},
                           gate_passed=True, gate_reason="All checks passed.", run_id=None, train_ids=[],
                           heldout_ids=[])
    teacher = auth.create_teacher(ctx.db, None, "Ms Lee", "correct horse battery",
                                  params=auth.ScryptParams(n=2**8, r=8, p=1))
    adapters.promote(ctx.db, teacher, 1)
    ctx.changes.notify(ChangeKind.ADAPTERS)                     # the swap job is queued on the model worker …
    assert window.model.adapter_version is None        # … and has not run when the student sends
    reply = send_and_wait(qtbot, window, "What is a fraction?")
    assert reply.adapter_version == 1
    [stored] = assistant_messages(ctx.db, window.session.id)
    assert (stored.model_id, stored.adapter_version) == (window.model.model_id, 1)


def test_the_composer_asks_for_prefill_when_a_message_begins_and_when_its_writer_pauses(qtbot) -> None:
    from app.ui.chat.composer import Composer

    composer = Composer()
    qtbot.addWidget(composer)
    wanted: list[tuple[str, str]] = []
    composer.prefill_wanted.connect(lambda mode, text: wanted.append((mode, text)))
    composer.input.setPlainText("W")
    composer.input.setPlainText("What is 2/3")
    assert wanted == [("explain", "")]             # at the start: the prompt before the message
    qtbot.waitUntil(lambda: len(wanted) == 2, timeout=5_000)
    assert wanted[1] == ("explain", "What is 2/3")  # a pause: the words so far
    composer.mode_buttons["hint"].click()
    assert wanted[2] == ("hint", "What is 2/3")     # another mode has other instructions before them
    with qtbot.assertNotEmitted(composer.prefill_wanted, wait=800):
        composer.clear()                            # a cleared box asks for nothing after a pause
