"""The audit log of teacher actions: who did what, when; filter and export as CSV or JSON."""
from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget,
    QTableWidgetItem, QVBoxLayout, QWidget,
)

from app.ui.context import AppContext, ChangeKind
from app.ui.errors import present_error
from app.ui.window_keys import add_close_keys
from storage import StorageError, audit

ACTION_GROUPS = (("All actions", None), ("Review decisions", "review."), ("Imports and exports", "examples."),
                 ("Students (data rights)", "student."), ("Teacher accounts", "teacher."),
                 ("Audit exports", "audit."))
COLUMNS = ("When (UTC)", "Who", "Action", "Target", "Details")


class AuditView(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Audit log")
        self.group_filter = QComboBox()
        for label, prefix in ACTION_GROUPS:
            self.group_filter.addItem(label, prefix)
        self.group_filter.currentIndexChanged.connect(self.refresh)
        self.export_csv_button = QPushButton("Export CSV…")
        self.export_json_button = QPushButton("Export JSON…")
        self.export_csv_button.clicked.connect(lambda: self._ask_and_export("csv"))
        self.export_json_button.clicked.connect(lambda: self._ask_and_export("json"))
        self.count_label = QLabel()
        top = QHBoxLayout()
        top.addWidget(QLabel("Show"))
        top.addWidget(self.group_filter)
        top.addWidget(self.count_label)
        top.addStretch(1)
        top.addWidget(self.export_csv_button)
        top.addWidget(self.export_json_button)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        ctx.changes.changed.connect(self._on_changed)
        self.resize(1000, 600)
        self.refresh()
        add_close_keys(self)

    def _filters(self) -> dict:
        prefix = self.group_filter.currentData()
        return {"action_prefix": prefix} if prefix else {}

    @Slot()
    def refresh(self) -> None:
        try:
            if self.ctx.teacher is None:
                raise StorageError("Sign in as a teacher to see the audit log.")
            entries = audit.list_entries(self.ctx.db, self.ctx.teacher, **self._filters())
        except StorageError as exc:
            self.table.setRowCount(0)
            self.count_label.setText(str(exc))
            return
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            details = json.dumps(entry.details, ensure_ascii=False, sort_keys=True) if entry.details else ""
            for col, text in enumerate((entry.created_at.replace("T", " ")[:19], entry.actor_name, entry.action,
                                        entry.target, details)):
                cell = QTableWidgetItem(text)
                cell.setToolTip(text)
                self.table.setItem(row, col, cell)
        self.table.resizeColumnsToContents()
        self.count_label.setText(f"{len(entries)} entr{'ies' if len(entries) != 1 else 'y'}")

    @Slot(object)
    def _on_changed(self, _kind: ChangeKind) -> None:
        self.refresh()

    def _ask_and_export(self, fmt: str) -> None:
        suffix = "csv" if fmt == "csv" else "json"
        path, _ = QFileDialog.getSaveFileName(self, "Export the audit log", f"tutorloop-audit.{suffix}",
                                              f"{suffix.upper()} files (*.{suffix})")
        if path:
            self.export_to(Path(path), fmt)

    def export_to(self, path: Path, fmt: str) -> int | None:
        """Export what the filter shows; returns the number of entries, or None after showing an error."""
        try:
            # No teacher signed in: storage refuses (PermissionDenied), and that is shown.
            count = audit.export_entries(self.ctx.db, self.ctx.teacher, path, fmt=fmt,  # type: ignore[arg-type]
                                         **self._filters())
        except (StorageError, OSError) as exc:
            present_error(self, exc, title="Audit log")
            return None
        self.refresh()
        return count

