"""The teacher's schedule settings: when rounds run, how much new material one needs, whether a
candidate that passed the gate may go live without a teacher. Also shows what the scheduler last
decided and why, and the last failure with its log, so nothing about it is hidden.

Only a signed-in teacher can open it; saving checks again in storage.schedule.save_settings."""
from __future__ import annotations

from datetime import datetime, timezone

from PySide6.QtCore import QTime, Slot
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QMessageBox, QSpinBox, QTableWidget,
    QTableWidgetItem, QTimeEdit, QVBoxLayout, QWidget,
)

from app.ui.context import AppContext, ChangeKind
from app.ui.errors import present_error
from learner.schedule import decide, gather_inputs
from storage import StorageError
from storage import schedule

HISTORY_ROWS = 10
MODE_LABELS = {"off": "Off (only when a teacher clicks Train now)", "nightly": "Every night at…",
               "every_n_hours": "Every N hours"}


class ScheduleDialog(QDialog):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Adaptation schedule")
        current = schedule.get_settings(ctx.db)
        layout = QVBoxLayout(self)
        intro = QLabel("Rounds train a new adapter from the approved examples. They run in the background "
                       "while the app is open (and from the computer's own scheduler with "
                       "<code>tutorloop adapt --if-due</code>), one at a time, pausing while a student chats.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.mode_combo = QComboBox()
        for mode, label in MODE_LABELS.items():
            self.mode_combo.addItem(label, mode)
        self.mode_combo.setCurrentIndex(list(MODE_LABELS).index(current.mode))
        self.time_edit = QTimeEdit(QTime(*current.hour_minute))
        self.time_edit.setDisplayFormat("HH:mm")
        self.hours_spin = QSpinBox()
        self.hours_spin.setRange(1, 168)
        self.hours_spin.setSuffix(" h")
        self.hours_spin.setValue(current.every_hours)
        self.min_examples_spin = QSpinBox()
        self.min_examples_spin.setRange(0, 100_000)
        self.min_examples_spin.setValue(current.min_new_examples)
        self.idle_spin = QSpinBox()
        self.idle_spin.setRange(0, 1440)
        self.idle_spin.setSuffix(" min")
        self.idle_spin.setSpecialValueText("don't wait")
        self.idle_spin.setValue(current.idle_minutes)
        self.auto_promote_check = QCheckBox("Put a candidate that passed every check in front of students "
                                            "without waiting for a teacher")
        self.auto_promote_check.setChecked(current.auto_promote)
        form.addRow("Run", self.mode_combo)
        form.addRow("Time of day", self.time_edit)
        form.addRow("Interval", self.hours_spin)
        form.addRow("Newly approved examples needed", self.min_examples_spin)
        form.addRow("Only after the app is idle for", self.idle_spin)
        form.addRow("Auto-promote", self.auto_promote_check)
        layout.addLayout(form)
        self.state_label = QLabel()
        self.state_label.setWordWrap(True)
        self.state_label.setTextInteractionFlags(self.state_label.textInteractionFlags()
                                                 | self.state_label.textInteractionFlags().TextSelectableByMouse)
        layout.addWidget(self.state_label)
        self.history = QTableWidget(0, 5)
        self.history.setHorizontalHeaderLabels(["Started", "Trigger", "Result", "Version", "Error / log"])
        self.history.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.history.verticalHeader().setVisible(False)
        self.history.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(QLabel("Recent rounds"))
        layout.addWidget(self.history)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.mode_combo.currentIndexChanged.connect(self._update_fields)
        self._update_fields()
        self._show_state()

    def settings(self) -> schedule.ScheduleSettings:
        return schedule.ScheduleSettings(
            mode=self.mode_combo.currentData(), time_of_day=self.time_edit.time().toString("HH:mm"),
            every_hours=self.hours_spin.value(), min_new_examples=self.min_examples_spin.value(),
            idle_minutes=self.idle_spin.value(), auto_promote=self.auto_promote_check.isChecked())

    @Slot()
    def _update_fields(self) -> None:
        mode = self.mode_combo.currentData()
        self.time_edit.setEnabled(mode == "nightly")
        self.hours_spin.setEnabled(mode == "every_n_hours")
        for widget in (self.min_examples_spin, self.idle_spin, self.auto_promote_check):
            widget.setEnabled(mode != "off")

    def _show_state(self) -> None:
        now = datetime.now(timezone.utc)
        state = schedule.get_state(self.ctx.db)
        decision = decide(now, schedule.get_settings(self.ctx.db), gather_inputs(self.ctx.db, now=now))
        lines = [f"<b>Now:</b> {decision.reason}"]
        if state.last_round_started_at:
            lines.append(f"<b>Last round:</b> {state.last_round_trigger}, started "
                         f"{state.last_round_started_at.astimezone():%Y-%m-%d %H:%M}: {state.last_round_result}"
                         + (f" (v{state.last_round_version})" if state.last_round_version else ""))
        if state.consecutive_failures:
            lines.append(f"<b>Failed {state.consecutive_failures}× in a row:</b> {state.last_failure_message}<br>"
                         f"Log: <code>{state.last_failure_log}</code>")
        self.state_label.setText("<br>".join(lines))
        self._show_history()

    def _show_history(self) -> None:
        """Every recorded round (newest first): who started it, when, how it ended, what it made."""
        from storage import adapters

        runs = adapters.list_runs(self.ctx.db, limit=HISTORY_ROWS)
        self.history.setRowCount(len(runs))
        for row, run in enumerate(runs):
            cells = [_local_time(run.started_at), run.trigger, run.status,
                     f"v{run.version}" if run.version is not None else "", run.error or run.log_path or ""]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(run.log_path or "")
                self.history.setItem(row, column, item)
        self.history.resizeColumnsToContents()

    @Slot()
    def save(self) -> None:
        try:
            schedule.save_settings(self.ctx.db, self.ctx.teacher, self.settings())
        except StorageError as exc:
            present_error(self, exc, title="The schedule was not saved")
            return
        self.ctx.changes.notify(ChangeKind.SCHEDULE)
        self.accept()


def _local_time(iso: str) -> str:
    try:
        return f"{datetime.fromisoformat(iso).astimezone():%Y-%m-%d %H:%M}"
    except ValueError:
        return iso


def open_schedule_dialog(ctx: AppContext, parent: QWidget | None = None) -> ScheduleDialog | None:
    """Open the dialog for a signed-in teacher; otherwise say how to become one."""
    if ctx.teacher is None:
        QMessageBox.information(parent, "Adaptation schedule",
                                "Only a teacher can change the adaptation schedule. Sign in as a teacher first "
                                "(Teacher ▸ Sign in).")
        return None
    dialog = ScheduleDialog(ctx, parent)
    dialog.open()
    return dialog
