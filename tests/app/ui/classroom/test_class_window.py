"""The Class menu in the window: a student desktop joins, the sync runs on its own thread, a new
signed adapter is taken in and the chat's model hot-swaps to it; the teacher creates the class and
sees every desktop in Class status."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from app.ui.classroom.class_actions import ClassroomActions
from learner.adapt.recipe import Recipe
from learner.adapt.train import add_fresh_adapter, save_adapter
from learner.loading import load_model
from learner.sources import PreparedModel
from storage import adapters, classfolder
from tests.support.class_folder import Desktop, chat_reply, teacher_desktop
from tests.support.window import LOAD_TIMEOUT_MS

SYNC_TIMEOUT_MS = 30_000


def real_version(teacher: Desktop, tiny_model_dir: Path, version: int) -> None:
    """A loadable LoRA adapter for the tiny model, registered and promoted on the teacher's desktop."""
    loaded = load_model(PreparedModel(model_id=tiny_model_dir.name, path=tiny_model_dir), device="cpu",
                        dtype="float32")
    folder = save_adapter(add_fresh_adapter(loaded.model, Recipe(rank=4, alpha=8)),
                          teacher.data_dir.adapters_dir / f"v{version}", Recipe(rank=4, alpha=8))
    adapters.register_adapter(teacher.db, version=version, base_model_id=tiny_model_dir.name, path=str(folder),
                              n_examples=1, n_heldout=0, n_replay=0, examples_approved_until=None, recipe={},
                              metrics={}, gate={}, gate_passed=True, gate_reason="All checks passed.", run_id=None,
                              train_ids=[], heldout_ids=[])
    adapters.promote(teacher.db, teacher.user, version)


def test_a_student_window_joins_syncs_in_the_background_and_hot_swaps(qtbot, window, message_boxes, tmp_path: Path,
                                                                      tiny_model_dir: Path) -> None:
    teacher = teacher_desktop(tmp_path / "teacher")
    try:
        folder = tmp_path / "share"
        classfolder.create_class(teacher.db, teacher.user, "7B", folder, model_id=tiny_model_dir.name)
        real_version(teacher, tiny_model_dir, 1)
        classfolder.sync(teacher.db, teacher.user)

        feature = window.feature(ClassroomActions)
        assert feature.menu.title() == "C&lass" and not feature.sync_action.isEnabled()
        message_boxes.answer = QMessageBox.StandardButton.Yes
        assert feature.join(folder) is not None
        question = message_boxes.texts("question")[0]
        assert classfolder.read_class_file(folder).fingerprint in question      # compared before joining
        assert feature.runner.busy                                              # the sync runs off the UI thread
        qtbot.waitUntil(lambda: window.model.adapter_version == 1, timeout=SYNC_TIMEOUT_MS)
        assert feature.label.text() == "Class: 7B, tutor updated today"

        chat_reply(Desktop(data_dir=window.ctx.data_dir, db=window.ctx.db, user=window.ctx.student), "Q?", "A.")
        with qtbot.waitSignal(feature.runner.finished, timeout=SYNC_TIMEOUT_MS) as sent:
            feature.sync_action.trigger()
        assert sent.args[0].sent.exchanges == 1
        classfolder.sync(teacher.db, teacher.user)
        assert len(classfolder.status(teacher.db).devices) == 1

        # A tampered new version is refused; the chat keeps v1 and the status bar says why.
        real_version(teacher, tiny_model_dir, 2)
        classfolder.sync(teacher.db, teacher.user)
        weights = folder / "adapters" / "v2" / "adapter_model.safetensors"
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF
        weights.write_bytes(bytes(data))
        with qtbot.waitSignal(feature.runner.finished, timeout=SYNC_TIMEOUT_MS):
            feature.sync()
        assert window.model.adapter_version == 1
        assert "signed manifest" in window.statusBar().currentMessage()
        (device,) = classfolder.status(teacher.db).devices
        assert device.adapter_version == 1                  # what the chat's model answers with
        assert feature.label.text().endswith("⚠")
    finally:
        teacher.close()


def test_the_teacher_creates_the_class_and_sees_its_status(qtbot, open_window, ctx, message_boxes,
                                                           tmp_path: Path) -> None:
    from storage import auth
    from tests.support.classroom import FAST, PASSWORD

    ctx.teacher = auth.create_teacher(ctx.db, None, "Ms Lee", PASSWORD, params=FAST)
    win = open_window()
    feature = win.feature(ClassroomActions)
    made = feature.create("7B", tmp_path / "share")
    assert made is not None and made.fingerprint in message_boxes.texts("information")[0]
    assert feature.label.text() == "Class: 7B (teacher)" and not feature.create_action.isEnabled()
    with qtbot.waitSignal(feature.runner.finished, timeout=SYNC_TIMEOUT_MS):
        feature.sync()
    feature.show_status()
    assert feature.dialog is not None and feature.dialog.table.isVisibleTo(feature.dialog)
    assert made.fingerprint in feature.dialog.summary.text()
    assert feature.examples_action.isEnabled() and feature.publish_examples() == 1
    assert (tmp_path / "share" / "examples" / "00000001.json").is_file()
    qtbot.waitUntil(lambda: not feature.runner.busy, timeout=LOAD_TIMEOUT_MS)
