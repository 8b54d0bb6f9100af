"""The Safeguarding alerts window: student messages the screen flagged, newest waiting first, each
acknowledged by a teacher with a note. Opened from the Teacher menu by a signed-in teacher only;
storage checks the role again for every read and write."""
from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.context import AppContext, ChangeKind
from app.ui.errors import present_error
from app.ui.window_keys import add_close_keys
from storage import StorageError, safeguarding
from storage.safeguarding import Alert

COLUMNS = ("When (UTC)", "Student", "Concern", "How it was flagged", "Status", "Message")
STAGE_LABELS = {"lexicon": "a clear phrase", "judge_confirmed": "phrase, confirmed by the model",
                "judge_unsure": "phrase (model unsure)", "judge_unavailable": "phrase (model not asked)"}
NEW_COLOUR = QColor("#fdecea")


class SafeguardingView(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.alerts: list[Alert] = []
        self.setWindowTitle("Safeguarding alerts")
        intro = QLabel("Messages in which a student may be at risk. The student was shown the school's help text "
                       "instead of a tutor reply, and these exchanges are never used for training. Follow your "
                       "school's safeguarding procedure, then acknowledge the alert with what was done.")
        intro.setWordWrap(True)
        self.only_new = QCheckBox("Only alerts not yet acknowledged")
        self.only_new.toggled.connect(self.refresh)
        self.count_label = QLabel()
        top = QHBoxLayout()
        top.addWidget(self.only_new)
        top.addStretch(1)
        top.addWidget(self.count_label)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(True)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)

        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("What was done (e.g. spoke with the student and the DSL)")
        self.note_edit.setMaxLength(2000)
        self.ack_button = QPushButton("Acknowledge")
        self.ack_button.setToolTip("Mark the selected alert as dealt with; your name and the note are kept.")
        self.ack_button.clicked.connect(self.acknowledge_selected)
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel("Note:"))
        bottom.addWidget(self.note_edit, 1)
        bottom.addWidget(self.ack_button)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)
        ctx.changes.changed.connect(self._on_changed)
        self.resize(1000, 560)
        self.refresh()
        add_close_keys(self)

    @Slot()
    def refresh(self) -> None:
        try:
            if self.ctx.teacher is None:
                raise StorageError("Sign in as a teacher to see safeguarding alerts.")
            self.alerts = safeguarding.list_alerts(self.ctx.db, self.ctx.teacher,
                                                   include_acknowledged=not self.only_new.isChecked())
        except StorageError as exc:
            self.alerts = []
            self.table.setRowCount(0)
            self.count_label.setText(str(exc))
            self._update_buttons()
            return
        self.table.setRowCount(len(self.alerts))
        for row, alert in enumerate(self.alerts):
            status = (f"Acknowledged by {alert.acknowledged_by_name}" + (f": {alert.note}" if alert.note else "")
                      if alert.acknowledged else "New")
            who = alert.student_name or ("(tutorloop ask)" if alert.source == "cli" else "(deleted profile)")
            cells = (alert.created_at.replace("T", " ")[:19], who,
                     safeguarding.CATEGORY_LABELS.get(alert.category, alert.category),
                     STAGE_LABELS.get(alert.stage, alert.stage), status, alert.text)
            for col, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                cell.setToolTip(text)
                if not alert.acknowledged:
                    cell.setBackground(NEW_COLOUR)
                self.table.setItem(row, col, cell)
        self.table.resizeColumnsToContents()
        self.table.resizeRowsToContents()
        waiting = sum(not a.acknowledged for a in self.alerts)
        self.count_label.setText(f"{waiting} new, {len(self.alerts)} shown")
        self._update_buttons()

    def _selected(self) -> Alert | None:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        return self.alerts[min(rows)] if rows else None

    @Slot()
    def _update_buttons(self) -> None:
        alert = self._selected()
        self.ack_button.setEnabled(alert is not None and not alert.acknowledged)

    @Slot()
    def acknowledge_selected(self) -> Alert | None:
        """Acknowledge the selected alert with the note; returns it, or None after showing why not."""
        alert = self._selected()
        if alert is None:
            return None
        try:
            done = safeguarding.acknowledge(self.ctx.db, self.ctx.teacher, alert.id,  # type: ignore[arg-type]
                                            note=self.note_edit.text())
        except StorageError as exc:
            present_error(self, exc, title="Safeguarding alerts")
            return None
        self.note_edit.clear()
        self.ctx.changes.notify(ChangeKind.SAFEGUARDING)
        return done

    @Slot(object)
    def _on_changed(self, kind: ChangeKind) -> None:
        if kind in (ChangeKind.SAFEGUARDING, ChangeKind.USERS):
            self.refresh()
