"""Progress: the student's mastery per topic with a chart over time (pyqtgraph), and — only for a
signed-in teacher — the class overview (students × topics), the telling rate per adapter version
next to the adapters' own figures, and disputed verdicts to resolve.

Teacher data is read through storage functions that check the acting teacher themselves
(class_overview, list_disputes, resolve_dispute), so hiding the tabs is not the only protection.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QTableWidget,
    QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from app.ui.context import AppContext, ChangeKind
from storage import StorageError
from storage import practice

log = logging.getLogger(__name__)
MASTERED = 0.95   # learner.mastery.MASTERED (not imported: that module pulls in fsrs for nothing here)
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _cell(text: str, *, sort_value: Any = None, colour: QColor | None = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if sort_value is not None:
        item.setData(Qt.ItemDataRole.UserRole, sort_value)
    if colour is not None:
        item.setBackground(QBrush(colour))
    return item


def mastery_colour(p: float) -> QColor:
    """Red (0) → amber → green (mastered), light enough to read black text on."""
    hue = int(120 * max(0.0, min(1.0, p)))
    return QColor.fromHsv(hue, 90, 245)


class ProgressDialog(QDialog):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Progress")
        self.resize(820, 560)
        self.tabs = QTabWidget()

        # the student's own progress
        self.mine = QWidget()
        self.summary_label = QLabel()
        self.topic_table = QTableWidget(0, 3)
        self.topic_table.setHorizontalHeaderLabels(["Topic", "Mastery", "Answers"])
        self.topic_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.topic_table.verticalHeader().hide()
        self.plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
        self.plot.setBackground("w")
        self.plot.setYRange(0, 1)
        self.plot.setLabel("left", "P(known)")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.addLine(y=MASTERED, pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine))
        self.legend = self.plot.addLegend()
        mine_layout = QVBoxLayout(self.mine)
        mine_layout.addWidget(self.summary_label)
        mine_layout.addWidget(self.topic_table, 1)
        mine_layout.addWidget(self.plot, 2)
        self.tabs.addTab(self.mine, "My progress")

        # teachers only
        self.class_tab = QWidget()
        self.class_table = QTableWidget(0, 0)
        self.class_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.telling_table = QTableWidget(0, 6)
        self.telling_table.setHorizontalHeaderLabels(
            ["Adapter", "Status", "Replies checked", "Gave the answer away", "Telling rate", "Adapter figures"])
        self.telling_table.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.telling_table.verticalHeader().hide()
        class_layout = QVBoxLayout(self.class_tab)
        class_layout.addWidget(QLabel("<b>Mastery by student and topic</b> (P(known); ≥ 95 % counts as mastered)"))
        class_layout.addWidget(self.class_table, 2)
        class_layout.addWidget(QLabel("<b>Hint, don't tell</b>: how often the tutor's reply gave a practice answer "
                                      "away (caught by the guard), per adapter version"))
        class_layout.addWidget(self.telling_table, 1)

        self.disputes_tab = QWidget()
        self.disputes_table = QTableWidget(0, 6)
        self.disputes_table.setHorizontalHeaderLabels(["Student", "Question", "Answer key", "Answer", "Verdict", "Reason"])
        self.disputes_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.disputes_table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.disputes_table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.verdict_choice = QComboBox()
        self.verdict_choice.addItems(list(practice.VERDICTS))
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("Note for the record (optional)")
        self.resolve_button = QPushButton("Decide")
        self.resolve_button.setToolTip("The model's verdict stands if you choose the same; otherwise it is overturned.")
        self.resolve_button.clicked.connect(self.resolve_selected)
        self.dispute_status = QLabel()
        resolve_row = QHBoxLayout()
        resolve_row.addWidget(QLabel("Your verdict:"))
        resolve_row.addWidget(self.verdict_choice)
        resolve_row.addWidget(self.note_edit, 1)
        resolve_row.addWidget(self.resolve_button)
        disputes_layout = QVBoxLayout(self.disputes_tab)
        disputes_layout.addWidget(self.disputes_table, 1)
        disputes_layout.addLayout(resolve_row)
        disputes_layout.addWidget(self.dispute_status)
        self._disputes: list[practice.Dispute] = []

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(buttons)
        ctx.changes.changed.connect(self._on_changed)
        self.reload()

    @Slot(object)
    def _on_changed(self, kind: ChangeKind) -> None:
        if kind in (ChangeKind.PRACTICE, ChangeKind.USERS, ChangeKind.ADAPTERS) and self.isVisible():
            self.reload()

    def reload(self) -> None:
        try:
            self._load_mine()
            self._load_teacher_tabs()
        except StorageError as exc:
            self.summary_label.setText(f"Could not read progress: {exc}")

    # -- the student -----------------------------------------------------------------------------

    def _load_mine(self) -> None:
        student = self.ctx.student
        rows = practice.list_mastery(self.ctx.db, student.id) if student else []
        self.topic_table.setRowCount(len(rows))
        for r, m in enumerate(rows):
            self.topic_table.setItem(r, 0, _cell(m.topic))
            label = f"{m.p_known:.0%}" + (" ✔ mastered" if m.p_known >= MASTERED else "")
            self.topic_table.setItem(r, 1, _cell(label, sort_value=m.p_known, colour=mastery_colour(m.p_known)))
            self.topic_table.setItem(r, 2, _cell(str(m.n_attempts), sort_value=m.n_attempts))
        mastered = sum(m.p_known >= MASTERED for m in rows)
        who = student.name if student else "No profile"
        self.summary_label.setText(f"<b>{who}</b>: {len(rows)} topic{'s' if len(rows) != 1 else ''} practised, "
                                   f"{mastered} mastered." if rows else
                                   f"<b>{who}</b>: no practice yet. Answer a question in the Practice panel "
                                   "and your progress appears here.")
        self.plot.clear()
        self.legend.clear()
        self.plot.addLine(y=MASTERED, pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine))
        self.series: dict[str, tuple[list[float], list[float]]] = {}
        if student is not None:
            for point in practice.mastery_history(self.ctx.db, student.id):
                xs, ys = self.series.setdefault(point.topic, ([], []))
                xs.append(_epoch(point.created_at))
                ys.append(point.p_known)
        for i, (topic, (xs, ys)) in enumerate(sorted(self.series.items())):
            self.plot.plot(xs, ys, pen=pg.mkPen(PALETTE[i % len(PALETTE)], width=2), symbol="o", symbolSize=6,
                           symbolBrush=PALETTE[i % len(PALETTE)], name=topic)
        self.plot.setYRange(0, 1)
        all_x = [x for xs, _ in self.series.values() for x in xs]
        if all_x:
            # at least an hour wide: a first answer alone would otherwise zoom the time axis to milliseconds
            pad = max(0.0, 3600 - (max(all_x) - min(all_x))) / 2
            self.plot.setXRange(min(all_x) - pad, max(all_x) + pad, padding=0.05)

    # -- teachers --------------------------------------------------------------------------------

    def _load_teacher_tabs(self) -> None:
        teacher = self.ctx.teacher
        for tab, title in ((self.class_tab, "Class overview"), (self.disputes_tab, "Disputed verdicts")):
            index = self.tabs.indexOf(tab)
            if teacher is None and index >= 0:
                self.tabs.removeTab(index)
            elif teacher is not None and index < 0:
                self.tabs.addTab(tab, title)
        if teacher is None:
            self.class_table.setRowCount(0)
            self.disputes_table.setRowCount(0)
            return
        self._load_class(teacher)
        self._load_telling()
        self._load_disputes(teacher)

    def _load_class(self, teacher: Any) -> None:
        cells = practice.class_overview(self.ctx.db, teacher)
        students = sorted({(c.student_name.lower(), c.student_name) for c in cells})
        topics = sorted({c.topic.lower(): c.topic for c in cells}.items())
        self.class_table.clear()
        self.class_table.setRowCount(len(students))
        self.class_table.setColumnCount(len(topics))
        self.class_table.setVerticalHeaderLabels([name for _, name in students])
        self.class_table.setHorizontalHeaderLabels([name for _, name in topics])
        row_of = {key: r for r, (key, _) in enumerate(students)}
        col_of = {key: c for c, (key, _) in enumerate(topics)}
        for cell in cells:
            self.class_table.setItem(row_of[cell.student_name.lower()], col_of[cell.topic.lower()],
                                     _cell(f"{cell.p_known:.0%} ({cell.n_attempts})", sort_value=cell.p_known,
                                           colour=mastery_colour(cell.p_known)))

    def _adapter_figures(self) -> dict[int, tuple[str, str]]:
        """version → (status, a short line of its gate figures), read defensively: the adapters
        table and module belong to the adaptation feature and may change shape."""
        try:
            from storage import adapters

            found: dict[int, tuple[str, str]] = {}
            for a in adapters.list_adapters(self.ctx.db):
                metrics = a.metrics if isinstance(a.metrics, dict) else json.loads(a.metrics or "{}")
                figures = ", ".join(f"{k} {v:.3g}" for k, v in sorted(metrics.items())
                                    if isinstance(v, (int, float)) and "loss" in k)[:160]
                gate = {True: "gate passed", False: "gate failed"}.get(getattr(a, "gate_passed", None), "")
                found[a.version] = (a.status, "; ".join(x for x in (gate, figures) if x))
            return found
        except Exception:   # no adapters yet, or a different shape: show the telling rate alone
            log.debug("adapter figures unavailable", exc_info=True)
            return {}

    def _load_telling(self) -> None:
        rates = practice.telling_rates(self.ctx.db)
        figures = self._adapter_figures()
        versions = [r.adapter_version for r in rates]
        rows = rates + [practice.TellingRate(adapter_version=v, checked=0, caught=0, withheld=0)
                        for v in sorted(figures) if v not in versions]
        self.telling_table.setRowCount(len(rows))
        for r, rate in enumerate(rows):
            status, figure = figures.get(rate.adapter_version, ("base model" if rate.adapter_version is None else "", ""))
            name = "base model" if rate.adapter_version is None else f"v{rate.adapter_version}"
            self.telling_table.setItem(r, 0, _cell(name))
            self.telling_table.setItem(r, 1, _cell(status))
            self.telling_table.setItem(r, 2, _cell(str(rate.checked)))
            self.telling_table.setItem(r, 3, _cell(f"{rate.caught} ({rate.withheld} withheld)"))
            self.telling_table.setItem(r, 4, _cell(f"{rate.rate:.0%}" if rate.checked else "–", sort_value=rate.rate))
            self.telling_table.setItem(r, 5, _cell(figure))

    def _load_disputes(self, teacher: Any) -> None:
        self._disputes = practice.list_disputes(self.ctx.db, teacher)
        self.disputes_table.setRowCount(len(self._disputes))
        for r, d in enumerate(self._disputes):
            for c, text in enumerate((d.student_name, d.question, d.answer_key, d.answer, d.verdict, d.reason)):
                self.disputes_table.setItem(r, c, _cell(text))
        n = len(self._disputes)
        self.dispute_status.setText(f"{n} disputed verdict{'s' if n != 1 else ''} waiting." if n else
                                    "No disputed verdicts.")
        self.resolve_button.setEnabled(n > 0)

    @Slot()
    def resolve_selected(self) -> None:
        row = self.disputes_table.currentRow()
        if not 0 <= row < len(self._disputes) or self.ctx.teacher is None:
            self.dispute_status.setText("Select a dispute first.")
            return
        try:
            done = practice.resolve_dispute(self.ctx.db, self.ctx.teacher, self._disputes[row].id,
                                         verdict=self.verdict_choice.currentText(), note=self.note_edit.text())
        except StorageError as exc:
            self.dispute_status.setText(str(exc))
            return
        self.note_edit.clear()
        self.ctx.changes.notify(ChangeKind.PRACTICE)
        self._load_disputes(self.ctx.teacher)
        self.dispute_status.setText(f"{done.student_name}'s dispute: verdict {done.status}. " + self.dispute_status.text())
