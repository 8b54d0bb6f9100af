"""First start: the model is assembled, verified and converted once, which takes minutes.

This dialog only shows what the worker reports (step, percent, detail) and passes Cancel on; the
work itself runs on the model thread. It closes itself when the model is ready, fails or is
cancelled; the main window reports failures.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QDialog, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from app.ui.worker import LOADING, ModelHost

PERCENT_STEPS = 1000


class PrepareDialog(QDialog):
    def __init__(self, host: ModelHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.setWindowTitle("Preparing the tutor's model — tutorloop")
        self.setMinimumWidth(480)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        layout = QVBoxLayout(self)
        intro = QLabel("The first start prepares the tutor's language model on this computer. This happens "
                       "once and takes a few minutes; after that tutorloop starts in seconds.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.step_label = QLabel("Starting…")
        self.step_label.setStyleSheet("font-weight: 600;")
        layout.addWidget(self.step_label)
        self.bar = QProgressBar()
        self.bar.setRange(0, PERCENT_STEPS)
        self.bar.setFormat("%p%")
        layout.addWidget(self.bar)
        self.detail_label = QLabel()
        self.detail_label.setWordWrap(True)
        self.detail_label.setStyleSheet("color: #5f6368;")
        layout.addWidget(self.detail_label)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel)
        layout.addWidget(self.cancel_button, alignment=Qt.AlignmentFlag.AlignRight)
        self.finished.connect(self.deleteLater)  # drop the connections to the worker once closed
        host.worker.progress.connect(self._on_progress)
        host.state_changed.connect(self._on_state_changed)

    @Slot(object)
    def _on_progress(self, progress: object) -> None:
        step = getattr(progress, "step", "")
        fraction = float(getattr(progress, "fraction", 0.0))
        self.step_label.setText(step or "Working…")
        self.bar.setValue(int(max(0.0, min(1.0, fraction)) * PERCENT_STEPS))
        self.detail_label.setText(getattr(progress, "detail", ""))

    @Slot()
    def _on_cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")
        self.step_label.setText("Cancelling — finishing the current step…")
        self.host.cancel_load()

    @Slot(str)
    def _on_state_changed(self, state: str) -> None:
        if state != LOADING:
            self.accept()

    def reject(self) -> None:  # Esc or the window's close button mean Cancel, and wait for it
        if self.host.state == LOADING:
            self._on_cancel()
        else:
            super().reject()
