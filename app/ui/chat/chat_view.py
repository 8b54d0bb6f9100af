"""The conversation: one widget per message, Markdown rendered, feedback under each reply.

`ChatView` shows one session. Replies stream into a `MessageWidget` (re-rendered on a short timer
so a fast model does not re-parse Markdown for every token); when a reply is finished the widget
takes the stored `Message` and shows the Helpful / Not helpful / "Suggest a better answer" row, the learner's
notice and, for practice questions, the "Reveal answer key" button. Feedback is written to
storage here, on the UI thread (a single-row SQLite write).
"""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QPalette, QTextBlockFormat, QTextCursor, QTextFormat
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QScrollArea,
    QSizePolicy, QTextBrowser, QVBoxLayout, QWidget,
)

from app.ui.context import AppContext, ChangeKind
from app.ui.errors import present_error
from app.ui.why_panel import WhyPanel
from learner.maths import plain_maths
from storage import StorageError, chat
from storage.chat import Feedback, Message

MODE_LABELS = {"explain": "Explain", "hint": "Hint", "practice": "Practice"}
# A user message longer than this is shown folded; the whole text is one click away.
FOLD_USER_CHARS = 3000
STREAM_RENDER_MS = 40
NARROW_CHAT_PX = 480   # below this the feedback controls of a reply take two lines
# Secondary text (role headers, hints, confirmations): #5f6368 on white is 6.0:1, above WCAG AA's
# 4.5:1; the palette's "mid" grey it replaces was about 2.8:1.
MUTED_TEXT = "#5f6368"


class MarkdownView(QTextBrowser):
    """Read-only text whose height follows its content, so the chat scrolls as one page."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setOpenExternalLinks(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("QTextBrowser { background: transparent; }")
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)
        self._fit_height()

    def set_markdown(self, text: str) -> None:
        self.setMarkdown(text)
        _shade_code_blocks(self)

    def set_plain(self, text: str) -> None:
        self.setPlainText(text)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(400, self.height())

    @Slot()
    def _fit_height(self, *_: object) -> None:
        height = int(self.document().size().height()) + 2 * self.frameWidth() + 2
        if height != self.height():
            self.setFixedHeight(max(height, 18))


def _shade_code_blocks(view: QTextBrowser) -> None:
    """Qt's Markdown importer gives fenced code a monospace font but no background; add one so
    code stands apart from prose."""
    shade = view.palette().color(QPalette.ColorRole.AlternateBase)
    if shade == view.palette().color(QPalette.ColorRole.Base):
        shade = QColor(0, 0, 0, 18)
    cursor = QTextCursor(view.document())
    block = view.document().begin()
    cursor.beginEditBlock()
    while block.isValid():
        fmt = block.blockFormat()
        if fmt.hasProperty(QTextFormat.Property.BlockCodeFence) or fmt.hasProperty(
                QTextFormat.Property.BlockCodeLanguage):
            shaded = QTextBlockFormat()
            shaded.setBackground(shade)
            cursor.setPosition(block.position())
            cursor.mergeBlockFormat(shaded)
        block = block.next()
    cursor.endEditBlock()


class SuggestionDialog(QDialog):
    """"Suggest a better answer": free text, stored as feedback for the teacher to review."""

    def __init__(self, current: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Suggest a better answer")
        self.resize(520, 300)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("What should the tutor have said? Your teacher sees this when reviewing."))
        self.editor = QPlainTextEdit(current)
        self.editor.setPlaceholderText("Write the better answer here…")
        layout.addWidget(self.editor)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    @classmethod
    def ask(cls, current: str, parent: QWidget | None = None) -> str | None:
        """The text to store ("" clears it), or None when cancelled."""
        dialog = cls(current, parent)
        try:
            return dialog.editor.toPlainText() if dialog.exec() == QDialog.DialogCode.Accepted else None
        finally:
            dialog.deleteLater()


class MessageWidget(QFrame):
    """One message. Assistant messages gain feedback controls once they are finished."""

    feedback_changed = Signal(int)     # message id
    why_requested = Signal(int)        # message id: "Why this answer?" was pressed

    def __init__(self, ctx: AppContext, message: Message, feedback: Feedback | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.message = message
        self.setObjectName("userMessage" if message.role == "user" else "tutorMessage")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._stream_parts: list[str] = []
        self._render_timer = QTimer(self, singleShot=True, interval=STREAM_RENDER_MS)
        self._render_timer.timeout.connect(self._render_stream)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(4)
        self.header = QLabel()
        self.header.setStyleSheet(f"color: {MUTED_TEXT}; font-weight: 600;")
        # a stopped or failed reply carries a tag a glance catches, not only a word in the grey header
        self.status_tag = QLabel()
        self.status_tag.setObjectName("statusTag")
        self.status_tag.setStyleSheet(
            "QLabel#statusTag { background: #fde7e9; color: #8a1c1c; border: 1px solid #e8a3a8;"
            " border-radius: 4px; padding: 0 6px; font-weight: 600; }")
        header_row = QHBoxLayout()
        header_row.setContentsMargins(0, 0, 0, 0)
        header_row.addWidget(self.header)
        header_row.addWidget(self.status_tag)
        header_row.addStretch(1)
        layout.addLayout(header_row)
        self.body = MarkdownView()
        layout.addWidget(self.body)
        # while the reply is written: how long, and how fast (a stall shows as a falling rate)
        self.progress_label = QLabel()
        self.progress_label.setObjectName("writingProgress")
        self.progress_label.setStyleSheet(f"color: {MUTED_TEXT};")
        layout.addWidget(self.progress_label)
        self.unfold_button = QPushButton("Show the whole message")
        self.unfold_button.setFlat(True)
        self.unfold_button.clicked.connect(self._unfold)
        layout.addWidget(self.unfold_button, alignment=Qt.AlignmentFlag.AlignLeft)
        self.notice_label = QLabel()
        self.notice_label.setWordWrap(True)
        self.notice_label.setObjectName("notice")
        self.notice_label.setStyleSheet(
            "QLabel#notice { background: #fff4ce; color: #5c4400; border: 1px solid #e6c86e;"
            " border-radius: 4px; padding: 4px 6px; }")
        layout.addWidget(self.notice_label)

        # practice questions: the key stays hidden until the student asks for it
        self.reveal_button = QPushButton("Reveal answer key")
        self.reveal_button.clicked.connect(self.reveal_answer_key)
        layout.addWidget(self.reveal_button, alignment=Qt.AlignmentFlag.AlignLeft)
        self.answer_key_view = MarkdownView()
        layout.addWidget(self.answer_key_view)

        self.feedback_row = QWidget()
        rows = QVBoxLayout(self.feedback_row)
        rows.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        # in a narrow chat (800 × 600 with the Practice panel open) the suggestion button takes a
        # second line rather than widening the bubble past the view, which would cut words off
        self._second_row = QHBoxLayout()
        self._third_row = QHBoxLayout()   # narrow: "Why this answer?" below the suggestion button
        rows.addLayout(row)
        rows.addLayout(self._second_row)
        rows.addLayout(self._third_row)
        self._first_row = row
        self.narrow = False
        # words, not 👍/👎: those need an emoji font, and draw as empty boxes without one
        self.thumbs_up = QPushButton("Helpful")
        self.thumbs_down = QPushButton("Not helpful")
        for button, tip in ((self.thumbs_up, "This helped"), (self.thumbs_down, "This was wrong or unhelpful")):
            button.setCheckable(True)
            button.setToolTip(tip)
            button.setAccessibleName(tip)
            row.addWidget(button)
        self.thumbs_up.clicked.connect(lambda: self._rate(1 if self.thumbs_up.isChecked() else None))
        self.thumbs_down.clicked.connect(lambda: self._rate(-1 if self.thumbs_down.isChecked() else None))
        self.suggest_button = QPushButton("Suggest a better answer…")
        self.suggest_button.clicked.connect(self.suggest_better_answer)
        row.addWidget(self.suggest_button)
        self.why_button = QPushButton("Why this answer?")
        self.why_button.setToolTip("Which model and adapter wrote this, how it was checked, and what it learned from")
        self.why_button.clicked.connect(lambda: self.why_requested.emit(self.message.id))
        self._second_row.addWidget(self.why_button)
        self.feedback_status = QLabel()
        self.feedback_status.setStyleSheet(f"color: {MUTED_TEXT};")
        row.addWidget(self.feedback_status)
        row.addStretch(1)
        self._second_row.addStretch(1)
        self._third_row.addStretch(1)
        layout.addWidget(self.feedback_row)

        self._feedback = feedback
        self.set_message(message, feedback)

    # -- content ---------------------------------------------------------------------------------

    def set_message(self, message: Message, feedback: Feedback | None = None) -> None:
        """Show a stored message in its final (or, for 'generating', streaming) state."""
        self.message = message
        if feedback is not None:
            self._feedback = feedback
        self._render_timer.stop()
        is_user = message.role == "user"
        mode = MODE_LABELS.get(message.mode or "", "")
        if is_user:
            self.header.setText(f"You · {mode}" if mode else "You")
        else:
            state = {"generating": " · writing…", "stopped": " · stopped", "failed": " · failed"}.get(
                message.status, "")
            self.header.setText(f"Tutor · {mode}{state}" if mode else f"Tutor{state}")
        tag = {"stopped": "stopped", "failed": "failed"}.get(message.status, "") if not is_user else ""
        self.status_tag.setText(tag)
        self.status_tag.setVisible(bool(tag))
        self.status_tag.setToolTip("You stopped this reply before it was finished." if tag == "stopped" else "")
        generating = not is_user and message.status == "generating"
        self.progress_label.setVisible(generating)
        if generating and not self.progress_label.text():
            self.progress_label.setText("writing…")
        if is_user:
            folded = len(message.content) > FOLD_USER_CHARS
            # Students' text is shown as typed: Markdown would eat their asterisks and underscores.
            self.body.set_plain(message.content[:FOLD_USER_CHARS] + "…" if folded else message.content)
            self.unfold_button.setVisible(folded)
            if folded:
                self.unfold_button.setText(f"Show the whole message ({len(message.content):,} characters)")
        else:
            self.unfold_button.hide()
            if message.status == "generating":
                self._stream_parts = [message.content] if message.content else []
                self._render_stream()
            else:
                self._stream_parts = []
                self.body.set_markdown(plain_maths(message.content) or ("*(no text)*" if message.status != "failed"
                                                                      else ""))
        self.notice_label.setText(message.notice or "")
        self.notice_label.setVisible(bool(message.notice))
        finished = not is_user and message.status in ("complete", "stopped")
        self.feedback_row.setVisible(finished)
        has_key = finished and message.mode == "practice" and bool(message.answer_key)
        self.reveal_button.setVisible(has_key)
        self.reveal_button.setEnabled(True)
        self.answer_key_view.hide()
        self._show_feedback()

    def show_progress(self, elapsed_s: float, tokens: int, *, stage: str = "") -> None:
        """Under a reply being written: "writing… 12 s · ~14 tokens/s" (`tokens` may be an estimate),
        or, while it waits on a stage before anything streams, "working the problem out… 6 s"."""
        if stage:
            self.progress_label.setText(f"{stage}… {int(elapsed_s)} s")
            return
        text = f"writing… {int(elapsed_s)} s"
        if elapsed_s >= 1 and tokens:
            text += f" · ~{tokens / elapsed_s:.0f} tokens/s"
        self.progress_label.setText(text)

    def set_narrow(self, narrow: bool) -> None:
        """Feedback controls on two lines (narrow) or one."""
        if narrow == self.narrow:
            return
        self.narrow = narrow
        target = self._second_row if narrow else self._first_row
        for widget in (self.suggest_button, self.feedback_status):
            self._first_row.removeWidget(widget)
            self._second_row.removeWidget(widget)
            target.insertWidget(target.count() - 1, widget)
        why_row = self._third_row if narrow else self._second_row
        for each in (self._second_row, self._third_row):
            each.removeWidget(self.why_button)
        why_row.insertWidget(0, self.why_button)

    def append_text(self, text: str) -> None:
        """A streamed piece of the reply; rendered within STREAM_RENDER_MS."""
        self._stream_parts.append(text)
        if not self._render_timer.isActive():
            self._render_timer.start()

    @property
    def streamed_text(self) -> str:
        return "".join(self._stream_parts)

    @Slot()
    def _render_stream(self) -> None:
        # LaTeX the model writes is shown as plain maths while it streams too (learner.maths.render).
        self.body.set_markdown(plain_maths(self.streamed_text) or "…")

    @Slot()
    def _unfold(self) -> None:
        self.body.set_plain(self.message.content)
        self.unfold_button.hide()

    @Slot()
    def reveal_answer_key(self) -> None:
        self.answer_key_view.set_markdown(f"**Answer key**\n\n{self.message.answer_key or ''}")
        self.answer_key_view.show()
        self.reveal_button.setEnabled(False)
        self.reveal_button.setText("Answer key shown below")

    # -- feedback --------------------------------------------------------------------------------

    def _show_feedback(self) -> None:
        rating = self._feedback.rating if self._feedback else None
        self.thumbs_up.setChecked(rating == 1)
        self.thumbs_down.setChecked(rating == -1)
        has_suggestion = bool(self._feedback and self._feedback.suggestion)
        self.suggest_button.setText("Edit your suggested answer…" if has_suggestion else "Suggest a better answer…")

    def _rate(self, rating: int | None) -> None:
        try:
            self._feedback = chat.set_feedback(self.ctx.db, self.message.id, rating=rating)
        except StorageError as exc:
            present_error(self, exc, title="Could not save your rating")
        else:
            self.feedback_status.setText({1: "Thanks!", -1: "Thanks — noted.", None: ""}[rating])
            self.ctx.changes.notify(ChangeKind.FEEDBACK)
            self.feedback_changed.emit(self.message.id)
        self._show_feedback()

    @Slot()
    def suggest_better_answer(self) -> None:
        current = self._feedback.suggestion if self._feedback and self._feedback.suggestion else ""
        text = SuggestionDialog.ask(current, self.window())
        if text is None:
            return
        try:
            self._feedback = chat.set_feedback(self.ctx.db, self.message.id, suggestion=text)
        except StorageError as exc:
            present_error(self, exc, title="Could not save your suggestion")
            return
        self.feedback_status.setText("Suggestion saved." if text.strip() else "Suggestion removed.")
        self.ctx.changes.notify(ChangeKind.FEEDBACK)
        self.feedback_changed.emit(self.message.id)
        self._show_feedback()

    @property
    def feedback(self) -> Feedback | None:
        return self._feedback


class ChatView(QScrollArea):
    """The messages of one session, oldest first; keeps the newest in view while it streams
    unless the student has scrolled up to read."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.session_id: int | None = None
        self.model_host: object | None = None     # the window's ModelHost: "Why this answer?" measures on it
        self.why_panel: WhyPanel | None = None
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self._page = QWidget()
        self._page.setObjectName("chatPage")
        self._page.setStyleSheet(
            "QFrame#userMessage { background: palette(alternate-base); border: none; border-radius: 8px; }"
            "QFrame#tutorMessage { background: palette(base); border: 1px solid palette(midlight);"
            " border-radius: 8px; }")
        self._layout = QVBoxLayout(self._page)
        self._layout.setContentsMargins(12, 12, 12, 12)
        self._layout.setSpacing(10)
        self.empty_label = QLabel()
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setStyleSheet(f"color: {MUTED_TEXT}; font-size: 15px; padding: 40px;")
        self._layout.addWidget(self.empty_label)
        self._layout.addStretch(1)
        self.setWidget(self._page)
        self._widgets: dict[int, MessageWidget] = {}
        self._follow = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range_changed)
        self._show_empty_hint()

    def _show_empty_hint(self) -> None:
        if self.session_id is None:
            text = "Start a new session with Ctrl+N, or pick one on the left."
        else:
            text = ("Ask anything. Choose <b>Explain</b> for an explanation, <b>Hint</b> for a nudge "
                    "without the answer, or <b>Practice</b> for a question to try.")
        self.empty_label.setText(text)
        self.empty_label.setVisible(not self._widgets)

    def load_session(self, session_id: int | None) -> None:
        """Show a session's stored history (with ratings), or nothing."""
        self.clear()
        self.session_id = session_id
        if session_id is not None:
            for message in chat.list_messages(self.ctx.db, session_id):
                feedback = chat.get_feedback(self.ctx.db, message.id) if message.role == "assistant" else None
                self.add_message(message, feedback, scroll=False)
        self._show_empty_hint()
        self._follow = True
        QTimer.singleShot(0, self, self.scroll_to_end)  # dropped if this view is gone by then

    def clear(self) -> None:
        for widget in self._widgets.values():
            self._layout.removeWidget(widget)
            widget.hide()   # deleted later: until then it must not paint over the session opened next
            widget.deleteLater()
        self._widgets.clear()

    def add_message(self, message: Message, feedback: Feedback | None = None, *, scroll: bool = True) -> MessageWidget:
        widget = MessageWidget(self.ctx, message, feedback)
        widget.why_requested.connect(self.explain)
        widget.set_narrow(self._narrow())
        self._layout.insertWidget(self._layout.count() - 1, widget)
        self._widgets[message.id] = widget
        self.empty_label.hide()
        if scroll:
            self._follow = True
        return widget

    def _narrow(self) -> bool:
        return self.viewport().width() < NARROW_CHAT_PX

    @Slot(int)
    def explain(self, message_id: int) -> None:
        """Open the "Why this answer?" panel for a tutor reply (one at a time)."""
        if self.why_panel is not None:
            self.why_panel.close()
        self.why_panel = WhyPanel(self.ctx, message_id, host=self.model_host, parent=self.window())
        self.why_panel.finished.connect(lambda _result: setattr(self, "why_panel", None))
        self.why_panel.open()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        narrow = self._narrow()
        for widget in self._widgets.values():
            widget.set_narrow(narrow)

    def widget_for(self, message_id: int) -> MessageWidget | None:
        return self._widgets.get(message_id)

    def message_widgets(self) -> list[MessageWidget]:
        return list(self._widgets.values())

    # -- auto-scroll -----------------------------------------------------------------------------

    @Slot()
    def scroll_to_end(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    @Slot(int)
    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - 24

    @Slot(int, int)
    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(maximum)
