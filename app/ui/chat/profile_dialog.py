"""Who is studying: pick an existing profile or create one (name and grade level).

The grade level goes into the tutor's prompts. The last profile used is preselected.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFormLayout, QGroupBox, QLabel, QLineEdit, QListWidget,
    QListWidgetItem, QVBoxLayout, QWidget,
)

from storage import Database, StorageError, users
from storage.users import User

GRADES = ["", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "University", "Adult learner"]
USER_ID = Qt.ItemDataRole.UserRole


def grade_label(grade: str) -> str:
    if not grade:
        return "no grade set"
    return f"grade {grade}" if grade.isdigit() else grade


class ProfileDialog(QDialog):
    """Returns the chosen or newly created student as `.user` when accepted."""

    def __init__(self, db: Database, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.db = db
        self.user: User | None = None
        self.setWindowTitle("Who is studying? — tutorloop")
        self.setMinimumWidth(420)
        layout = QVBoxLayout(self)

        self.existing_box = QGroupBox("Continue as")
        existing = QVBoxLayout(self.existing_box)
        self.profiles = QListWidget()
        self.profiles.itemDoubleClicked.connect(lambda _item: self._accept_existing())
        self.profiles.currentItemChanged.connect(lambda *_: self._update_ok())
        existing.addWidget(self.profiles)
        layout.addWidget(self.existing_box)

        new_box = QGroupBox("New profile")
        form = QFormLayout(new_box)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Your first name")
        self.name_edit.setMaxLength(80)
        self.name_edit.textChanged.connect(self._on_name_typed)
        self.grade_combo = QComboBox()
        self.grade_combo.setEditable(True)
        self.grade_combo.addItems(GRADES)
        self.grade_combo.setToolTip("The tutor pitches its explanations at this level.")
        form.addRow("Name:", self.name_edit)
        form.addRow("Grade level:", self.grade_combo)
        layout.addWidget(new_box)

        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.setWordWrap(True)
        layout.addWidget(self.error_label)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start")
        self.buttons.accepted.connect(self._on_ok)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._load_profiles()

    def _load_profiles(self) -> None:
        last = users.last_seen_user(self.db)
        for user in users.list_users(self.db, role="student"):
            item = QListWidgetItem(f"{user.name}  ({grade_label(user.grade)})")
            item.setData(USER_ID, user.id)
            self.profiles.addItem(item)
            if last is not None and user.id == last.id:
                self.profiles.setCurrentItem(item)
        if self.profiles.count() and self.profiles.currentItem() is None:
            self.profiles.setCurrentRow(0)
        self.existing_box.setVisible(self.profiles.count() > 0)
        if not self.profiles.count():
            self.name_edit.setFocus()
        self._update_ok()

    @Slot(str)
    def _on_name_typed(self, text: str) -> None:
        # typing a new name means "create": drop the selection so Start does what the student sees
        if text.strip():
            self.profiles.setCurrentRow(-1)
            self.profiles.clearSelection()
        self._update_ok()

    def _update_ok(self) -> None:
        ok = bool(self.name_edit.text().strip()) or self.profiles.currentItem() is not None
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def _accept_existing(self) -> None:
        item = self.profiles.currentItem()
        if item is None:
            return
        self.user = users.get_user(self.db, item.data(USER_ID))
        self._finish()

    @Slot()
    def _on_ok(self) -> None:
        name = self.name_edit.text().strip()
        if not name:
            self._accept_existing()
            return
        try:
            self.user = users.create_user(self.db, name, grade=self.grade_combo.currentText())
        except StorageError as exc:
            self.error_label.setText(str(exc))
            return
        self._finish()

    def _finish(self) -> None:
        assert self.user is not None
        try:
            users.touch_user(self.db, self.user.id)
        except StorageError as exc:  # remembering the last profile is a convenience, not a reason to stop
            self.error_label.setText(str(exc))
        self.accept()


def choose_profile(db: Database, parent: QWidget | None = None) -> User | None:
    dialog = ProfileDialog(db, parent)
    try:
        return dialog.user if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()
