"""The main window: sessions on the left, the conversation in the middle, the composer below.

Features (teacher tools, adaptation, the schedule, practice) are given to the window as factories
and plug in through its WindowHost side (app.ui.features): menus, status-bar widgets, docks, the
teacher sign-in and the model host. The window imports none of them.

It owns the model host (the worker thread) and the one reply being written at a time. Messages are
stored as they happen: the student's message when sent, the tutor's reply as a 'generating' row at
once and finished with its final text, status and notice when the worker answers — or, when the
window closes mid-reply, with the partial text as 'stopped'.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QCoreApplication, QEvent, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox, QDockWidget, QHBoxLayout, QLabel, QLineEdit, QMainWindow, QMenu, QMessageBox, QSplitter, QStyle,
    QSystemTrayIcon, QVBoxLayout, QWidget,
)

from app.ui.chat.chat_view import ChatView
from app.ui.chat.composer import Composer
from app.ui.context import AppContext, ChangeKind
from app.ui.errors import present_error
from app.ui.chat.prepare_dialog import PrepareDialog
from app.ui.chat.profile_dialog import choose_profile, grade_label
from app.ui.chat.sessions_sidebar import SessionsSidebar
from app.ui.chat.settings_dialog import SettingsDialog, needs_reload
from app.ui.features import Feature, FeatureFactory, MenuName
from app.ui.teacher_login import TeacherSignIn
from app.ui.worker import FAILED, IDLE, LOADING, READY, ModelHost
from learner.settings import GenerationSettings, load_generation_settings, save_generation_settings
from learner.engine.select import needs_preparation
from learner.maths_record import to_json as maths_json
from storage import NotFoundError, StorageError, chat, review, safeguarding
from storage.chat import Message, Session

if TYPE_CHECKING:
    # learner.tutor imports torch (seconds); the window opens first and the worker imports it.
    from learner.types import MathsCheck, TutorReply, Turn

log = logging.getLogger(__name__)
FeatureT = TypeVar("FeatureT")
NEW_SESSION_TITLE = "New session"
TITLE_FROM_MESSAGE_CHARS = 48
PROGRESS_TICK_MS = 500
SHORTCUTS_HELP = (
    "Chat\n"
    "Enter — send\nShift+Enter — new line\nEsc — stop the reply\nCtrl+N — new session\n"
    "Alt+1 / Alt+2 / Alt+3 — Explain / Hint / Practice\nF2 — rename the session (in the list)\n"
    "Delete — delete the session (in the list)\nCtrl+, — settings\n\n"
    "Practice\n"
    "Ctrl+Shift+P — show or hide the Practice panel\nCtrl+Shift+N — new practice question\n"
    "Ctrl+Shift+G — progress\n\n"
    "Teacher\n"
    "Ctrl+Shift+R — review queue\nCtrl+Shift+D — adaptation\n\n"
    "In the review queue\n"
    "J / K — next / previous item\nA — approve\nE — edit and approve\nR — reject\n"
    "Shift+A — approve the selected items\nCtrl+Z — undo the last decision\n"
    "Esc or Ctrl+W — close a teacher window")
CHARS_PER_TOKEN = 4   # English text in Qwen's tokenizer: the streamed text gives no token count


def estimated_tokens(text: str) -> int:
    return round(len(text) / CHARS_PER_TOKEN)


@dataclass(eq=False)
class PendingReply:
    """The reply being written: where it is stored and what has streamed so far."""
    request_id: int
    session_id: int
    message_id: int
    max_new_tokens: int
    started: float = 0.0            # the window's clock when it was sent
    mode: str = "explain"
    stop_requested: bool = False    # the student pressed Stop: stored as 'stopped' however it ends
    user_message_id: int | None = None   # the student's message it answers (a safeguarding alert names it)
    user_text: str = ""
    stage: str = ""                 # what it waits on before anything streams ("working the problem out")
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts)


class MainWindow(QMainWindow):
    session_opened = Signal(int)   # the session now open (-1: none)

    def __init__(self, ctx: AppContext, *, features: Sequence[FeatureFactory] = ()) -> None:
        super().__init__()
        self.ctx = ctx
        self.session: Session | None = None
        self.pending: PendingReply | None = None
        self._closed = False
        self._clock: Callable[[], float] = time.monotonic
        self._progress_timer = QTimer(self, interval=PROGRESS_TICK_MS)
        self._progress_timer.timeout.connect(self._show_progress)
        self.settings, settings_problem = load_generation_settings(ctx.db)
        self.resize(1100, 760)
        self.setMinimumSize(720, 480)

        self.model = ModelHost(ctx.data_dir, parent=self)
        self.model.state_changed.connect(self._on_model_state)
        worker = self.model.worker
        worker.token.connect(self._on_token)
        worker.stage.connect(self._on_stage)
        worker.finished.connect(self._on_reply_finished)
        worker.cancelled.connect(self._on_reply_cancelled)
        worker.failed.connect(self._on_reply_failed)

        self.sidebar = SessionsSidebar(ctx)
        self.sidebar.session_selected.connect(self.open_session)
        self.sidebar.session_deleted.connect(self._on_session_deleted)
        self.sidebar.new_requested.connect(self.new_session)

        self.title_label = QLabel()
        self.title_label.setStyleSheet("font-size: 16px; font-weight: 600;")
        self.topic_edit = QLineEdit()
        self.topic_edit.setPlaceholderText("Topic or subject, e.g. Fractions")
        self.topic_edit.setMaxLength(120)
        self.topic_edit.setToolTip("The tutor keeps to this topic and mentions it in its answers.")
        self.topic_edit.editingFinished.connect(self._save_topic)
        self.private_check = QCheckBox("Don't use this session for learning")
        self.private_check.setToolTip("Teachers will not see this session for review, and the tutor will "
                                      "not be trained on it.")
        self.private_check.toggled.connect(self._save_private)
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.topic_edit.setMinimumWidth(160)
        header = QWidget()
        header_layout = QVBoxLayout(header)
        header_layout.setContentsMargins(12, 8, 12, 4)
        header_layout.setSpacing(4)
        header_layout.addWidget(self.title_label)
        details = QHBoxLayout()
        details.addWidget(QLabel("Topic:"))
        details.addWidget(self.topic_edit, 1)
        header_layout.addLayout(details)
        # its own line: beside the topic it was cut off in a narrow window (800 × 600, Practice open)
        header_layout.addWidget(self.private_check)

        self.chat = ChatView(ctx)
        self.chat.model_host = self.model
        self.composer = Composer()
        self.composer.send_requested.connect(self.send_message)
        self.composer.prefill_wanted.connect(self.prefill_reply)
        self.composer.stop_requested.connect(self.stop_generation)
        self.composer.retry_requested.connect(self.start_model)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(0)
        right_layout.addWidget(header)
        right_layout.addWidget(self.chat, 1)
        right_layout.addWidget(self.composer)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.sidebar)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([230, 870])
        self.sidebar.setMinimumWidth(160)
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)

        self.model_label = QLabel()
        self.statusBar().addPermanentWidget(self.model_label)
        self._build_menus()
        self.stop_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        self.stop_shortcut.activated.connect(self.stop_generation)
        ctx.changes.changed.connect(self._on_changed)

        self.sidebar.reload()
        sessions = self.sidebar.session_ids()
        self.open_session(sessions[0] if sessions else None)
        # until start_model() runs, the composer and status bar already say "loading model…"
        self.model_label.setText("Model: loading…")
        if settings_problem:
            self.composer.show_status(settings_problem)
        self._tray: QSystemTrayIcon | None = None
        self.features: list[Feature] = [make(self) for make in features]

    def feature(self, kind: type[FeatureT]) -> FeatureT:
        """The installed feature of this type (tests and the features' own wiring look it up)."""
        return next(f for f in self.features if isinstance(f, kind))

    # -- the side a feature sees (app.ui.features.WindowHost) ------------------------------------

    def widget(self) -> QMainWindow:
        return self

    def menu(self, name: MenuName) -> QMenu:
        return {"practice": self.practice_menu, "teacher": self.teacher_menu}[name]

    def set_menu_badge(self, name: MenuName, on: bool) -> None:
        menu = self.menu(name)
        title = self._menu_titles[name]
        menu.setTitle(f"{title} ●" if on else title)

    def add_status_widget(self, widget: QWidget) -> None:
        self.statusBar().addPermanentWidget(widget)

    def add_dock(self, dock: QDockWidget) -> None:
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)

    def show_message(self, text: str, *, timeout_ms: int = 0) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    def notify_desktop(self, text: str) -> None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return
        if self._tray is None:   # a desktop notification, seen even behind other windows
            icon = self.windowIcon() if not self.windowIcon().isNull() else \
                self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxInformation)
            self._tray = QSystemTrayIcon(icon, self)
        self._tray.show()
        self._tray.showMessage("tutorloop", text)

    def show_input_status(self, text: str) -> None:
        self.composer.show_status(text)

    def with_teacher(self, action: Callable[[], None]) -> None:
        self.teacher_sign_in.with_teacher(action)

    # -- menus -----------------------------------------------------------------------------------

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.new_session_action = QAction("&New session", self, shortcut=QKeySequence.StandardKey.New)
        self.new_session_action.triggered.connect(self.new_session)
        self.switch_profile_action = QAction("Switch &profile…", self)
        self.switch_profile_action.triggered.connect(self.switch_profile)
        self.settings_action = QAction("&Settings…", self, shortcut=QKeySequence("Ctrl+,"))
        self.settings_action.triggered.connect(self.open_settings)
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addActions([self.new_session_action, self.switch_profile_action])
        file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)

        session_menu = bar.addMenu("S&ession")
        session_menu.addActions([self.sidebar.rename_action, self.sidebar.topic_action])
        session_menu.addSeparator()
        session_menu.addAction(self.sidebar.delete_action)
        self.stop_action = QAction("&Stop the reply", self)
        self.stop_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.stop_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)  # Esc is the window shortcut
        self.stop_action.triggered.connect(self.stop_generation)
        session_menu.addSeparator()
        session_menu.addAction(self.stop_action)

        # Filled by the features (practice; teacher tools, adaptation and its schedule).
        self.practice_menu = bar.addMenu("&Practice")
        self.teacher_menu = bar.addMenu("&Teacher")
        self._menu_titles: dict[MenuName, str] = {"practice": "&Practice", "teacher": "&Teacher"}
        self.teacher_sign_in = TeacherSignIn(self.ctx, self, on_signed_out=self.show_message)

        help_menu = bar.addMenu("&Help")
        shortcuts = QAction("&Keyboard shortcuts", self)
        shortcuts.triggered.connect(self._show_shortcuts)
        about = QAction("&About tutorloop", self)
        about.triggered.connect(self._show_about)
        help_menu.addActions([shortcuts, about])

    # -- model -----------------------------------------------------------------------------------

    def start_model(self) -> None:
        """Prepare (first start: behind a progress dialog) and load the model in the background."""
        self._load_model(self.settings)

    def _load_model(self, settings: GenerationSettings) -> None:
        try:
            slow = needs_preparation(settings, self.ctx.data_dir)
        except Exception:  # an unusable spec: let the worker's load report it with the learner's message
            slow = False
        self.model.load(settings)
        if slow:
            PrepareDialog(self.model, self).open()

    @Slot(str)
    def _on_model_state(self, state: str) -> None:
        if state == READY:
            self.composer.set_model_state(ready=True)
            self.model_label.setText(f"Model: {self.model.model_id} · {self.model.engine_name}")
            if self.model.engine_notice:
                self.model_label.setToolTip(self.model.engine_notice)
                self.statusBar().showMessage(self.model.engine_notice)
        elif state == LOADING:
            self.composer.set_model_state(loading=True)
            self.model_label.setText("Model: loading…")
        else:
            why = self.model.last_error or "No model is loaded."
            self.composer.set_model_state(
                message=f"{why}\nOpen File ▸ Settings to choose another model source or try again.")
            self.model_label.setText("Model: not loaded")
            if state == FAILED and not self._closed:
                present_error(self, why, title="The model could not be loaded")
        self._update_actions()

    # -- sessions --------------------------------------------------------------------------------

    @Slot()
    def new_session(self) -> None:
        if self.ctx.student is None:
            return
        # an untouched new session is reused rather than piling up empty ones
        if self.session and self.session.title == NEW_SESSION_TITLE and not chat.list_messages(
                self.ctx.db, self.session.id):
            self.composer.input.setFocus()
            return
        try:
            session = chat.create_session(self.ctx.db, self.ctx.student.id, title=NEW_SESSION_TITLE)
        except StorageError as exc:
            present_error(self, exc, title="Could not start a new session")
            return
        self.ctx.changes.notify(ChangeKind.SESSIONS)
        self.open_session(session.id)
        self.composer.input.setFocus()

    @Slot(int)
    def open_session(self, session_id: int | None) -> None:
        try:
            self.session = chat.get_session(self.ctx.db, session_id) if session_id is not None else None
        except NotFoundError:
            self.session = None
        self.sidebar.select(self.session.id if self.session else None)
        self.chat.load_session(self.session.id if self.session else None)
        pending = self.pending
        if pending and self.session and pending.session_id == self.session.id:
            widget = self.chat.widget_for(pending.message_id)
            if widget is not None:
                widget.append_text(pending.text)
        self._show_session_header()
        self.session_opened.emit(self.session.id if self.session else -1)

    def _show_session_header(self) -> None:
        session = self.session
        self.title_label.setText(session.title if session else "No session open")
        self.topic_edit.setText(session.topic if session else "")
        self.topic_edit.setEnabled(session is not None)
        self.private_check.blockSignals(True)
        self.private_check.setChecked(bool(session and session.private))
        self.private_check.blockSignals(False)
        self.private_check.setEnabled(session is not None)
        student = self.ctx.student
        who = f" — {student.name} ({grade_label(student.grade)})" if student else ""
        self.setWindowTitle(f"{session.title if session else 'tutorloop'}{who} — tutorloop"
                            if session else f"tutorloop{who}")
        self._update_actions()

    def _update_actions(self) -> None:
        has_session = self.session is not None
        for action in (self.sidebar.rename_action, self.sidebar.topic_action, self.sidebar.delete_action):
            action.setEnabled(has_session)
        self.stop_action.setEnabled(self.pending is not None)

    @Slot()
    def _save_topic(self) -> None:
        if self.session is None or self.topic_edit.text().strip() == self.session.topic:
            return
        self._update_session(topic=self.topic_edit.text())

    @Slot(bool)
    def _save_private(self, private: bool) -> None:
        if self.session is not None and private != self.session.private:
            self._update_session(private=private)

    def _update_session(self, **changes: object) -> None:
        assert self.session is not None
        try:
            self.session = chat.update_session(self.ctx.db, self.session.id, **changes)  # type: ignore[arg-type]
        except StorageError as exc:
            present_error(self, exc, title="Could not change the session")
            self._show_session_header()
            return
        self.ctx.changes.notify(ChangeKind.SESSIONS)

    @Slot(int)
    def _on_session_deleted(self, session_id: int) -> None:
        if self.pending and self.pending.session_id == session_id:
            self.model.stop(self.pending.request_id)
        if self.session and self.session.id == session_id:
            remaining = [sid for sid in self.sidebar.session_ids() if sid != session_id]
            self.open_session(remaining[0] if remaining else None)

    @Slot(object)
    def _on_changed(self, kind: ChangeKind) -> None:
        if kind is ChangeKind.SESSIONS and self.session is not None:
            try:
                self.session = chat.get_session(self.ctx.db, self.session.id)
            except NotFoundError:
                self.session = None
            self.sidebar.select(self.session.id if self.session else None)
            self._show_session_header()

    @Slot()
    def switch_profile(self) -> None:
        user = choose_profile(self.ctx.db, self)
        if user is None or (self.ctx.student and user.id == self.ctx.student.id):
            return
        self.ctx.student = user
        self.ctx.changes.notify(ChangeKind.USERS)
        sessions = self.sidebar.session_ids()
        self.open_session(sessions[0] if sessions else None)

    # -- conversation ----------------------------------------------------------------------------

    @Slot(str, str)
    def send_message(self, text: str, mode: str) -> None:
        """Store the student's message and an empty 'generating' reply, then ask the worker."""
        if not text.strip():
            self.composer.show_status("Type a question first — an empty message can't be sent.")
            return
        if self.pending is not None or self.model.state != READY or self.ctx.student is None:
            return
        try:
            if self.session is None:
                self.session = chat.create_session(self.ctx.db, self.ctx.student.id, title=NEW_SESSION_TITLE)
            session = self.session
            history = _history(chat.list_messages(self.ctx.db, session.id))
            user_message = chat.add_message(self.ctx.db, session.id, "user", text, mode=mode)  # type: ignore[arg-type]
            reply = chat.add_message(self.ctx.db, session.id, "assistant", "", mode=mode,  # type: ignore[arg-type]
                                     model_id=self.model.model_id, adapter_version=self.model.adapter_version,
                                     status="generating")
            if session.title == NEW_SESSION_TITLE and not history:
                self.session = chat.update_session(self.ctx.db, session.id, title=_title_from(text))
        except StorageError as exc:
            present_error(self, exc, title="Could not send your message")
            return
        from learner.tutor import TutorRequest  # already imported by the worker that loaded the model

        request = TutorRequest(user_text=text, mode=mode, history=history,  # type: ignore[arg-type]
                               grade=_prompt_grade(self.ctx.student.grade), topic=self.session.topic)
        request_id = self.model.generate(request, self.settings)
        self.pending = PendingReply(request_id=request_id, session_id=session.id, message_id=reply.id,
                                    max_new_tokens=self.settings.max_new_tokens, started=self._clock(), mode=mode,
                                    user_message_id=user_message.id, user_text=text)
        self._progress_timer.start()
        if self.chat.session_id != session.id:
            self.chat.load_session(session.id)
        else:
            self.chat.add_message(user_message)
            self.chat.add_message(reply)
        self.composer.clear()
        self.composer.set_generating(True)
        self.ctx.changes.notify(ChangeKind.MESSAGES)
        self.ctx.changes.notify(ChangeKind.SESSIONS)

    @Slot(str, str)
    def prefill_reply(self, mode: str, text: str) -> None:
        """The student is writing: prefill what the reply's prompt holds up to here (the system prompt,
        this conversation, the mode's instructions, the words written so far), so the reply starts
        sooner. Skipped while the model is busy; the next pause catches up."""
        if self.pending is not None or self.ctx.student is None:
            return
        from learner.types import TutorRequest

        try:
            history = _history(chat.list_messages(self.ctx.db, self.session.id)) if self.session else ()
        except StorageError:
            return   # sending will say what is wrong
        request = TutorRequest(user_text=text or "…", mode=mode, history=history,  # type: ignore[arg-type]
                               grade=_prompt_grade(self.ctx.student.grade),
                               topic=self.session.topic if self.session else "")
        self.model.prefill(request, self.settings)

    @Slot()
    def stop_generation(self) -> None:
        if self.pending is not None:
            self.pending.stop_requested = True
            self.model.stop(self.pending.request_id)
            self.composer.show_status("Stopping…")

    @Slot()
    def _show_progress(self) -> None:
        pending = self.pending
        if pending is None:
            self._progress_timer.stop()
            return
        widget = self.chat.widget_for(pending.message_id) if self.chat.session_id == pending.session_id else None
        if widget is not None:
            widget.show_progress(self._clock() - pending.started, estimated_tokens(pending.text), stage=pending.stage)

    @Slot(int, str)
    def _on_stage(self, request_id: int, stage: str) -> None:
        """The reply waits on a stage before it streams (programs for a word problem): say so now."""
        pending = self.pending
        if pending is None or pending.request_id != request_id:
            return
        pending.stage = stage
        self._show_progress()

    @Slot(int, str)
    def _on_token(self, request_id: int, text: str) -> None:
        pending = self.pending
        if pending is None or pending.request_id != request_id:
            return
        pending.stage = ""   # it streams: "writing…" from the next tick
        pending.parts.append(text)
        if self.chat.session_id == pending.session_id:
            widget = self.chat.widget_for(pending.message_id)
            if widget is not None:
                widget.append_text(text)

    @Slot(int, object)
    def _on_reply_finished(self, request_id: int, reply: TutorReply) -> None:
        notice = reply.notice
        pending = self.pending
        if reply.safeguarding is not None and pending is not None and pending.request_id == request_id:
            # The help text, not a generated reply: the alert first, so the reply is never reviewable.
            # Not recorded (a database problem): stored as failed, which is never reviewed either.
            status = "complete" if self._record_alert(pending, reply) else "failed"
            self._finish_pending(request_id, reply.text, status, written_by=(reply.model_id, reply.adapter_version))
            return
        if pending is not None and pending.request_id == request_id and reply.n_tokens >= pending.max_new_tokens:
            # a reply cut off mid-sentence should say why, and what to change
            cut = (f"The reply reached the length limit ({pending.max_new_tokens} tokens) and may be cut off; "
                   "raise “Longest reply” in File ▸ Settings for longer answers.")
            notice = f"{notice}\n{cut}" if notice else cut
        answer_key = reply.answer_key
        if pending is not None and pending.request_id == request_id and pending.mode == "practice":
            answer_key, missing = practice_key(reply.text, answer_key)
            if missing:
                notice = f"{notice}\n{missing}" if notice else missing
        # Stop pressed while a later pass ran (a check, a rewrite): the reply is still the one stopped.
        stopped = pending is not None and pending.request_id == request_id and pending.stop_requested
        self._finish_pending(request_id, reply.text, "stopped" if stopped else "complete", answer_key=answer_key, notice=notice,
                             prompt=reply.messages, written_by=(reply.model_id, reply.adapter_version),
                             maths=reply.maths)

    @Slot(int, object)
    def _on_reply_cancelled(self, request_id: int, reply: TutorReply) -> None:
        self._finish_pending(request_id, reply.text, "stopped", answer_key=reply.answer_key, notice=reply.notice,
                             prompt=reply.messages, written_by=(reply.model_id, reply.adapter_version),
                             maths=reply.maths)

    @Slot(int, str)
    def _on_reply_failed(self, request_id: int, message: str) -> None:
        pending = self.pending
        text = pending.text if pending and pending.request_id == request_id else ""
        self._finish_pending(request_id, text, "failed", notice=f"The tutor could not answer: {message}")

    def _record_alert(self, pending: PendingReply, reply: TutorReply) -> bool:
        """A safeguarding alert for teachers (learner.safeguarding flagged the student's message)."""
        flag = reply.safeguarding
        assert flag is not None
        try:
            safeguarding.record_alert(
                self.ctx.db, text=pending.user_text, category=flag.category, stage=flag.stage, patterns=flag.patterns,
                judge=flag.judge, message_id=pending.user_message_id, reply_id=pending.message_id,
                session_id=pending.session_id, student_id=self.ctx.student.id if self.ctx.student else None)
        except StorageError:
            # The student still gets the help text; the failure is logged for whoever looks after the app.
            log.exception("a safeguarding alert could not be recorded")
            return False
        self.ctx.changes.notify(ChangeKind.SAFEGUARDING)
        return True

    def _finish_pending(self, request_id: int, text: str, status: str, *, answer_key: str | None = None,
                        notice: str | None = None, prompt: Sequence[Mapping[str, str]] = (),
                        written_by: tuple[str, int | None] | None = None,
                        maths: MathsCheck | None = None) -> Message | None:
        """Store the reply's final text and (`written_by`) the model and adapter version that wrote it;
        with `prompt` (the messages it was generated from, as the Tutor built them), also record that
        prompt so an approval snapshots exactly what the model saw; with `maths`, what the maths
        engine computed and changed, for the teacher who reviews it."""
        pending = self.pending
        if pending is None or pending.request_id != request_id:
            return None
        self.pending = None
        self._progress_timer.stop()
        answer_key = (answer_key or "").strip() or None   # an empty key is no key
        stored: Message | None = None
        try:
            stored = chat.finish_message(self.ctx.db, pending.message_id, text, status=status,  # type: ignore[arg-type]
                                         answer_key=answer_key, notice=notice, written_by=written_by,
                                         maths_json=maths_json(maths) if maths is not None else None)
            if prompt and status in ("complete", "stopped"):   # the statuses a teacher reviews
                try:
                    review.record_reply_prompt(self.ctx.db, pending.message_id, prompt)
                except StorageError:
                    # The reply itself is saved (no error box saying otherwise); an approval of it then
                    # renders the prompt from the prompt files instead.
                    log.warning("the prompt of reply %s was not recorded", pending.message_id, exc_info=True)
        except NotFoundError:
            pass  # the session was deleted while the reply was being written
        except StorageError as exc:
            if not self._closed:
                present_error(self, exc, title="Could not save the tutor's reply")
        if not self._closed:
            self.composer.set_generating(False)
            self.composer.show_status({"stopped": "Stopped.", "failed": notice or ""}.get(status, ""))
            if stored is not None and self.chat.session_id == pending.session_id:
                widget = self.chat.widget_for(stored.id)
                if widget is not None:
                    widget.set_message(stored)
            self._update_actions()
            self.ctx.changes.notify(ChangeKind.MESSAGES)
        return stored

    # -- dialogs ---------------------------------------------------------------------------------

    @Slot()
    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, data_folder=self.ctx.data_dir.root, parent=self)
        accepted = dialog.exec() == SettingsDialog.DialogCode.Accepted
        chosen = dialog.result_settings
        dialog.deleteLater()
        if accepted and chosen is not None:
            self.apply_settings(chosen)

    def apply_settings(self, new: GenerationSettings) -> None:
        """Save and apply at once: a new model source or device reloads the model; the rest is
        used from the next message on."""
        try:
            save_generation_settings(self.ctx.db, new)
        except StorageError as exc:
            present_error(self, exc, title="Could not save the settings")
            return
        old, self.settings = self.settings, new
        self.ctx.changes.notify(ChangeKind.SETTINGS)
        if needs_reload(old, new) or self.model.state in (FAILED, IDLE):
            self._load_model(new)

    def _show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", SHORTCUTS_HELP)

    def _show_about(self) -> None:
        QMessageBox.about(self, "About tutorloop", (
            "<b>tutorloop</b><br>A tutor that runs its own language model on this computer and learns "
            f"from what teachers approve.<br><br>Data folder: {self.ctx.data_dir.root}"))

    # -- shutdown --------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the reply, wait for the model thread, and store what was written as 'stopped'."""
        if self._closed:
            return
        self._closed = True
        self.hide()  # waiting for a model step that cannot be interrupted should not look like a hang
        for feature in self.features:
            feature.shutdown()
        self.model.shutdown()
        # The worker's last signals (tokens, the stopped reply) are queued for this thread; deliver
        # them now so the stored reply has every piece that was shown.
        QCoreApplication.sendPostedEvents(None, QEvent.Type.MetaCall)
        if self.pending is not None:
            self._finish_pending(self.pending.request_id, self.pending.text, "stopped")


def practice_key(question: str, answer_key: str | None) -> tuple[str | None, str | None]:
    """A practice reply's answer key and, when there is none to reveal, a notice saying so. A reply
    without a key gets the calculator's when the question is one computation (learner.maths);
    an empty key is never stored."""
    key = (answer_key or "").strip()
    if key:
        return key, None
    from learner.maths import recognise

    found = recognise(question)
    if len(found) == 1:
        return found[0].statement, "The tutor wrote no answer key; this one was worked out by the calculator."
    return None, ("The tutor wrote no answer key for this question, so there is none to reveal. "
                  "Ask again, or use the Practice panel (Ctrl+Shift+N), whose questions always have one.")


def _history(messages: list[Message]) -> tuple[Turn, ...]:
    """Earlier turns for the prompt: the student's messages and the tutor's usable replies."""
    from learner.types import Turn

    return tuple(Turn(role=m.role, content=m.content) for m in messages
                 if m.content.strip() and (m.role == "user" or m.status in ("complete", "stopped")))


def _prompt_grade(grade: str) -> str:
    """"7" alone reads as an age to the model (seen: "explain this to a 7-year-old"); say "grade 7"."""
    grade = grade.strip()
    return f"grade {grade}" if grade.isdigit() else grade


def _title_from(text: str) -> str:
    first_line = " ".join(text.strip().split())
    if len(first_line) <= TITLE_FROM_MESSAGE_CHARS:
        return first_line
    return first_line[:TITLE_FROM_MESSAGE_CHARS].rsplit(" ", 1)[0] + "…"
