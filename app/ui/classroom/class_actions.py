"""Class ▸ Create class…, Join class…, Sync now, Class status… (a window feature), the class
headline in the status bar ("Class: 7B, tutor updated today"), and the sync itself on its own
thread: at start, every few minutes, and on the teacher's desktop right after a promotion or
rollback. A new adapter taken in is announced as ChangeKind.ADAPTERS, so AdapterSync hot-swaps it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.context import AppContext, ChangeKind
from app.ui.features import WindowHost
from app.ui.worker import READY
from learner.classroom import model_id_for
from learner.review_prompt import prompt_messages_for
from storage import Database, StorageError, classfolder, users
from storage.classfolder import training

log = logging.getLogger(__name__)

SYNC_INTERVAL_MS = 3 * 60 * 1000      # "every few minutes": cheap when nothing changed (a directory listing)


class _SyncWorker(QObject):
    """Runs one sync on the sync thread with its own database connection (connections are thread-bound)."""

    finished = Signal(object)     # classfolder.SyncReport
    failed = Signal(str)

    @Slot(str, object)
    def run(self, db_path: str, in_use: classfolder.InUse | None) -> None:
        try:
            with Database(Path(db_path), migrate=False) as db:
                report = classfolder.sync(db, prompt_for=prompt_messages_for, in_use=in_use)
        except StorageError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # a bug must not end the thread; the log has it
            log.exception("class sync failed")
            self.failed.emit(f"The class sync failed ({type(exc).__name__}: {exc}); details are in the log.")
            return
        self.finished.emit(report)


class ClassSync(QObject):
    """One background sync at a time; `finished`/`failed` arrive on the UI thread."""

    finished = Signal(object)
    failed = Signal(str)
    _request = Signal(str, object)

    def __init__(self, ctx: AppContext, parent: QObject | None = None, *,
                 in_use: Callable[[], classfolder.InUse | None] = lambda: None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._in_use = in_use
        self.busy = False
        self._again = False
        self._thread = QThread()     # no parent: it must outlive nothing it runs; shutdown() stops it
        self._thread.setObjectName("tutorloop-class-sync")
        self._worker = _SyncWorker()
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._request.connect(self._worker.run)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)

    def start(self) -> None:
        """Sync now (or right after the one running)."""
        if self.busy:
            self._again = True
            return
        if not self._thread.isRunning():
            self._thread.start()
        self.busy = True
        self._request.emit(str(self.ctx.data_dir.db_path), self._in_use())

    @Slot(object)
    def _on_finished(self, report: classfolder.SyncReport) -> None:
        self._done()
        self.finished.emit(report)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._done()
        self.failed.emit(message)

    def _done(self) -> None:
        self.busy = False
        if self._again:
            self._again = False
            QTimer.singleShot(0, self.start)

    def shutdown(self) -> None:
        self._thread.quit()
        self._thread.wait()


class ClassStatusDialog(QDialog):
    """Class ▸ Class status…: the headline, the folder, the teacher's key, and on the teacher's
    desktop every desktop's last sync, segments waiting and adapter in use."""

    COLUMNS = ("Desktop", "Last sync (UTC)", "Segments waiting", "Adapter")

    def __init__(self, status: classfolder.ClassStatus, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        member = status.membership
        self.setWindowTitle(f"Class {member.name}")
        layout = QVBoxLayout(self)
        self.summary = QLabel(
            f"<b>{status.headline()}</b><br>Folder: {member.folder}<br>Teacher: {member.teacher_name} — key "
            f"<tt>{member.fingerprint}</tt><br>Last sync: {member.last_sync_at or 'never'}"
            + (f"<br>{member.last_sync_note}" if member.last_sync_note else ""))
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.table = QTableWidget(len(status.devices), len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        for row, device in enumerate(status.devices):
            waiting = str(device.pending_segments) + (f" ({device.incomplete_segments} partial)"
                                                      if device.incomplete_segments else "")
            cells = (device.device_name or device.device_id[:8], device.last_sync_at or "never", waiting,
                     f"v{device.adapter_version}" if device.adapter_version else "base model")
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.setVisible(member.is_teacher)
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class ClassroomActions(QObject):
    """The Class menu and the background sync (a window feature)."""

    def __init__(self, host: WindowHost) -> None:
        super().__init__(host.widget())
        self.host = host
        self.ctx = host.ctx
        self.runner = ClassSync(self.ctx, self, in_use=self._in_use)
        self.runner.finished.connect(self._on_synced)
        self.runner.failed.connect(self._on_sync_failed)
        self.label = QLabel("")
        host.add_status_widget(self.label)
        self.menu = self._build_menu()
        self.timer = QTimer(self)
        self.timer.setInterval(SYNC_INTERVAL_MS)
        self.timer.timeout.connect(self.sync)
        self.timer.start()
        self.dialog: ClassStatusDialog | None = None
        self.ctx.changes.changed.connect(self._on_changed)
        self._refresh()
        QTimer.singleShot(0, self.sync)       # at start: send what waits, take in a new adapter

    def _build_menu(self) -> QMenu:
        bar = self.host.widget().menuBar()
        menu = QMenu("C&lass", bar)
        actions = bar.actions()
        if actions:
            bar.insertMenu(actions[-1], menu)     # before Help, the last menu
        else:
            bar.addMenu(menu)
        self.create_action = menu.addAction("&Create class…", lambda: self.host.with_teacher(self._ask_create))
        self.join_action = menu.addAction("&Join class…", self._ask_join)
        menu.addSeparator()
        self.sync_action = menu.addAction("&Sync now", self.sync)
        self.status_action = menu.addAction("Class &status…", self.show_status)
        menu.addSeparator()
        self.examples_action = menu.addAction("&Publish examples for training elsewhere",
                                              lambda: self.host.with_teacher(self.publish_examples))
        return menu

    # -- state ------------------------------------------------------------------------------------

    def _in_use(self) -> classfolder.InUse | None:
        """The adapter the chat's model answers with, once it is loaded (the teacher sees it per desktop)."""
        model = self.host.model
        return classfolder.InUse(model.adapter_version) if model.state == READY else None

    def membership(self) -> classfolder.Membership | None:
        try:
            return classfolder.membership(self.ctx.db)
        except StorageError:
            return None

    def _refresh(self) -> None:
        member = self.membership()
        self.create_action.setEnabled(member is None)
        self.join_action.setEnabled(member is None)
        self.sync_action.setEnabled(member is not None)
        self.status_action.setEnabled(member is not None)
        self.examples_action.setEnabled(member is not None and member.is_teacher)
        if member is None:
            self.label.setText("")
            self.label.setVisible(False)
            return
        status = classfolder.status(self.ctx.db) if not member.is_teacher else None
        text = status.headline() if status is not None else f"Class: {member.name} (teacher)"
        self.label.setText(text + (" ⚠" if member.last_sync_note else ""))
        self.label.setToolTip(member.last_sync_note or f"Class folder: {member.folder}")
        self.label.setVisible(True)

    # -- actions ----------------------------------------------------------------------------------

    def sync(self) -> None:
        if self.membership() is not None:
            self.runner.start()

    def _ask_create(self) -> None:
        name, ok = QInputDialog.getText(self.host.widget(), "Create class", "Class name (for example 7B):")
        if not ok or not name.strip():
            return
        folder = QFileDialog.getExistingDirectory(self.host.widget(), "The shared class folder")
        if folder:
            self.create(name, Path(folder))

    def create(self, name: str, folder: Path) -> classfolder.Membership | None:
        try:
            made = classfolder.create_class(self.ctx.db, self.ctx.teacher, name, folder,   # type: ignore[arg-type]
                                            model_id=model_id_for(self.host.settings.model_spec))
        except (StorageError, ValueError) as exc:
            QMessageBox.warning(self.host.widget(), "Create class", str(exc))
            return None
        QMessageBox.information(self.host.widget(), "Class created",
                                f"Class {made.name} is in {made.folder}.\n\nOn each student desktop choose Class ▸ "
                                f"Join class… and that folder, and check that it shows this key:\n{made.fingerprint}")
        self._refresh()
        return made

    def _ask_join(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.host.widget(), "The class folder the teacher shared")
        if not folder:
            return
        if users.list_users(self.ctx.db, role="teacher"):
            self.host.with_teacher(lambda: self.join(Path(folder)))
        else:
            self.join(Path(folder))

    def join(self, folder: Path) -> classfolder.Membership | None:
        try:
            info = classfolder.read_class_file(folder)
        except StorageError as exc:
            QMessageBox.warning(self.host.widget(), "Join class", str(exc))
            return None
        answer = QMessageBox.question(
            self.host.widget(), "Join class",
            f"Join class {info.name} of {info.teacher_name}?\n\nTeacher's key: {info.fingerprint}\n\nCompare it with "
            "the key the teacher's desktop shows: this desktop will take adapters signed by that key only.")
        if answer != QMessageBox.StandardButton.Yes:
            return None
        try:
            joined = classfolder.join_class(self.ctx.db, self.ctx.teacher, folder)
        except StorageError as exc:
            QMessageBox.warning(self.host.widget(), "Join class", str(exc))
            return None
        self._refresh()
        self.sync()
        return joined

    def publish_examples(self) -> int | None:
        """Every approved example into the class folder, signed, for `tutorloop adapt --class-folder`."""
        try:
            seq = training.publish_examples(self.ctx.db, self.ctx.teacher)   # type: ignore[arg-type]
        except StorageError as exc:
            QMessageBox.warning(self.host.widget(), "Publish examples", str(exc))
            return None
        QMessageBox.information(self.host.widget(), "Examples published",
                                f"The approved examples are in the class folder (set {seq}). On the training machine, "
                                "which joined the class: tutorloop adapt --class-folder FOLDER. Its candidate comes "
                                "back at the next sync; only a teacher can promote it.")
        return seq

    def show_status(self) -> None:
        try:
            status = classfolder.status(self.ctx.db)
        except StorageError as exc:
            QMessageBox.warning(self.host.widget(), "Class status", str(exc))
            return
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = ClassStatusDialog(status, self.host.widget())
        self.dialog.open()

    # -- results ----------------------------------------------------------------------------------

    @Slot(object)
    def _on_synced(self, report: classfolder.SyncReport) -> None:
        self._refresh()
        if report.adapter_changed:
            self.ctx.changes.notify(ChangeKind.ADAPTERS)       # AdapterSync hot-swaps the chat's model
            self.host.show_message(f"{classfolder.status(self.ctx.db).headline()}.", timeout_ms=10_000)
        if report.candidates:
            self.ctx.changes.notify(ChangeKind.ADAPTERS)       # the Adaptation window lists the new candidate
        if report.imported is not None and (report.imported.imported or report.imported.retracted):
            self.ctx.changes.notify(ChangeKind.REVIEWS)
            self.host.show_message(report.summary(), timeout_ms=10_000)
        elif report.notes:
            self.host.show_message(" ".join(report.notes), timeout_ms=15_000)

    @Slot(str)
    def _on_sync_failed(self, message: str) -> None:
        self._refresh()
        self.host.show_message(message, timeout_ms=15_000)

    @Slot(object)
    def _on_changed(self, kind: ChangeKind) -> None:
        member = self.membership()
        if kind is ChangeKind.ADAPTERS and member is not None and member.is_teacher:
            self.sync()          # a promotion or rollback reaches the class without waiting for the timer

    def shutdown(self) -> None:
        self.timer.stop()
        self.runner.shutdown()
        if self.dialog is not None:
            self.dialog.close()
