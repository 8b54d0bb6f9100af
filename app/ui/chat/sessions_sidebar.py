"""The list of the student's sessions: new, open, rename, change topic, delete (with confirmation).

The sidebar writes session changes itself and announces them on `ctx.changes` ("sessions"); it
reloads whenever anyone announces "sessions", so the main window never has to tell it.
"""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QInputDialog, QLabel, QLineEdit, QListWidget, QListWidgetItem, QMenu, QMessageBox, QPushButton, QVBoxLayout,
    QWidget,
)

from app.ui.context import AppContext, ChangeKind
from app.ui.errors import present_error
from storage import StorageError, chat
from storage.chat import Session

SESSION_ID = Qt.ItemDataRole.UserRole


class SessionsSidebar(QWidget):
    session_selected = Signal(int)     # the student picked a session to open
    session_deleted = Signal(int)
    new_requested = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._current: int | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 0, 8)
        self.new_button = QPushButton("+ New session")
        self.new_button.setToolTip("Start a new session (Ctrl+N)")
        self.new_button.clicked.connect(self.new_requested)
        layout.addWidget(self.new_button)
        heading = QLabel("Sessions")
        heading.setStyleSheet("color: #5f6368; font-weight: 600; margin-top: 6px;")
        layout.addWidget(heading)
        self.list = QListWidget()
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._show_menu)
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        layout.addWidget(self.list, 1)

        self.rename_action = QAction("Rename…", self, shortcut=QKeySequence(Qt.Key.Key_F2))
        self.rename_action.triggered.connect(lambda: self.rename_session(self.current_session_id()))
        self.topic_action = QAction("Change topic…", self)
        self.topic_action.triggered.connect(lambda: self.change_topic(self.current_session_id()))
        self.delete_action = QAction("Delete…", self, shortcut=QKeySequence(QKeySequence.StandardKey.Delete))
        self.delete_action.triggered.connect(lambda: self.delete_session(self.current_session_id()))
        for action in (self.rename_action, self.topic_action, self.delete_action):
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.list.addAction(action)
        ctx.changes.changed.connect(self._on_changed)

    # -- contents --------------------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read the student's sessions, newest activity first, keeping the selection."""
        self.list.blockSignals(True)
        try:
            self.list.clear()
            sessions = chat.list_sessions(self.ctx.db, self.ctx.student.id) if self.ctx.student else []
            for session in sessions:
                item = QListWidgetItem(_label(session))
                item.setData(SESSION_ID, session.id)
                item.setToolTip(f"{session.title}\nTopic: {session.topic or '(none)'}\n"
                                f"Last active {session.updated_at.replace('T', ' ')[:16]} UTC"
                                + ("\nNot used for learning" if session.private else ""))
                self.list.addItem(item)
                if session.id == self._current:
                    self.list.setCurrentItem(item)
        finally:
            self.list.blockSignals(False)

    def select(self, session_id: int | None) -> None:
        """Highlight a session without announcing it (the caller is already opening it)."""
        self._current = session_id
        if session_id is not None and self._item(session_id) is None:
            self.reload()  # created elsewhere (another view, the CLI) since the list was last read
        self.list.blockSignals(True)
        try:
            item = self._item(session_id)
            if item is not None:
                self.list.setCurrentItem(item)
            else:
                self.list.setCurrentRow(-1)
        finally:
            self.list.blockSignals(False)

    def session_ids(self) -> list[int]:
        return [self.list.item(i).data(SESSION_ID) for i in range(self.list.count())]

    def current_session_id(self) -> int | None:
        item = self.list.currentItem()
        return item.data(SESSION_ID) if item else None

    def _item(self, session_id: int | None) -> QListWidgetItem | None:
        for i in range(self.list.count()):
            if self.list.item(i).data(SESSION_ID) == session_id:
                return self.list.item(i)
        return None

    # -- actions ---------------------------------------------------------------------------------

    def rename_session(self, session_id: int | None) -> None:
        if session_id is None:
            return
        session = chat.get_session(self.ctx.db, session_id)
        title, ok = QInputDialog.getText(self, "Rename session", "Session name:", QLineEdit.EchoMode.Normal,
                                         session.title)
        if not ok or title.strip() == session.title:
            return
        self._update(session_id, title=title)

    def change_topic(self, session_id: int | None) -> None:
        if session_id is None:
            return
        session = chat.get_session(self.ctx.db, session_id)
        topic, ok = QInputDialog.getText(self, "Change topic", "Topic or subject (e.g. Fractions, Photosynthesis):",
                                         QLineEdit.EchoMode.Normal, session.topic)
        if ok:
            self._update(session_id, topic=topic)

    def _update(self, session_id: int, **changes: str) -> None:
        try:
            chat.update_session(self.ctx.db, session_id, **changes)  # type: ignore[arg-type]
        except StorageError as exc:
            present_error(self, exc, title="Could not change the session")
            return
        self.ctx.changes.notify(ChangeKind.SESSIONS)

    def delete_session(self, session_id: int | None) -> None:
        if session_id is None:
            return
        session = chat.get_session(self.ctx.db, session_id)
        count = len(chat.list_messages(self.ctx.db, session_id))
        answer = QMessageBox.question(
            self, "Delete session",
            f"Delete “{session.title}” and its {count} message{'s' if count != 1 else ''}? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            chat.delete_session(self.ctx.db, session_id)
        except StorageError as exc:
            present_error(self, exc, title="Could not delete the session")
            return
        if self._current == session_id:
            self._current = None
        self.session_deleted.emit(session_id)
        self.ctx.changes.notify(ChangeKind.SESSIONS)

    # -- events ----------------------------------------------------------------------------------

    @Slot(object)
    def _on_changed(self, kind: ChangeKind) -> None:
        if kind in (ChangeKind.SESSIONS, ChangeKind.USERS):
            self.reload()

    @Slot(QListWidgetItem, QListWidgetItem)
    def _on_current_changed(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if item is not None and item.data(SESSION_ID) != self._current:
            self._current = item.data(SESSION_ID)
            self.session_selected.emit(self._current)

    @Slot(QPoint)
    def _show_menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        self.list.setCurrentItem(item)
        menu = QMenu(self)
        menu.addActions([self.rename_action, self.topic_action])
        menu.addSeparator()
        menu.addAction(self.delete_action)
        menu.exec(self.list.viewport().mapToGlobal(pos))


def _label(session: Session) -> str:
    lines = [session.title]
    if session.topic:
        lines.append(f"  {session.topic}")
    if session.private:
        lines[0] += "  (private)"
    return "\n".join(lines)
