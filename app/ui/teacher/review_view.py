"""The teacher's review queue: a list of tutor replies on the left, the conversation on the right.

Keyboard first: J/K next/previous, A approve, E edit then approve, R reject (with a reason),
Ctrl+Z undo the last decision, Ctrl+A select all, Shift+A approve the selection (after a
confirmation that states the count). The counts (pending, approved since the last adapter,
rejected) stay visible at the top.

Nothing here decides who may do what: storage.review checks the signed-in teacher on every call.
Dialogs are opened with open(), never exec(), so nothing blocks and tests can drive them.
"""
from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from PySide6.QtCore import QDate, Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDateEdit, QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QListWidget,
    QListWidgetItem, QMessageBox, QPlainTextEdit, QPushButton, QSplitter, QTextBrowser, QVBoxLayout, QWidget,
)

from app.ui.context import AppContext, ChangeKind
from app.ui.errors import present_error
from app.ui.why_panel import WhyPanel
from app.ui.window_keys import add_close_keys
from learner.maths import plain_maths
from learner.maths_record import teacher_lines
from learner.review_prompt import prompt_messages_for
from storage import StorageError, practice, review
from storage.chat import MODES
from storage.users import User
from storage.review import QueueFilter, ReviewItem

ANY = "Any"
NO_DATE = QDate(2000, 1, 1)   # the date edits' minimum, shown as "any date"
COMMON_REASONS = (
    "Wrong answer or wrong working",
    "Gives the answer away (should guide instead)",
    "Unclear or too long for the student's grade",
    "Off topic or unhelpful",
)
# Words, not 👍/👎: without an emoji font those draw as empty boxes. The chat's buttons say the same.
RATING_MARK = {-1: "[Not helpful]", 1: "[Helpful]"}
# Rows in the list at once: the teacher works from the top (👎 first, oldest first), and
# rebuilding tens of thousands of rows after every key press would make each decision sluggish.
DISPLAY_LIMIT = 500


class _RequiredTextDialog(QDialog):
    """A modal dialog whose accept button works only while `value()` is not empty."""

    def __init__(self, title: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(True)
        self.layout_ = QVBoxLayout(self)

    def _add_buttons(self, accept_label: str) -> QPushButton:
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        button = self.buttons.addButton(accept_label, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.layout_.addWidget(self.buttons)
        self._accept_button = button
        return button

    def value(self) -> str:
        raise NotImplementedError

    @Slot()
    def _update(self) -> None:
        self._accept_button.setEnabled(bool(self.value()))


class EditReplyDialog(_RequiredTextDialog):
    """Rewrite the reply, then approve. Pre-filled with the student's suggested better answer when
    there is one, otherwise with the reply."""

    def __init__(self, item: ReviewItem, prefill: str, parent: QWidget | None = None) -> None:
        super().__init__(f"Edit and approve {item.key}", parent)
        student = QLabel(f"<b>Student:</b> {html.escape(item.student_message)}")
        student.setWordWrap(True)
        self.layout_.addWidget(student)
        if item.suggestion:
            self.layout_.addWidget(QLabel("Pre-filled with the student's suggested better answer."))
        self.editor = QPlainTextEdit(prefill)
        self.layout_.addWidget(self.editor, 1)
        self.approve_button = self._add_buttons("Approve edited reply")
        self.approve_button.setShortcut(QKeySequence("Ctrl+Return"))
        self.editor.textChanged.connect(self._update)
        self._update()
        self.resize(640, 420)
        self.editor.setFocus()

    def value(self) -> str:
        return self.editor.toPlainText().strip()


class RejectDialog(_RequiredTextDialog):
    """A reason is required; common reasons are one click away."""

    def __init__(self, item: ReviewItem, parent: QWidget | None = None) -> None:
        super().__init__(f"Reject {item.key}", parent)
        self.layout_.addWidget(QLabel("Why is this reply not fit to learn from? (kept with the decision)"))
        self.reason_edit = QComboBox()
        self.reason_edit.setEditable(True)
        self.reason_edit.addItems(("",) + COMMON_REASONS)
        self.reason_edit.setCurrentIndex(0)
        self.layout_.addWidget(self.reason_edit)
        self.reject_button = self._add_buttons("Reject")
        self.reason_edit.editTextChanged.connect(self._update)
        self._update()
        self.reason_edit.setFocus()

    def value(self) -> str:
        return self.reason_edit.currentText().strip()


class ReviewView(QWidget):
    """The queue for the signed-in teacher (ctx.teacher)."""

    decided = Signal(str)   # a short description of the last decision, also shown in the status line

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Review queue")
        self.dialog: QDialog | QMessageBox | None = None   # the open edit/reject/confirm dialog, if any
        self._items: list[ReviewItem] = []
        self._notifying = False

        self.counts_label = QLabel()
        self.counts_label.setObjectName("reviewCounts")
        self.status_filter = QComboBox()
        self.status_filter.addItems(["pending", "approved", "rejected"])
        self.student_filter = QComboBox()
        self.topic_filter = QComboBox()
        self.mode_filter = QComboBox()
        self.mode_filter.addItems([ANY, *MODES])
        self.rating_filter = QComboBox()
        for label, value in ((ANY, None), ("Not helpful only", "down"), ("Helpful only", "up"), ("Unrated", "unrated")):
            self.rating_filter.addItem(label, value)
        self.since_edit, self.until_edit = self._date_edit(), self._date_edit()
        filters = QHBoxLayout()
        for label, widget in (("Show", self.status_filter), ("Student", self.student_filter),
                              ("Topic", self.topic_filter), ("Mode", self.mode_filter),
                              ("Rating", self.rating_filter), ("From", self.since_edit), ("To", self.until_edit)):
            filters.addWidget(QLabel(label))
            filters.addWidget(widget)
        filters.addStretch(1)

        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setAlternatingRowColors(True)
        self.list.currentRowChanged.connect(self._show_current)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.detail = QTextBrowser()
        self.detail.setOpenLinks(False)

        self.approve_button = QPushButton("&Approve  (A)")
        self.edit_button = QPushButton("&Edit…  (E)")
        self.reject_button = QPushButton("&Reject…  (R)")
        self.bulk_button = QPushButton("Approve selected  (Shift+A)")
        self.undo_button = QPushButton("Undo  (Ctrl+Z)")
        self.why_button = QPushButton("Why this answer?")
        self.why_button.setToolTip("The model and adapter that wrote this reply, its gate, and the approved "
                                   "examples closest to it")
        self.why_button.clicked.connect(self.explain_current)
        self.model_host: object | None = None   # the window's ModelHost (set by the Teacher menu): influence
        self.why_panel: WhyPanel | None = None
        self.approve_button.clicked.connect(self.approve_current)
        self.edit_button.clicked.connect(self.edit_current)
        self.reject_button.clicked.connect(self.reject_current)
        self.bulk_button.clicked.connect(self.approve_selected)
        self.undo_button.clicked.connect(self.undo_last)
        buttons = QHBoxLayout()
        for b in (self.approve_button, self.edit_button, self.reject_button, self.bulk_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.why_button)
        buttons.addWidget(self.undo_button)
        self.status_line = QLabel()
        self.status_line.setWordWrap(True)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.detail, 1)
        right_layout.addLayout(buttons)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.list)
        splitter.addWidget(right)
        splitter.setSizes([380, 620])
        splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.addWidget(self.counts_label)
        layout.addLayout(filters)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status_line)
        layout.addWidget(self._build_disputes())

        # Letter keys act only while the list, the conversation or the decision buttons have focus,
        # so typing into a filter (a combo box's type-ahead) can never approve anything.
        self.shortcuts: dict[str, QShortcut] = {}
        for keys, slot, scope in (("J", self.next_item, splitter), ("K", self.previous_item, splitter),
                                  ("A", self.approve_current, splitter), ("E", self.edit_current, splitter),
                                  ("R", self.reject_current, splitter), ("Shift+A", self.approve_selected, splitter),
                                  (QKeySequence.StandardKey.Undo, self.undo_last, self)):
            shortcut = QShortcut(QKeySequence(keys), scope)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
            self.shortcuts[str(keys)] = shortcut

        self._reload_filter_options()
        for combo in (self.status_filter, self.student_filter, self.topic_filter, self.mode_filter, self.rating_filter):
            combo.currentIndexChanged.connect(self.refresh)
        self.since_edit.dateChanged.connect(self.refresh)
        self.until_edit.dateChanged.connect(self.refresh)
        ctx.changes.changed.connect(self._on_changed)
        self.resize(1100, 700)
        self.refresh()
        self.list.setFocus()
        add_close_keys(self)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        # focus set before the window is shown does not stick: J/K must work without a click first
        super().showEvent(event)
        self.list.setFocus()

    # -- building blocks ---------------------------------------------------------------------------

    @staticmethod
    def _date_edit() -> QDateEdit:
        edit = QDateEdit()
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd")
        edit.setMinimumDate(NO_DATE)
        edit.setSpecialValueText("any date")
        edit.setDate(NO_DATE)
        return edit

    @property
    def teacher(self) -> User:
        if self.ctx.teacher is None:
            raise StorageError("No teacher is signed in; sign in from the Teacher menu.")
        return self.ctx.teacher

    def _reload_filter_options(self) -> None:
        try:
            options = review.filter_options(self.ctx.db, self.teacher)
        except StorageError:
            return
        for combo, entries in ((self.student_filter, [(name, sid) for sid, name in options.students]),
                               (self.topic_filter, [(t, t) for t in options.topics])):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(ANY, None)
            for label, value in entries:
                combo.addItem(label, value)
            index = combo.findData(current) if current is not None else 0
            combo.setCurrentIndex(max(index, 0))
            combo.blockSignals(False)

    def current_filter(self) -> QueueFilter:
        mode = self.mode_filter.currentText()
        since = self.since_edit.date()
        until = self.until_edit.date()
        return QueueFilter(
            status=self.status_filter.currentText(),  # type: ignore[arg-type]
            student_id=self.student_filter.currentData(), topic=self.topic_filter.currentData(),
            mode=None if mode == ANY else mode, rating=self.rating_filter.currentData(), limit=DISPLAY_LIMIT,
            since=None if since == NO_DATE else since.toString("yyyy-MM-dd"),
            until=None if until == NO_DATE else until.toString("yyyy-MM-dd"),
        )

    # -- loading -----------------------------------------------------------------------------------

    @Slot()
    def refresh(self, *, select_key: str | None = None, keep_row: int | None = None) -> None:
        previous_key = self.current_item().key if self.current_item() else None
        try:
            self._items = review.list_queue(self.ctx.db, self.teacher, self.current_filter())
            shown_all = len(self._items) < DISPLAY_LIMIT
            counts = review.counts(self.ctx.db, self.teacher)
        except StorageError as exc:
            self._items = []
            self.list.clear()
            self.detail.setPlainText(str(exc))
            self._update_buttons()
            return
        self.counts_label.setText(
            f"<b>{counts.pending}</b> pending · <b>{counts.approved_since_adapter}</b> approved since the last "
            f"adapter ({counts.approved_total} in all) · <b>{counts.rejected}</b> rejected"
            + ("" if shown_all else f" · showing the first {DISPLAY_LIMIT}; narrow the filters to see others"))
        self.list.blockSignals(True)
        self.list.clear()
        for item in self._items:
            mark = RATING_MARK.get(item.rating or 0, "")
            who = item.student_name or "(imported)"
            first_line = f"{mark} {who} · {item.topic or '—'} · {item.mode or '—'} · {local_time(item.created_at)}".strip()
            reply = item.approved_completion or item.reply
            text = f"{first_line}\nQ: {_one_line(item.student_message, 70)}\nA: {_one_line(reply, 70)}"
            entry = QListWidgetItem(text)
            entry.setData(Qt.ItemDataRole.UserRole, item.key)
            entry.setToolTip(f"{item.key} · {item.created_at}")
            self.list.addItem(entry)
        self.list.blockSignals(False)
        keys = [i.key for i in self._items]
        target = select_key or previous_key
        if target in keys:
            row = keys.index(target)
        elif keep_row is not None and self._items:
            row = min(keep_row, len(self._items) - 1)
        else:
            row = 0 if self._items else -1
        self.list.setCurrentRow(row)
        self._show_current(row)
        self._update_buttons()

    @Slot(object)
    def _on_changed(self, kind: ChangeKind) -> None:
        if self._notifying:
            return
        if kind in (ChangeKind.MESSAGES, ChangeKind.FEEDBACK, ChangeKind.SESSIONS, ChangeKind.USERS, ChangeKind.ADAPTERS, ChangeKind.REVIEWS):
            if kind in (ChangeKind.SESSIONS, ChangeKind.USERS, ChangeKind.MESSAGES):
                self._reload_filter_options()
            self.refresh()
        if kind is ChangeKind.PRACTICE:
            self.load_disputes()

    # -- disputed practice verdicts ----------------------------------------------------------------

    def _build_disputes(self) -> QWidget:
        """Practice verdicts students disputed: the question, key, answer, verdict and reason, and a
        teacher's decision (the verdict stands or is changed; audited by storage)."""
        box = QWidget()
        box_layout = QVBoxLayout(box)
        box_layout.setContentsMargins(0, 4, 0, 0)
        self.disputes_label = QLabel()
        self.disputes_list = QListWidget()
        self.disputes_list.setMaximumHeight(110)
        self.dispute_verdict = QComboBox()
        self.dispute_verdict.addItems(["correct", "partly", "incorrect"])
        self.dispute_verdict.setToolTip("The verdict the answer deserves; the same as before upholds it.")
        self.resolve_button = QPushButton("Resolve dispute")
        self.resolve_button.clicked.connect(self.resolve_dispute)
        row = QHBoxLayout()
        row.addWidget(QLabel("Verdict:"))
        row.addWidget(self.dispute_verdict)
        row.addWidget(self.resolve_button)
        row.addStretch(1)
        box_layout.addWidget(self.disputes_label)
        box_layout.addWidget(self.disputes_list)
        box_layout.addLayout(row)
        self._disputes: list[practice.Dispute] = []
        self.load_disputes()
        return box

    def load_disputes(self) -> None:
        try:
            self._disputes = practice.list_disputes(self.ctx.db, self.teacher)
        except StorageError as exc:
            self._disputes = []
            self.disputes_label.setText(str(exc))
        self.disputes_list.clear()
        for d in self._disputes:
            entry = QListWidgetItem(f"{d.student_name} · {local_time(d.created_at)} · judged {d.verdict}\n"
                                    f"Q: {_one_line(d.question, 60)}  Key: {_one_line(d.answer_key, 20)}  "
                                    f"Answer: {_one_line(d.answer, 20)}\nWhy: {_one_line(d.reason or '—', 80)}")
            self.disputes_list.addItem(entry)
        n = len(self._disputes)
        self.disputes_label.setText(f"<b>Disputed practice verdicts</b>: {n} waiting" if n else
                                    "<b>Disputed practice verdicts</b>: none waiting")
        if n:
            self.disputes_list.setCurrentRow(0)
        self.disputes_list.setVisible(bool(n))
        self.resolve_button.setEnabled(bool(n))
        self.dispute_verdict.setEnabled(bool(n))

    @Slot()
    def resolve_dispute(self) -> None:
        row = self.disputes_list.currentRow()
        if not 0 <= row < len(self._disputes):
            return
        try:
            done = practice.resolve_dispute(self.ctx.db, self.teacher, self._disputes[row].id,
                                         verdict=self.dispute_verdict.currentText())
        except StorageError as exc:
            self.status_line.setText(str(exc))
            return
        self.status_line.setText(f"{done.student_name}'s dispute: verdict {done.status}.")
        self._notifying = True
        try:
            self.ctx.changes.notify(ChangeKind.PRACTICE)
        finally:
            self._notifying = False
        self.load_disputes()

    def current_item(self) -> ReviewItem | None:
        row = self.list.currentRow()
        return self._items[row] if 0 <= row < len(self._items) else None

    def selected_keys(self) -> list[str]:
        return [self._items[self.list.row(entry)].key for entry in self.list.selectedItems()]

    @Slot(int)
    def _show_current(self, row: int) -> None:
        item = self._items[row] if 0 <= row < len(self._items) else None
        if item is None:
            self.detail.setHtml("<p><i>Nothing to review here. Change the filters, or wait for new chats.</i></p>")
            return
        try:
            detail = review.get_detail(self.ctx.db, self.teacher, item.key)
        except StorageError as exc:
            self.detail.setPlainText(str(exc))
            return
        self.detail.setHtml(_detail_html(detail))

    @Slot()
    def _update_buttons(self) -> None:
        pending = self.status_filter.currentText() == "pending"
        has_item = self.current_item() is not None
        for button in (self.approve_button, self.edit_button, self.reject_button):
            button.setEnabled(pending and has_item)
        selected = len(self.list.selectedItems())
        self.why_button.setEnabled(has_item and self.current_item().key.startswith("m"))  # type: ignore[union-attr]
        self.bulk_button.setEnabled(pending and selected > 1)
        self.bulk_button.setText(f"Approve selected ({selected})  (Shift+A)" if selected > 1
                                 else "Approve selected  (Shift+A)")

    # -- navigation --------------------------------------------------------------------------------

    def show_item(self, key: str) -> None:
        """Select item `key` (an approved example's source, from "Why this answer?"): every filter is
        cleared and the list shows approved items."""
        widgets = (self.status_filter, self.student_filter, self.topic_filter, self.mode_filter, self.rating_filter,
                   self.since_edit, self.until_edit)
        for widget in widgets:
            widget.blockSignals(True)
        self.status_filter.setCurrentText("approved")
        for combo in (self.student_filter, self.topic_filter, self.mode_filter, self.rating_filter):
            combo.setCurrentIndex(0)
        self.since_edit.setDate(NO_DATE)
        self.until_edit.setDate(NO_DATE)
        for widget in widgets:
            widget.blockSignals(False)
        self.refresh(select_key=key)
        if self.current_item() is None or self.current_item().key != key:  # type: ignore[union-attr]
            self.status_line.setText(f"Item {key} is not in the queue any more (its chat may have been deleted).")

    @Slot()
    def explain_current(self) -> None:
        item = self.current_item()
        if item is None or not item.key.startswith("m"):
            return
        if self.why_panel is not None:
            self.why_panel.close()
        self.why_panel = WhyPanel(self.ctx, int(item.key[1:]), host=self.model_host, parent=self)
        self.why_panel.finished.connect(lambda _result: setattr(self, "why_panel", None))
        self.why_panel.open()

    @Slot()
    def next_item(self) -> None:
        if self._items:
            self.list.setCurrentRow(min(self.list.currentRow() + 1, len(self._items) - 1))

    @Slot()
    def previous_item(self) -> None:
        if self._items:
            self.list.setCurrentRow(max(self.list.currentRow() - 1, 0))

    # -- decisions ---------------------------------------------------------------------------------

    def _pending_current(self) -> ReviewItem | None:
        item = self.current_item()
        if item is None or self.dialog is not None:
            return None
        if item.status != "pending":
            self._say(f"{item.key} is already {item.status}; Ctrl+Z undoes your last decision.")
            return None
        return item

    def _notify(self, kind: ChangeKind) -> None:
        """Tell other views; this one has already refreshed itself (keeping its place in the list)."""
        self._notifying = True
        try:
            self.ctx.changes.notify(kind)
        finally:
            self._notifying = False

    def _after_decision(self, message: str, row: int) -> None:
        self.refresh(keep_row=row)
        self._notify(ChangeKind.REVIEWS)
        self._say(message)
        self.decided.emit(message)

    def _say(self, message: str) -> None:
        self.status_line.setText(message)

    def _fail(self, error: Exception) -> None:
        self._say(str(error))
        present_error(self, error, title="Review")
        self.refresh()

    def _decide(self, decision: Callable[[], object], done: str, row: int) -> None:
        """Run one decision; on success say `done` and move on from `row`, else show why."""
        try:
            decision()
        except (StorageError, ValueError, OSError) as exc:
            self._fail(exc)
            return
        self._after_decision(done, row)

    @Slot()
    def approve_current(self) -> None:
        if len(self.list.selectedItems()) > 1:
            self.approve_selected()   # A on a multi-selection still asks first
            return
        item = self._pending_current()
        if item is None:
            return
        row = self.list.currentRow()
        self._decide(lambda: review.approve(self.ctx.db, self.teacher, item.key, prompt_for=prompt_messages_for),
                     f"Approved {item.key}. Ctrl+Z to undo.", row)

    @Slot()
    def edit_current(self) -> None:
        item = self._pending_current()
        if item is None:
            return
        try:
            prefill = review.editor_prefill(self.ctx.db, self.teacher, item.key)
        except StorageError as exc:
            self._fail(exc)
            return
        dialog = EditReplyDialog(item, prefill, self)
        row = self.list.currentRow()

        def done(result: int) -> None:
            self.dialog = None
            if result != QDialog.DialogCode.Accepted:
                return
            self._decide(lambda: review.edit_and_approve(self.ctx.db, self.teacher, item.key, dialog.value(),
                                                         prompt_for=prompt_messages_for),
                         f"Approved {item.key} with your edit. Ctrl+Z to undo.", row)

        self._open(dialog, done)

    @Slot()
    def reject_current(self) -> None:
        item = self._pending_current()
        if item is None:
            return
        dialog = RejectDialog(item, self)
        row = self.list.currentRow()

        def done(result: int) -> None:
            self.dialog = None
            if result != QDialog.DialogCode.Accepted:
                return
            self._decide(lambda: review.reject(self.ctx.db, self.teacher, item.key, dialog.value()),
                         f"Rejected {item.key}: {dialog.value()}. Ctrl+Z to undo.", row)

        self._open(dialog, done)

    @Slot()
    def approve_selected(self) -> None:
        if self.dialog is not None or self.status_filter.currentText() != "pending":
            return
        keys = self.selected_keys()
        if not keys:
            self._say("Nothing is selected. Shift+click or Ctrl+A to select several replies.")
            return
        count = len(keys)
        box = QMessageBox(QMessageBox.Icon.Question, "Approve selected",
                          f"Approve {count} selected repl{'ies' if count != 1 else 'y'} as training examples?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        box.setInformativeText("Each becomes an example the model learns from. Ctrl+Z undoes the whole group.")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)   # Enter alone never approves a group
        box.button(QMessageBox.StandardButton.Yes).setText(f"Approve {count}")
        row = min(self.list.row(e) for e in self.list.selectedItems())

        def done(result: int) -> None:
            self.dialog = None
            if box.clickedButton() is not box.button(QMessageBox.StandardButton.Yes):
                return
            self._decide(lambda: review.approve_many(self.ctx.db, self.teacher, keys, prompt_for=prompt_messages_for),
                         f"Approved {count} replies. Ctrl+Z undoes all {count}.", row)

        self._open(box, done)

    @Slot()
    def undo_last(self) -> None:
        if self.dialog is not None:
            return
        try:
            result = review.undo_last(self.ctx.db, self.teacher)
        except StorageError as exc:
            self._say(str(exc))
            return
        if self.status_filter.currentText() != "pending":
            self.status_filter.setCurrentIndex(0)
        self.refresh(select_key=result.keys[0])
        self._notify(ChangeKind.REVIEWS)
        noun = "decision" if len(result.keys) == 1 else f"approval of {len(result.keys)} replies"
        self._say(f"Undid the {noun} ({', '.join(result.keys[:5])}{'…' if len(result.keys) > 5 else ''}); "
                  "pending again.")

    def _open(self, dialog: QDialog | QMessageBox, done) -> None:
        self.dialog = dialog
        dialog.finished.connect(done)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _para(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def local_time(stamp: str, *, now: datetime | None = None) -> str:
    """A stored UTC timestamp in this computer's time, in words: "today 14:02", "yesterday 09:15",
    "28 Nov 14:02", "28 Nov 2025 14:02". Anything unreadable is shown as it is."""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone()
    today = (now or datetime.now(timezone.utc)).astimezone().date()
    clock = moment.strftime("%H:%M")
    if moment.date() == today:
        return f"today {clock}"
    if moment.date() == today - timedelta(days=1):
        return f"yesterday {clock}"
    day = f"{moment.day} {moment.strftime('%b')}"
    return f"{day} {clock}" if moment.year == today.year else f"{day} {moment.year} {clock}"


def _detail_html(detail: review.ReviewDetail) -> str:
    item = detail.item
    who = {"user": "Student", "assistant": "Tutor", "system": "Instructions"}
    parts = [f"<p style='color:#5f6368'>{html.escape(item.key)} · {html.escape(item.student_name or item.session_title)}"
             f" · {html.escape(item.topic or 'no topic')} · {html.escape(item.mode or 'no mode')}"
             f" · grade {html.escape(item.grade or '—')} · {html.escape(local_time(item.created_at))}</p>"]
    if detail.context:
        parts.append("<p style='color:#5f6368'><b>Earlier in the conversation</b></p>")
        for turn in detail.context:
            parts.append(f"<p style='color:#5f6368'><b>{who.get(turn.role, turn.role)}:</b> {_para(turn.content)}</p>")
    parts.append(f"<h3>Student</h3><p>{_para(item.student_message)}</p>")
    parts.append(f"<h3>Tutor {RATING_MARK.get(item.rating or 0, '')}</h3><p>{_para(plain_maths(item.reply))}</p>")
    if maths := teacher_lines(item.maths_json):   # what the maths engine verified or changed, if recorded
        parts.append("<p style='color:#1a5e20'>" + "<br>".join(html.escape(line) for line in maths) + "</p>")
    if item.suggestion:
        parts.append(f"<h3>Student's suggested better answer</h3><p>{_para(item.suggestion)}</p>")
    if item.decision:
        line = f"{item.decision.capitalize()} by {item.decided_by}, {local_time(item.decided_at or '')}"
        if item.reason:
            line += f": {item.reason}"
        parts.append(f"<p><i>{html.escape(line)}</i></p>")
        if item.approved_completion and item.approved_completion != item.reply:
            parts.append(f"<h3>Approved as</h3><p>{_para(plain_maths(item.approved_completion))}</p>")
    return "\n".join(parts)
