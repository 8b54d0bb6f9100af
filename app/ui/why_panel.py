"""The "Why this answer?" panel, opened from a tutor reply in the chat and in the review pane.

It shows what `storage.example_search.explain` finds: the model and adapter version that wrote the
reply, the adapter's gate checks, when and by whom it was promoted, and (for a signed-in teacher)
the adapter's closest approved training examples, labelled as similar, not as the cause, each with a
button that opens it in the review window (through `ctx.navigation`, since the chat and the teacher
feature never import each other). A teacher can measure influence instead: an
`learner.adapt.influence.InfluenceJob` on the model worker, with a progress bar polled from the job
and Stop.
"""
from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.ui.context import AppContext
from app.ui.window_keys import add_close_keys
from storage import StorageError, example_search
from storage.example_search import Explanation, SimilarExample

POLL_MS = 200


class WhyPanel(QDialog):
    def __init__(self, ctx: AppContext, message_id: int, *, host: object | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.message_id = message_id
        self.host = host                     # app.ui.worker.ModelHost: influence runs on it (None: not offered)
        self.setWindowTitle("Why this answer?")
        self.resize(620, 560)
        self.job = None
        self.request_id: int | None = None
        self.explanation: Explanation | None = None
        self.example_buttons: list[QPushButton] = []

        self.summary = QTextBrowser()
        self.summary.setOpenLinks(False)
        self.examples_title = QLabel()
        self.examples_title.setWordWrap(True)
        self.examples_box = QWidget()
        self.examples_layout = QVBoxLayout(self.examples_box)
        self.examples_layout.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.examples_box)

        self.influence_button = QPushButton("Measure influence")
        self.influence_button.setToolTip("Score the adapter's 20 closest approved examples by how much training on "
                                         "each one moved the model towards this reply (takes a while)")
        self.influence_button.clicked.connect(self.measure_influence)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.status = QLabel()
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.influence_button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.stop_button)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._poll)

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary, 2)
        layout.addWidget(self.examples_title)
        layout.addWidget(scroll, 3)
        layout.addLayout(row)
        layout.addWidget(self.status)
        add_close_keys(self)
        self.load()

    # -- what the database says -------------------------------------------------------------------

    def load(self) -> None:
        try:
            found = example_search.explain(self.ctx.db, self.message_id, actor=self.ctx.teacher)
        except StorageError as exc:
            self.summary.setPlainText(str(exc))
            self.explanation = None
            self._update_buttons()
            return
        self.explanation = found
        self.summary.setHtml(_summary_html(found))
        if found.adapter_version is None:
            self.examples_title.setText("The base model wrote this reply: no approved examples have trained it.")
        elif not found.examples_shown:
            self.examples_title.setText("Similar approved examples are shown to a signed-in teacher (they hold "
                                        "other students' words).")
        else:
            self.examples_title.setText(f"<b>{html.escape(example_search.LABEL.capitalize())}</b> of "
                                        f"v{found.adapter_version}. {html.escape(example_search.CAVEAT)}")
        self._show_examples([_example_entry(s) for s in found.similar])
        self._update_buttons()

    def _show_examples(self, entries: list[tuple[str, str | None]]) -> None:
        while self.examples_layout.count():
            item = self.examples_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.example_buttons = []
        for text, key in entries:
            frame = QFrame()
            frame.setFrameShape(QFrame.Shape.StyledPanel)
            box = QVBoxLayout(frame)
            label = QLabel(text)
            label.setWordWrap(True)
            box.addWidget(label)
            button = QPushButton("Open in the review window")
            button.setEnabled(key is not None)
            button.setToolTip("" if key else "Its chat or import is gone; only the example remains.")
            button.clicked.connect(lambda _=False, k=key: self.open_in_review(k))
            box.addWidget(button)
            self.example_buttons.append(button)
            self.examples_layout.addWidget(frame)
        self.examples_layout.addStretch(1)

    @Slot()
    def open_in_review(self, key: str | None) -> None:
        if key:
            self.ctx.navigation.review_item.emit(key)

    # -- influence on the model worker ------------------------------------------------------------

    def _can_measure(self) -> bool:
        found = self.explanation
        return (self.host is not None and self.ctx.teacher is not None and found is not None
                and found.adapter_version is not None and bool(found.similar))

    def _update_buttons(self) -> None:
        running = self.request_id is not None
        self.influence_button.setVisible(self.host is not None and self.ctx.teacher is not None)
        self.influence_button.setEnabled(self._can_measure() and not running)
        self.stop_button.setVisible(running)
        self.progress.setVisible(running)

    @Slot()
    def measure_influence(self) -> None:
        from learner.adapt.influence import InfluenceJob, influence_inputs
        from learner.adapt.registry import AdapterRegistry
        from learner.settings import load_generation_settings

        if not self._can_measure() or self.request_id is not None:
            return
        assert self.explanation is not None and self.explanation.adapter_version is not None
        try:
            reply, examples = influence_inputs(self.ctx.db, self.ctx.teacher, self.message_id)
            adapter_path = AdapterRegistry(self.ctx.data_dir, self.ctx.db).path_of(self.explanation.adapter_version)
        except (StorageError, ValueError, FileNotFoundError) as exc:
            self.status.setText(f"Cannot measure influence: {exc}")
            return
        settings = load_generation_settings(self.ctx.db)[0]
        self.job = InfluenceJob(model_spec=settings.model_spec, data_dir=self.ctx.data_dir, adapter_path=adapter_path,
                                reply=reply, examples=tuple(examples), device=settings.device)
        worker = self.host.worker  # type: ignore[union-attr]
        worker.job_finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        self.request_id = self.host.run_job(self.job, settings)  # type: ignore[union-attr]
        self.progress.setRange(0, len(examples) + 1)
        self.progress.setValue(0)
        self.status.setText("Loading the model and the adapter…")
        self.timer.start()
        self._update_buttons()

    @Slot()
    def stop(self) -> None:
        if self.request_id is not None:
            self.host.stop(self.request_id)  # type: ignore[union-attr]
            self.status.setText("Stopping after the current example…")

    @Slot()
    def _poll(self) -> None:
        if self.job is None:
            return
        progress = self.job.progress
        if progress.total:
            self.progress.setRange(0, progress.total)
            self.progress.setValue(progress.done)
        if progress.detail:
            self.status.setText(f"Measuring influence: {progress.detail} ({progress.done}/{progress.total})")

    @Slot(int, object)
    def _on_finished(self, request_id: int, result: object) -> None:
        if request_id != self.request_id:
            return
        self._end()
        scores = getattr(result, "scores", ())
        stopped = bool(getattr(result, "stopped", False))
        self.examples_title.setText(
            f"<b>Measured influence</b> on this reply{' (stopped early)' if stopped else ''}: how aligned training on "
            "each example is with this reply (gradient similarity over the adapter's weights; 1 = fully, "
            "below 0 = it pulled away).")
        self._show_examples([(_influence_entry(s), s.review_key) for s in scores])
        self.status.setText(f"{len(scores)} examples scored in {getattr(result, 'seconds', 0):.0f} s.")

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id != self.request_id:
            return
        self._end()
        self.status.setText(f"Could not measure influence: {message}")

    def _end(self) -> None:
        self.timer.stop()
        worker = self.host.worker  # type: ignore[union-attr]
        worker.job_finished.disconnect(self._on_finished)
        worker.failed.disconnect(self._on_failed)
        self.request_id = None
        self._update_buttons()

    def done(self, result: int) -> None:
        if self.request_id is not None:
            self.stop()
            self._end()
        super().done(result)


def _short(text: str, limit: int = 220) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def _influence_entry(s: Any) -> str:
    """One scored example (learner.adapt.influence.InfluenceScore) as rich text."""
    return (f"<b>{s.cosine:+.3f}</b> (dot product {s.score:+.3g}) · example {s.example_id}, approved by "
            f"{html.escape(s.approved_by_name)} on {html.escape(s.approved_at[:10])}<br>"
            f"<i>Q:</i> {html.escape(_short(s.question))}<br><i>A:</i> {html.escape(_short(s.answer))}")


def _example_entry(s: SimilarExample) -> tuple[str, str | None]:
    text = (f"Example {s.example_id}, approved by {html.escape(s.approved_by_name)} on "
            f"{html.escape(s.approved_at[:10])}<br><i>Q:</i> {html.escape(_short(s.question))}<br>"
            f"<i>A:</i> {html.escape(_short(s.answer))}")
    return text, s.review_key


def _summary_html(found: Explanation) -> str:
    parts = [f"<p><b>Written by</b> {html.escape(found.written_by)}.<br>{html.escape(found.promotion)}</p>"]
    if found.adapter is not None:
        verdict = "passed" if found.adapter.gate_passed else "failed"
        parts.append(f"<p><b>Gate:</b> {verdict}, on {found.adapter.n_examples} approved examples.</p><ul>")
        parts += [f"<li>{html.escape(line)}</li>" for line in found.gate_lines()]
        parts.append("</ul>")
    return "".join(parts)


__all__ = ["WhyPanel"]
