"""Data rights for one student: export everything about them, or delete them with everything
derived from them. Deleting needs the student's name typed again; both actions are audited."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget,
)

from app.ui.context import AppContext, ChangeKind
from app.ui.errors import present_error
from storage import StorageError, students, users


class StudentDataDialog(QDialog):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Student data")
        self.student_combo = QComboBox()
        self.confirm_edit = QLineEdit()
        self.confirm_edit.setPlaceholderText("type the student's name to enable Delete")
        self.export_button = QPushButton("Export everything…")
        self.delete_button = QPushButton("Delete student and all their data")
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Student", self.student_combo)
        explain = QLabel("Export writes the profile, every chat, ratings, review decisions and training examples "
                         "as one JSON file. Delete removes the student, their chats and every example made from "
                         "them; future training no longer uses them. Both are recorded in the audit log.")
        explain.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(explain)
        layout.addLayout(buttons)
        layout.addWidget(self.confirm_edit)
        layout.addWidget(self.delete_button)
        layout.addWidget(self.result_label)
        self.export_button.clicked.connect(self._ask_and_export)
        self.delete_button.clicked.connect(self.delete_selected)
        self.confirm_edit.textChanged.connect(self._update)
        self.student_combo.currentIndexChanged.connect(self._update)
        self.reload()

    def reload(self) -> None:
        self.student_combo.clear()
        for student in users.list_users(self.ctx.db, role="student"):
            self.student_combo.addItem(student.name, student.id)
        self._update()

    @Slot()
    def _update(self) -> None:
        name = self.student_combo.currentText()
        has = self.student_combo.currentData() is not None
        self.export_button.setEnabled(has)
        self.delete_button.setEnabled(has and self.confirm_edit.text().strip().casefold() == name.casefold())

    @Slot()
    def _ask_and_export(self) -> None:
        name = self.student_combo.currentText()
        path, _ = QFileDialog.getSaveFileName(self, f"Export {name}'s data", f"{name}-tutorloop.json",
                                              "JSON files (*.json)")
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> Path | None:
        try:
            written = students.export_student(self.ctx.db, self.ctx.teacher, self.student_combo.currentData(),  # type: ignore[arg-type]
                                              path)
        except (StorageError, OSError) as exc:
            present_error(self, exc, title="Student data")
            return None
        self.result_label.setText(f"Wrote {written}.")
        return written

    @Slot()
    def delete_selected(self) -> None:
        name = self.student_combo.currentText()
        try:
            removed = students.delete_student(self.ctx.db, self.ctx.teacher,  # type: ignore[arg-type]
                                              self.student_combo.currentData(), confirm_name=self.confirm_edit.text())
        except StorageError as exc:
            present_error(self, exc, title="Student data")
            return
        self.confirm_edit.clear()
        self.result_label.setText(f"Deleted {name}: " + ", ".join(f"{n} {k.replace('_', ' ')}"
                                                                  for k, n in removed.items()) + ".")
        self.ctx.changes.notify(ChangeKind.USERS)
        self.reload()
