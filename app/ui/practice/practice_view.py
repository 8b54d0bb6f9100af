"""The student's Practice panel: a new question on the session's topic, an answer box, the verdict
with feedback about the answer (and the hint for a mistake the maths engine recognised), dispute,
reveal the key with its worked steps, and the "Review due" list. An item whose key nobody could
check says so ("Answer key not checked").

Items on a topic the maths engine has a generator for, and verdicts the engine can give, are
computed here on the UI thread: they are pure, bounded arithmetic and need no model. Model work
(writing an item on another topic, judging an answer the engine cannot read) runs on the window's
model worker as a job (learner.practice.ItemJob / CheckJob); the result comes back as the worker's
`job_finished` signal and is stored here, on the UI thread that owns the database.

`PracticeController` (a window feature, see app.ui.features) docks the panel, fills the Practice
menu, offers due reviews when a session starts, and adds the hint-don't-tell guard as a request
filter: every chat request in Hint mode, or while a practice question is open, is marked with its
answer key (learner.guard.guarded_request), and every reply the guard checked is recorded as a
guard event (the telling rate).
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QPlainTextEdit, QPushButton,
    QVBoxLayout, QWidget,
)

from app.ui.context import AppContext, ChangeKind
from app.ui.features import WindowHost
from app.ui.practice.progress_view import ProgressDialog
from app.ui.worker import READY
from learner.errors import LearnerError
from learner.types import TutorReply, TutorRequest
from storage import NotFoundError, StorageError, ValidationError
from storage import practice

if TYPE_CHECKING:
    from learner.practice import GeneratorFactory

log = logging.getLogger(__name__)

VERDICT_TEXT = {"correct": "✔ Correct", "partly": "◐ Partly correct", "incorrect": "✘ Not quite"}
VERDICT_COLOUR = {"correct": "#1b7f3b", "partly": "#a86400", "incorrect": "#b3261e"}
UNCHECKED_TEXT = "⚠ Answer key not checked"
UNCHECKED_TIP = ("The tutor's model wrote this question and the calculator could not verify its answer key, so a "
                 "verdict on it may be wrong. Dispute it if you think so.")
CHECKED_TEXT = "✓ Answer key checked by the calculator"
# The panel keeps one width: a label growing with what is typed must not move the buttons under the
# pointer; text wraps at word boundaries instead.
PANEL_WIDTH = 320


def _when(due: str) -> str:
    """'in 10 minutes', 'in 3 days', 'now' — the next review, in words."""
    try:
        moment = datetime.fromisoformat(due)
    except ValueError:
        return due
    seconds = (moment - datetime.now(timezone.utc)).total_seconds()
    if seconds <= 60:
        return "now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = round(seconds / size)
            return f"in {n} {unit}{'s' if n != 1 else ''}"
    return "soon"


class PracticePanel(QWidget):
    """What a student sees in the Practice dock."""

    item_opened = Signal(int)          # the practice item now open
    attempt_recorded = Signal(int)     # an attempt was judged and stored (its id)

    def __init__(self, host: WindowHost) -> None:
        super().__init__()
        self.host = host
        self.ctx: AppContext = host.ctx
        self.item: practice.PracticeItem | None = None
        self.attempt: practice.Attempt | None = None
        self.answered = False                         # the open item has been answered at least once
        self._pending: tuple[int, str] | None = None  # (request id, "item" | "check")
        self._pending_answer = ""
        # the waiting line counts the seconds, so a long wait is seen to be progressing
        self._clock: Callable[[], float] = time.monotonic
        self._waiting: tuple[float, str] | None = None   # (started, status text)
        self._wait_timer = QTimer(self, interval=1000)
        self._wait_timer.timeout.connect(self._show_waiting)
        # How jobs on the model worker reach the model; tests put a scripted generator here.
        self.make_generator: GeneratorFactory | None = None
        # Picks the numbers of generated questions; tests seed it.
        self.rng = random.Random()

        self.offer_label = QLabel()
        self.offer_label.setWordWrap(True)
        self.offer_label.setStyleSheet("background: #eef4ff; padding: 6px; border-radius: 4px;")
        self.offer_label.hide()
        self.topic_edit = QLineEdit()
        self.topic_edit.setPlaceholderText("Topic (the session's topic by default)")
        self.topic_edit.setMaxLength(practice.MAX_TOPIC_CHARS)
        self.new_button = QPushButton("New question")
        self.new_button.setToolTip("The tutor writes a question on this topic, at a level that fits your progress.")
        self.new_button.clicked.connect(self.new_question)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        topic_row = QHBoxLayout()
        topic_row.addWidget(self.topic_edit, 1)
        topic_row.addWidget(self.new_button)
        topic_row.addWidget(self.stop_button)

        self.question_label = QLabel("No question yet. Choose a topic and press New question.")
        self.question_label.setWordWrap(True)
        self.question_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.question_label.setStyleSheet("font-size: 14px; padding: 4px 0;")
        self.meta_label = QLabel()
        self.meta_label.setStyleSheet("color: #5f6368;")
        self.key_check_label = QLabel()
        self.key_check_label.setWordWrap(True)

        self.answer_edit = QPlainTextEdit()
        self.answer_edit.setPlaceholderText("Your answer (show your steps if you like)")
        self.answer_edit.setMaximumHeight(110)
        self.answer_edit.textChanged.connect(self._update_count)
        self.count_label = QLabel()
        self.check_button = QPushButton("Check my answer")
        self.check_button.clicked.connect(self.check_answer)
        self.reveal_button = QPushButton("Show the answer key")
        self.reveal_button.clicked.connect(self.reveal_key)
        self.count_label.setStyleSheet("color: #5f6368;")
        answer_row = QHBoxLayout()
        answer_row.addStretch(1)
        answer_row.addWidget(self.reveal_button)
        answer_row.addWidget(self.check_button)

        self.verdict_label = QLabel()
        self.verdict_label.setStyleSheet("font-weight: 600; font-size: 14px;")
        self.feedback_label = QLabel()
        self.feedback_label.setWordWrap(True)
        self.feedback_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint_label = QLabel()        # the hint for the mistake the engine recognised in the answer
        self.hint_label.setWordWrap(True)
        self.hint_label.setStyleSheet("background: #fff7e0; padding: 4px; border-radius: 4px;")
        self.hint_label.hide()
        self.key_label = QLabel()
        self.key_label.setWordWrap(True)
        self.key_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.dispute_edit = QLineEdit()
        self.dispute_edit.setPlaceholderText("Why is this judgement wrong? (optional)")
        self.dispute_edit.setMaxLength(practice.MAX_DISPUTE_REASON_CHARS)
        self.dispute_button = QPushButton("Dispute")
        self.dispute_button.setToolTip("Send this judgement to your teacher to look at.")
        self.dispute_button.clicked.connect(self.dispute)
        dispute_row = QHBoxLayout()
        dispute_row.addWidget(self.dispute_edit, 1)
        dispute_row.addWidget(self.dispute_button)
        self.dispute_box = QWidget()
        self.dispute_box.setLayout(dispute_row)
        dispute_row.setContentsMargins(0, 0, 0, 0)

        self.mastery_label = QLabel()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setStyleSheet("color: #5f6368;")

        self.due_list = QListWidget()
        self.due_list.setToolTip("Questions due for review; open one to answer it again.")
        self.due_list.setWordWrap(True)
        self.due_list.itemActivated.connect(self._open_due)
        self.due_list.itemDoubleClicked.connect(self._open_due)

        layout = QVBoxLayout(self)
        layout.addWidget(self.offer_label)
        layout.addLayout(topic_row)
        layout.addWidget(self.question_label)
        layout.addWidget(self.meta_label)
        layout.addWidget(self.key_check_label)
        layout.addWidget(self.answer_edit)
        layout.addWidget(self.count_label)
        layout.addLayout(answer_row)
        for label in (self.meta_label, self.verdict_label, self.mastery_label, self.count_label):
            label.setWordWrap(True)
        self.setFixedWidth(PANEL_WIDTH)
        layout.addWidget(self.verdict_label)
        layout.addWidget(self.feedback_label)
        layout.addWidget(self.hint_label)
        layout.addWidget(self.key_label)
        layout.addWidget(self.dispute_box)
        layout.addWidget(self.mastery_label)
        layout.addWidget(self.status_label)
        layout.addWidget(QLabel("<b>Review due</b>"))
        layout.addWidget(self.due_list, 1)

        worker = host.model.worker
        worker.job_finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        host.model.state_changed.connect(lambda _state: self._update_buttons())
        self.ctx.changes.changed.connect(self._on_changed)
        self._show_item()
        self.refresh_due()

    # -- helpers ---------------------------------------------------------------------------------

    def _topic(self) -> str:
        typed = self.topic_edit.text().strip()
        if typed:
            return typed
        session = self.host.session
        return session.topic.strip() if session else ""

    def _model_ready(self) -> bool:
        return self.host.model.state == READY

    def _update_buttons(self) -> None:
        busy = self._pending is not None
        has_student = self.ctx.student is not None
        # a generated question or an engine verdict needs no model; new_question / check_answer say
        # so when one that does is asked for before the model is ready
        self.new_button.setEnabled(not busy and has_student)
        self.stop_button.setEnabled(busy)
        self.check_button.setEnabled(not busy and self.item is not None)
        self.reveal_button.setEnabled(self.item is not None and self.item.revealed_at is None)
        self.answer_edit.setReadOnly(busy)
        self.dispute_box.setVisible(self.attempt is not None)
        self.dispute_button.setEnabled(self.attempt is not None and not self.attempt.disputed)
        self.dispute_edit.setEnabled(self.attempt is not None and not self.attempt.disputed)

    def _update_count(self) -> None:
        n = len(self.answer_edit.toPlainText().strip())
        over = n > practice.MAX_ANSWER_CHARS
        self.count_label.setText(f"{n:,} / {practice.MAX_ANSWER_CHARS:,} characters" if n else "")
        self.count_label.setStyleSheet("color: #b3261e;" if over else "color: #5f6368;")

    def show_status(self, text: str) -> None:
        if self._pending is None:
            self._wait_timer.stop()
        self.status_label.setText(text)

    def _show_item(self) -> None:
        item = self.item
        if item is None:
            self.question_label.setText("No question yet. Choose a topic and press New question.")
            self.meta_label.setText("")
            self.key_check_label.setText("")
        else:
            self.question_label.setText(plain_maths(item.question))
            self.meta_label.setText(f"{item.topic} · {item.difficulty}")
            self.key_check_label.setText(CHECKED_TEXT if item.checked else UNCHECKED_TEXT)
            self.key_check_label.setToolTip(item.key_note if item.checked else UNCHECKED_TIP)
            self.key_check_label.setStyleSheet("color: #1b7f3b;" if item.checked else
                                               "color: #a86400; font-weight: 600;")
        self.key_label.setText(_key_html(item) if item is not None and item.revealed_at else "")
        self._show_attempt()
        self._show_mastery()
        self._update_buttons()

    def _show_attempt(self) -> None:
        attempt = self.attempt
        if attempt is None:
            self.verdict_label.setText("")
            self.feedback_label.setText("")
            self.show_hint("")
            return
        self.verdict_label.setText(VERDICT_TEXT[attempt.verdict])
        self.verdict_label.setStyleSheet(f"font-weight: 600; font-size: 14px; color: {VERDICT_COLOUR[attempt.verdict]};")
        note = " (You disputed this; your teacher will look at it.)" if attempt.disputed else ""
        self.feedback_label.setText(plain_maths(attempt.feedback) + note)

    def show_hint(self, hint: str) -> None:
        self.hint_label.setText(f"Hint: {hint}" if hint else "")
        self.hint_label.setVisible(bool(hint))

    def _show_mastery(self) -> None:
        student, topic = self.ctx.student, (self.item.topic if self.item else self._topic())
        if student is None or not topic:
            self.mastery_label.setText("")
            return
        current = practice.get_mastery(self.ctx.db, student.id, topic)
        if current is None:
            self.mastery_label.setText(f"Mastery of {topic}: not measured yet")
        else:
            self.mastery_label.setText(f"Mastery of {current.topic}: {current.p_known:.0%} "
                                       f"({current.n_attempts} answer{'s' if current.n_attempts != 1 else ''})")

    def open_item(self, item_id: int) -> None:
        try:
            self.item = practice.get_item(self.ctx.db, item_id)
        except NotFoundError:
            self.item = None
        self.attempt = None
        self.answer_edit.clear()
        self.show_status("")
        self._show_item()
        if self.item is not None:
            self.item_opened.emit(self.item.id)
            self.answer_edit.setFocus()

    def refresh_due(self) -> list[practice.DueItem]:
        self.due_list.clear()
        student = self.ctx.student
        due = practice.due_items(self.ctx.db, student.id) if student else []
        for entry in due:
            row = QListWidgetItem(f"{entry.item.topic}: {entry.item.question[:80]}")
            row.setData(Qt.ItemDataRole.UserRole, entry.item.id)
            row.setToolTip(entry.item.question)
            self.due_list.addItem(row)
        if not due:
            self.offer_label.hide()   # "Welcome back! 1 … is due" must not outlive the due list
            placeholder = QListWidgetItem("Nothing due. Questions you answer come back here when it's time to review.")
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.due_list.addItem(placeholder)
        return due

    def session_changed(self, session_id: int | None) -> None:
        """Another session is open: a question from a different session and the last action's
        status line go; a question being written still arrives."""
        if self._pending is not None:
            return
        if self.item is not None and self.item.session_id != session_id:
            self.item, self.attempt = None, None
            self.answer_edit.clear()
            self._show_item()
        self.show_status("")
        self.refresh_due()

    @Slot(QListWidgetItem)
    def _open_due(self, row: QListWidgetItem) -> None:
        item_id = row.data(Qt.ItemDataRole.UserRole)
        if item_id is not None and self._pending is None:
            self.offer_label.hide()
            self.open_item(int(item_id))

    def offer_due(self) -> int:
        """At the start of a session: say how many reviews are due (and open the first on request)."""
        due = self.refresh_due()
        if not due:
            self.offer_label.hide()
            return 0
        n = len(due)
        self.offer_label.setText(f"Welcome back! {n} practice question{'s are' if n != 1 else ' is'} due for "
                                 f"review. Double-click one in the Review due list below to answer it again.")
        self.offer_label.show()
        return n

    # -- actions ---------------------------------------------------------------------------------

    @Slot()
    def new_question(self) -> None:
        from learner.practice import ItemJob, generate_item, has_generator, next_difficulty

        student = self.ctx.student
        if student is None or self._pending is not None:
            return
        topic = self._topic()
        if not topic:
            self.show_status("Type a topic first (or set the session's topic), e.g. Fractions.")
            self.topic_edit.setFocus()
            return
        computed = has_generator(topic)
        if not computed and not self._model_ready():
            self.show_status("The model is not ready yet; wait for it to load.")
            return
        try:
            difficulty = next_difficulty(self.ctx.db, student.id, topic)
            avoid = tuple(i.question for i in practice.list_items(self.ctx.db, student.id, topic=topic, limit=5))
            if computed:   # numbers picked and the key computed in code: no model, no waiting
                parsed = generate_item(None, topic=topic, settings=self.host.settings, difficulty=difficulty,
                                       avoid=avoid, rng=self.rng)
                self._store_item(student, parsed, model_id=None, adapter_version=None)
                return
        except (StorageError, LearnerError) as exc:
            self.show_status(str(exc))
            return
        job = ItemJob(topic=topic, grade=student.grade, difficulty=difficulty, avoid=avoid,
                      seed=self.rng.randrange(2 ** 32), make_generator=self.make_generator)
        self._start(job, "item", f"Writing {'an' if difficulty == 'easy' else 'a'} {difficulty} question on {topic}…")

    @Slot()
    def check_answer(self) -> None:
        from learner.practice import AnswerKey, CheckJob, judge_without_model

        item, student = self.item, self.ctx.student
        if item is None or student is None or self._pending is not None:
            return
        try:
            answer = practice.clean_answer(self.answer_edit.toPlainText())
        except ValidationError as exc:   # empty or too long: say so, ask the model nothing, store nothing
            self.show_status(str(exc))
            return
        self._pending_answer = answer
        judgement = judge_without_model(answer, AnswerKey.of(item))
        if judgement is not None:       # the engine's verdict: immediate, and never the model's guess
            try:
                self._store_attempt(student, judgement, model_id=None, adapter_version=None)
            except (StorageError, ValueError) as exc:
                self.show_status(f"Could not save: {exc}")
            return
        if not self._model_ready():
            self.show_status("The calculator cannot read this answer and the model is not ready yet to judge it; "
                             "wait for it to load, or write the answer as a number.")
            return
        job = CheckJob.for_item(item, answer, make_generator=self.make_generator)
        self._start(job, "check", "Checking your answer…")

    def _start(self, job: Any, kind: str, status: str) -> None:
        request_id = self.host.model.run_job(job, self.host.settings)
        self._pending = (request_id, kind)
        self._waiting = (self._clock(), status)
        self._wait_timer.start()
        self.show_status(status)
        self._update_buttons()

    @Slot()
    def _show_waiting(self) -> None:
        if self._pending is None or self._waiting is None:
            self._wait_timer.stop()
            return
        started, text = self._waiting
        self.show_status(f"{text} {int(self._clock() - started)} s")

    @Slot()
    def stop(self) -> None:
        if self._pending is not None:
            self.host.model.stop(self._pending[0])
            self.show_status("Stopping…")

    @Slot()
    def reveal_key(self) -> None:
        if self.item is None:
            return
        try:
            self.item = practice.mark_revealed(self.ctx.db, self.item.id)
        except StorageError as exc:
            self.show_status(str(exc))
            return
        self._show_item()
        self.ctx.changes.notify(ChangeKind.PRACTICE)

    @Slot()
    def dispute(self) -> None:
        attempt, student = self.attempt, self.ctx.student
        if attempt is None or student is None:
            return
        try:
            practice.dispute(self.ctx.db, attempt.id, student.id, reason=self.dispute_edit.text())
            self.attempt = practice.get_attempt(self.ctx.db, attempt.id)
        except StorageError as exc:
            self.show_status(str(exc))
            return
        self.dispute_edit.clear()
        self.show_status("Sent to your teacher. The judgement stays as it is until a teacher decides.")
        self._show_item()
        self.ctx.changes.notify(ChangeKind.PRACTICE)

    # -- worker answers --------------------------------------------------------------------------

    @Slot(int, object)
    def _on_finished(self, request_id: int, result: object) -> None:
        if self._pending is None or self._pending[0] != request_id:
            return
        _, kind = self._pending
        self._pending = None
        student = self.ctx.student
        try:
            if student is None:
                return
            if kind == "item":
                self._store_item(student, result.value, model_id=result.model_id,
                                 adapter_version=result.adapter_version)
            else:
                self._store_attempt(student, result.value, model_id=result.model_id,
                                    adapter_version=result.adapter_version)
        except (StorageError, ValueError) as exc:
            self.show_status(f"Could not save: {exc}")
        finally:
            self._update_buttons()

    def _store_item(self, student: Any, parsed: Any, *, model_id: str | None, adapter_version: int | None) -> None:
        from learner.practice import store_item

        session = self.host.session
        item = store_item(self.ctx.db, student.id, parsed, grade=student.grade,
                          session_id=session.id if session else None, model_id=model_id,
                          adapter_version=adapter_version)
        self.open_item(item.id)
        self.show_status("Answer in the box below, then press Check my answer.")
        self.ctx.changes.notify(ChangeKind.PRACTICE)

    def _store_attempt(self, student: Any, judgement: Any, *, model_id: str | None,
                       adapter_version: int | None) -> None:
        from learner.practice import store_attempt

        if self.item is None:
            return
        done = store_attempt(self.ctx.db, self.item, student.id, answer=self._pending_answer,
                             judgement=judgement, model_id=model_id, adapter_version=adapter_version)
        self.attempt = done.attempt
        self.answered = True
        self.show_status(f"Mastery of {self.item.topic}: {done.p_known_before:.0%} → {done.p_known_after:.0%}. "
                         f"This question comes back for review {_when(done.due)}.")
        self._show_attempt()
        self.show_hint(judgement.hint)
        self._show_mastery()
        self._update_buttons()
        self.refresh_due()
        self.attempt_recorded.emit(done.attempt.id)
        self.ctx.changes.notify(ChangeKind.PRACTICE)

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if self._pending is None or self._pending[0] != request_id:
            return
        self._pending = None
        self.show_status("Stopped." if message.strip() == "Stopped." else message)
        self._update_buttons()

    @Slot(object)
    def _on_changed(self, kind: ChangeKind) -> None:
        if kind is ChangeKind.USERS:
            self.item, self.attempt = None, None
            self.answer_edit.clear()
            self._show_item()
            self.offer_due()
        elif kind in (ChangeKind.PRACTICE, ChangeKind.SESSIONS):
            self._show_mastery()
            self.refresh_due()
            self._update_buttons()

    # -- the hint-don't-tell guard ---------------------------------------------------------------

    def open_key(self) -> tuple[str, str, int] | None:
        """(key, question, item id) of a question the student is working on: open and not yet
        answered correctly or revealed."""
        item = self.item
        if item is None or item.revealed_at is not None:
            return None
        if self.attempt is not None and self.attempt.verdict == "correct":
            return None
        return item.answer_key, item.question, item.id


def plain_maths(text: str) -> str:
    """Model-written text with its LaTeX as plain-text maths (the engine is imported on first use)."""
    from learner.maths import plain_maths as convert

    return convert(text)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _key_html(item: practice.PracticeItem) -> str:
    """The revealed key, its worked steps, and "(not checked)" for a key nobody verified."""
    html = f"<b>Answer key:</b> {_escape(plain_maths(item.answer_key))}"
    if not item.checked:
        html += " <i>(not checked by the calculator)</i>"
    steps = [s for s in item.worked_steps if s.strip()]
    if steps:
        html += "<br>" + "<br>".join(f"&nbsp;&nbsp;{_escape(step)}" for step in steps)
    return html


class PracticeController(QObject):
    """A window feature: the Practice dock and menu, due offers, and the hint-don't-tell guard. A
    QObject living on the UI thread, so the worker's signals reach its slots there (queued)."""

    def __init__(self, host: WindowHost) -> None:
        super().__init__(host.widget())
        self.host = host
        self.ctx = host.ctx
        self.panel = PracticePanel(host)
        self.dock = QDockWidget("Practice", host.widget())
        self.dock.setObjectName("practice-dock")
        self.dock.setWidget(self.panel)
        self.dock.setAllowedAreas(Qt.DockWidgetArea.RightDockWidgetArea | Qt.DockWidgetArea.LeftDockWidgetArea)
        host.add_dock(self.dock)
        self.dock.hide()

        menu = host.menu("practice")
        self.panel_action = self.dock.toggleViewAction()
        self.panel_action.setText("Practice &panel")
        self.panel_action.setShortcut(QKeySequence("Ctrl+Shift+P"))
        self.new_action = QAction("&New question", self, shortcut=QKeySequence("Ctrl+Shift+N"))
        self.new_action.triggered.connect(self._new_question)
        self.progress_action = QAction("&Progress…", self, shortcut=QKeySequence("Ctrl+Shift+G"))
        self.progress_action.triggered.connect(self.open_progress)
        self.review_action = QAction("&Review due questions", self)
        self.review_action.triggered.connect(self.review_due)
        menu.addActions([self.panel_action, self.new_action, self.review_action])
        menu.addSeparator()
        menu.addAction(self.progress_action)
        self._progress: ProgressDialog | None = None

        host.model.add_request_filter(self.guard_request)
        host.model.worker.finished.connect(self._record_guard)
        host.model.worker.cancelled.connect(self._record_guard)
        host.session_opened.connect(self._on_session_opened)
        self._offered_for: int | None = None
        self._offer_text = ""
        host.model.state_changed.connect(self._on_model_state)
        self.offer_due()

    def shutdown(self) -> None:
        if self._progress is not None:
            self._progress.close()

    def offer_due(self) -> None:
        n = self.panel.offer_due()
        if n:
            self.dock.show()
            self._offer_text = (f"{n} practice question{'s are' if n != 1 else ' is'} due for review — "
                                "see the Practice panel.")
            self.host.show_input_status(self._offer_text)

    @Slot(str)
    def _on_model_state(self, state: str) -> None:
        # loading the model rewrites the composer's status line; say it again once the model is ready
        if state == READY and self._offer_text:
            self.host.show_input_status(self._offer_text)
            self._offer_text = ""

    @Slot()
    def review_due(self) -> None:
        """Open the most overdue question (Practice ▸ Review due questions)."""
        self.dock.show()
        due = self.panel.refresh_due()
        if due:
            self.panel.open_item(due[0].item.id)
        else:
            self.panel.show_status("Nothing is due for review right now.")

    @Slot(int)
    def _on_session_opened(self, session_id: int) -> None:
        self.panel.session_changed(session_id if session_id >= 0 else None)
        session = self.host.session
        # "start of a session": a session with no messages yet, offered once
        if session is not None and session.id != self._offered_for:
            try:
                from storage import chat

                fresh = not chat.list_messages(self.ctx.db, session.id)
            except StorageError:
                return
            if fresh:
                self._offered_for = session.id
                self.offer_due()

    @Slot()
    def _new_question(self) -> None:
        self.dock.show()
        self.panel.new_question()

    @Slot()
    def open_progress(self) -> None:
        if self._progress is None:
            self._progress = ProgressDialog(self.ctx, self.host.widget())
        self._progress.reload()
        self._progress.open()

    def guard_request(self, request: TutorRequest) -> TutorRequest:
        """Mark a chat request whose reply must not give away an answer key (runs on the UI thread
        just before the request is queued): any mode while a practice question is open, and Hint
        mode after a practice question in this session."""
        if request.mode == "practice":
            return request
        try:
            from learner.guard import guarded_request

            opened = self.panel.open_key()
            if opened is not None:
                key, question, item_id = opened
                return guarded_request(request, key, context=question, item_id=item_id)
            session = self.host.session
            if request.mode == "hint" and session is not None:
                found = practice.latest_session_key(self.ctx.db, session.id)
                if found is not None:
                    return guarded_request(request, found[0], context=found[1])
        except Exception:   # never lose the student's message over the guard; log it
            log.exception("could not attach the answer key guard")
        return request

    @Slot(int, object)
    def _record_guard(self, _request_id: int, reply: TutorReply) -> None:
        guard = reply.guard
        if guard is None:
            return
        try:
            practice.record_guard_event(
                self.ctx.db, mode=guard.mode, caught=guard.caught, outcome=guard.outcome,
                adapter_version=reply.adapter_version, model_id=reply.model_id, reason=guard.reason,
                user_id=self.ctx.student.id if self.ctx.student else None, item_id=guard.item_id)
        except StorageError:
            log.exception("could not record a guard event")
            return
        self.ctx.changes.notify(ChangeKind.PRACTICE)
