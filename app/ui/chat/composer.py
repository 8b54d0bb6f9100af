"""Where the student writes: the mode for this message, the input box, Send and Stop.

Enter sends, Shift+Enter starts a new line. Send is disabled while the text is empty or only
whitespace, while the model loads, and while a reply is being written (Stop takes its place).
"""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QSizePolicy, QToolButton, QVBoxLayout,
    QWidget,
)

from storage.chat import MODES, Mode

MODE_HELP: dict[Mode, tuple[str, str]] = {
    "explain": ("Explain", "A clear explanation at your level"),
    "hint": ("Hint", "A nudge in the right direction, without giving the answer away"),
    "practice": ("Practice", "A practice question for you to try, with an answer key you can reveal"),
}
READY_PLACEHOLDER = "Ask a question…  (Enter sends, Shift+Enter starts a new line)"


class ElidedLabel(QLabel):
    """One line that ends in "…" when it does not fit, instead of being cut mid-word; the whole
    text is the tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(40)
        self._full = ""
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt API
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(self.width(), 1))
        super().setText(shown)


PREFILL_PAUSE_MS = 600   # a pause in typing this long prefills the text so far


class MessageInput(QPlainTextEdit):
    """A multi-line input where Enter submits and Shift+Enter inserts a line break."""

    submitted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
                event.modifiers() & Qt.KeyboardModifier.ShiftModifier):
            self.submitted.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class Composer(QWidget):
    send_requested = Signal(str, str)   # text, mode
    stop_requested = Signal()
    retry_requested = Signal()          # load the model again after a failure or a cancel
    # mode, the text so far: a message began or its writer paused; the reply's prompt up to here can be
    # prefilled while they write, so Send leaves little to read
    prefill_wanted = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model_ready = False
        self._generating = False

        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 6, 12, 10)
        outer.setSpacing(6)

        modes_row = QHBoxLayout()
        modes_row.addWidget(QLabel("Mode:"))
        self.mode_group = QButtonGroup(self)
        self.mode_buttons: dict[str, QToolButton] = {}
        for index, mode in enumerate(MODES):
            label, tip = MODE_HELP[mode]
            button = QToolButton()
            button.setText(label)
            button.setToolTip(f"{tip}  (Alt+{index + 1})")
            button.setCheckable(True)
            button.setShortcut(f"Alt+{index + 1}")
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            self.mode_group.addButton(button, index)
            self.mode_buttons[mode] = button
            modes_row.addWidget(button)
        self.mode_buttons["explain"].setChecked(True)
        self.mode_hint = ElidedLabel(MODE_HELP["explain"][1])
        self.mode_hint.setStyleSheet("color: #5f6368;")
        self.mode_group.idClicked.connect(lambda i: self.mode_hint.setText(MODE_HELP[MODES[i]][1]))
        self.mode_group.idClicked.connect(self._on_mode_clicked)
        modes_row.addWidget(self.mode_hint, 1)
        outer.addLayout(modes_row)

        input_row = QHBoxLayout()
        self.input = MessageInput()
        self.input.setTabChangesFocus(True)
        self.input.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.input.setFixedHeight(84)
        self.input.submitted.connect(self.submit)
        self.input.textChanged.connect(self._update_buttons)
        self.input.textChanged.connect(self._on_text_changed)
        self._writing = False
        self._pause = QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(PREFILL_PAUSE_MS)
        self._pause.timeout.connect(lambda: self._writing and self.prefill_wanted.emit(self.mode, self.text()))
        input_row.addWidget(self.input, 1)
        buttons = QVBoxLayout()
        self.send_button = QPushButton("Send")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self.submit)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the reply (Esc)")
        self.stop_button.clicked.connect(self.stop_requested)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        input_row.addLayout(buttons)
        outer.addLayout(input_row)

        status_row = QHBoxLayout()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setStyleSheet("color: #5f6368;")
        status_row.addWidget(self.status_label, 1)
        self.retry_button = QPushButton("Load the model again")
        self.retry_button.clicked.connect(self.retry_requested)
        status_row.addWidget(self.retry_button, 0, Qt.AlignmentFlag.AlignTop)
        outer.addLayout(status_row)
        self.set_model_state(loading=True)

    # -- state -----------------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return MODES[self.mode_group.checkedId()]

    def set_mode(self, mode: str) -> None:
        self.mode_buttons[mode].setChecked(True)
        self.mode_hint.setText(MODE_HELP[mode][1])  # type: ignore[index]

    def text(self) -> str:
        return self.input.toPlainText()

    def set_model_state(self, *, loading: bool = False, ready: bool = False, message: str = "") -> None:
        """loading → "loading model…" and no Send; ready → normal; neither → `message` explains why not."""
        self._model_ready = ready
        self.retry_button.setVisible(not loading and not ready)
        if loading:
            self.input.setPlaceholderText("loading model…")
        elif ready:
            self.input.setPlaceholderText(READY_PLACEHOLDER)
        else:
            self.input.setPlaceholderText("The model is not loaded — see the message below.")
        # Qt repaints a QPlainTextEdit on a new placeholder only when the placeholder appears or goes,
        # so "loading model…" stayed on screen until something else repainted the box
        self.input.viewport().update()
        self.status_label.setText(message)
        self._update_buttons()

    def set_generating(self, generating: bool) -> None:
        self._generating = generating
        self._update_buttons()

    def show_status(self, message: str) -> None:
        self.status_label.setText(message)

    @property
    def can_send(self) -> bool:
        return self._model_ready and not self._generating and bool(self.text().strip())

    @Slot()
    def _on_text_changed(self) -> None:
        writing = bool(self.text().strip())
        if writing and not self._writing:
            self.prefill_wanted.emit(self.mode, "")
        self._writing = writing
        if writing:
            self._pause.start()
        else:
            self._pause.stop()

    @Slot(int)
    def _on_mode_clicked(self, _index: int) -> None:
        if self._writing:   # another mode: other instructions come before the message
            self.prefill_wanted.emit(self.mode, self.text())

    @Slot()
    def _update_buttons(self) -> None:
        self.send_button.setEnabled(self.can_send)
        self.send_button.setVisible(not self._generating)
        self.stop_button.setVisible(self._generating)
        if self._generating:
            self.send_button.setToolTip("")
        elif not self._model_ready:
            self.send_button.setToolTip("Wait for the model to load")
        elif not self.text().strip():
            self.send_button.setToolTip("Type a question first")
        else:
            self.send_button.setToolTip("Send (Enter)")

    # -- actions ---------------------------------------------------------------------------------

    @Slot()
    def submit(self) -> None:
        text = self.text()
        if not text.strip():
            self.show_status("Type a question first — an empty message can't be sent.")
            return
        if self._generating:
            self.show_status("The tutor is still writing. Press Stop (Esc) to send something else.")
            return
        if not self._model_ready:
            self.show_status("The model is still loading; your message is kept here until it is ready.")
            return
        self.send_requested.emit(text, self.mode)

    def clear(self) -> None:
        self.input.clear()
        self.status_label.clear()
