"""Start-up (database faults, profile picker), the settings and preparation dialogs, the worker
on its own, and practice answer keys."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from app.ui.app import open_context, run_gui
from app.ui.main_window import MainWindow
from app.ui.chat.prepare_dialog import PrepareDialog
from app.ui.chat.profile_dialog import ProfileDialog
from app.ui.chat.settings_dialog import SettingsDialog
from app.ui.worker import IDLE, LOADING, READY, ModelHost
from learner.settings import GenerationSettings, save_generation_settings
from storage import DataDir, chat, users
from tests.support.window import LOAD_TIMEOUT_MS, REPLY_TIMEOUT_MS, tiny_settings


# -- start-up ------------------------------------------------------------------------------------

def test_a_damaged_database_is_explained_not_a_traceback(data_dir: DataDir, message_boxes) -> None:
    data_dir.db_path.write_bytes(b"this is not a database, just some text " * 100)
    assert run_gui(str(data_dir.root)) == 1
    [(kind, title, text)] = message_boxes.shown
    assert kind == "critical" and "database" in title
    assert str(data_dir.db_path) in text and "backup" in text


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_a_read_only_data_folder_is_explained(tmp_path: Path, message_boxes) -> None:
    root = tmp_path / "ro"
    DataDir(root).ensure()
    root.chmod(0o500)
    try:
        assert open_context(str(root)) is None
    finally:
        root.chmod(0o700)
    assert "cannot be written" in message_boxes.texts("critical")[0]


def test_a_data_folder_that_cannot_be_created_is_explained(tmp_path: Path, message_boxes) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert open_context(str(blocker / "home")) is None
    assert "cannot be created" in message_boxes.texts("critical")[0]


def test_a_locked_database_is_explained(data_dir: DataDir, db, message_boxes) -> None:
    """Another program holds the write lock for longer than the busy timeout (5 s)."""
    other = sqlite3.connect(data_dir.db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert open_context(str(data_dir.root)) is None
    finally:
        other.execute("ROLLBACK")
        other.close()
    [(kind, _title, text)] = message_boxes.shown
    assert kind == "critical" and "busy" in text and "close the other program" in text


def test_start_recovers_replies_left_generating(data_dir: DataDir, db, message_boxes) -> None:
    user = users.create_user(db, "Ana")
    session = chat.create_session(db, user.id)
    reply = chat.add_message(db, session.id, "assistant", "half an ans", status="generating")
    ctx = open_context(str(data_dir.root))
    assert ctx is not None
    try:
        assert chat.get_message(ctx.db, reply.id).status == "stopped"
    finally:
        ctx.db.close()
    assert message_boxes.shown == []


def test_run_gui_opens_the_window_for_the_chosen_profile_and_exits_cleanly(
        qtbot, data_dir: DataDir, db, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import app.ui.app

    # run_gui's process-wide hooks would outlive this test (and replace pytest-qt's own hook)
    monkeypatch.setattr(app.ui.app, "install_excepthook", lambda: None)
    monkeypatch.setattr(app.ui.app, "setup_logging", lambda _folder: None)
    save_generation_settings(db, tiny_settings(tiny_model_dir))
    ana = users.create_user(db, "Ana", grade="7")
    users.touch_user(db, ana.id)
    seen: dict[str, str] = {}

    def accept_profile() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, ProfileDialog):
            QTimer.singleShot(20, accept_profile)
            return
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        QTimer.singleShot(0, close_window)

    def close_window() -> None:
        [window] = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        seen["title"] = window.windowTitle()
        seen["student"] = window.ctx.student.name
        window.close()

    QTimer.singleShot(0, accept_profile)
    assert run_gui(str(data_dir.root)) == 0
    assert seen == {"title": "tutorloop — Ana (grade 7)", "student": "Ana"}


def test_profile_picker_creates_a_profile_and_remembers_the_last_one(qtbot, db) -> None:
    first = ProfileDialog(db)
    qtbot.addWidget(first)
    assert not first.existing_box.isVisibleTo(first), "no profiles yet: only the 'new profile' form"
    ok = first.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled()
    qtbot.keyClicks(first.name_edit, "Ana")
    first.grade_combo.setCurrentText("7")
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert first.result() == ProfileDialog.DialogCode.Accepted
    assert (first.user.name, first.user.grade) == ("Ana", "7")
    users.create_user(db, "Ben", grade="5")

    again = ProfileDialog(db)
    qtbot.addWidget(again)
    assert again.profiles.count() == 2
    assert again.profiles.currentItem().text().startswith("Ana"), "the last profile used is preselected"
    qtbot.keyClicks(again.name_edit, "ana")  # a new profile with a taken name is refused in the dialog
    qtbot.mouseClick(again.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert "already exists" in again.error_label.text() and again.user is None


# -- settings ------------------------------------------------------------------------------------

def test_settings_dialog_round_trips_and_checks_paths(qtbot, tiny_model_dir: Path, tmp_path: Path) -> None:
    original = tiny_settings(tiny_model_dir, max_new_tokens=300, temperature=0.4)
    dialog = SettingsDialog(original)
    qtbot.addWidget(dialog)
    assert dialog.folder_radio.isChecked() and dialog.path_edit.text() == str(tiny_model_dir)
    assert dialog.chosen_settings() == original

    dialog.gguf_radio.click()
    dialog.path_edit.setText(str(tmp_path / "missing.gguf"))
    with pytest.raises(ValueError, match="no file"):
        dialog.chosen_settings()
    dialog.default_radio.click()
    assert not dialog.path_edit.isEnabled()
    dialog.device_combo.setCurrentText("cpu")
    dialog.max_tokens_spin.setValue(128)
    assert dialog.chosen_settings() == GenerationSettings(model_spec="default", device="cpu",
                                                          max_new_tokens=128, temperature=0.4)


# -- the worker on its own -----------------------------------------------------------------------

def test_worker_reports_a_request_before_any_model_is_loaded(qtbot, data_dir: DataDir) -> None:
    from learner.types import TutorRequest

    host = ModelHost(data_dir)
    busy: list[bool] = []
    host.busy_changed.connect(busy.append)
    try:
        with qtbot.waitSignal(host.worker.failed, timeout=REPLY_TIMEOUT_MS) as failed:
            request_id = host.generate(TutorRequest(user_text="Hi", mode="explain"), GenerationSettings())
        assert failed.args[0] == request_id and "not loaded" in failed.args[1]
        qtbot.waitUntil(lambda: not host.busy, timeout=5_000)
        assert busy == [True, False]
    finally:
        host.shutdown()
    assert not host.thread.isRunning()


def test_a_newer_load_supersedes_an_older_one(qtbot, data_dir: DataDir, tiny_model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    host = ModelHost(data_dir)
    try:
        host.load(tiny_settings(broken))
        host.load(tiny_settings(tiny_model_dir))
        assert host.state == LOADING
        qtbot.waitUntil(lambda: host.state == READY, timeout=LOAD_TIMEOUT_MS)
        assert host.model_id == "tiny-qwen2" and host.last_error is None
    finally:
        host.shutdown()


# -- first start: preparing the embedded model ---------------------------------------------------

def test_first_start_shows_progress_and_cancel_stops_preparation(qtbot, ctx, open_window) -> None:
    save_generation_settings(ctx.db, GenerationSettings())  # the embedded default: needs preparing
    window = open_window()
    window.start_model()
    dialog = window.findChild(PrepareDialog)
    assert dialog is not None and dialog.isVisible()
    assert window.composer.input.placeholderText() == "loading model…"
    assert not window.composer.send_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.bar.value() > 0 or dialog.step_label.text() != "Starting…",
                    timeout=LOAD_TIMEOUT_MS)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.model.state == IDLE, timeout=LOAD_TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.findChild(PrepareDialog) is None, timeout=5_000)
    assert "cancelled" in window.composer.status_label.text()
    assert window.composer.retry_button.isVisible()
    assert not window.composer.send_button.isEnabled()


# -- practice ------------------------------------------------------------------------------------

def test_practice_reply_hides_its_answer_key_until_revealed(qtbot, ctx, open_window) -> None:
    session = chat.create_session(ctx.db, ctx.student.id, title="Fractions", topic="Fractions")
    chat.add_message(ctx.db, session.id, "user", "Give me a question", mode="practice")
    reply = chat.add_message(ctx.db, session.id, "assistant", "What is 3/4 + 1/8?", mode="practice",
                             answer_key="7/8", model_id="tiny")
    window = open_window()
    widget = window.chat.widget_for(reply.id)
    assert widget.reveal_button.isVisible() and not widget.answer_key_view.isVisible()
    assert "7/8" not in widget.body.toPlainText()
    qtbot.mouseClick(widget.reveal_button, Qt.MouseButton.LeftButton)
    assert widget.answer_key_view.isVisible() and "7/8" in widget.answer_key_view.toPlainText()


def test_settings_choose_the_engine_and_keep_what_they_do_not_show(qtbot) -> None:
    from app.ui.chat.settings_dialog import needs_reload

    original = GenerationSettings(model_spec="default", word_problem_programs=3)
    dialog = SettingsDialog(original)
    qtbot.addWidget(dialog)
    assert dialog.engine_combo.currentData() == "auto" and dialog.engine_combo.toolTip()
    dialog.engine_combo.setCurrentIndex(dialog.engine_combo.findData("transformers"))
    chosen = dialog.chosen_settings()
    assert (chosen.engine, chosen.word_problem_programs) == ("transformers", 3)
    assert needs_reload(original, chosen)   # another engine means loading the model again
