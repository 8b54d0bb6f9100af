"""Import and export of training examples from the app (the same engine as `tutorloop review
import/export`): approved examples out as JSONL; JSONL or MathDial transcripts in, for review or
approved. Bad lines are listed with their numbers; nothing is imported unless every line is good,
or "Import the good lines anyway" is ticked."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QGroupBox, QPlainTextEdit, QPushButton, QVBoxLayout,
    QWidget,
)

from app.ui.context import AppContext, ChangeKind
from learner.prompts import system_prompt
from storage import StorageError, exchange

EXPORT_LABELS = (("Chat messages (messages)", "messages"), ("Prompt / completion", "prompt-completion"))
IMPORT_LABELS = (("JSONL: messages or prompt/completion", "messages"), ("MathDial transcripts", "mathdial"))
AS_LABELS = (("Pending: into the review queue", "pending"), ("Approved: straight into training data", "approved"))


def _system_for(mode: str, grade: str, topic: str) -> str:
    return system_prompt(grade=grade, topic=topic)


class ExchangeDialog(QDialog):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Import and export examples")
        self.export_format = QComboBox()
        for label, value in EXPORT_LABELS:
            self.export_format.addItem(label, value)
        self.export_button = QPushButton("Export approved examples…")
        export_box = QGroupBox("Export")
        export_form = QFormLayout(export_box)
        export_form.addRow("Format", self.export_format)
        export_form.addRow(self.export_button)

        self.import_format = QComboBox()
        for label, value in IMPORT_LABELS:
            self.import_format.addItem(label, value)
        self.import_as = QComboBox()
        for label, value in AS_LABELS:
            self.import_as.addItem(label, value)
        self.partial_check = QCheckBox("Import the good lines even if some are malformed")
        self.import_button = QPushButton("Import a file…")
        import_box = QGroupBox("Import")
        import_form = QFormLayout(import_box)
        import_form.addRow("Format", self.import_format)
        import_form.addRow("As", self.import_as)
        import_form.addRow(self.partial_check)
        import_form.addRow(self.import_button)

        self.result = QPlainTextEdit()
        self.result.setReadOnly(True)
        self.result.setPlaceholderText("Results and any problems (with line numbers) appear here.")
        layout = QVBoxLayout(self)
        layout.addWidget(export_box)
        layout.addWidget(import_box)
        layout.addWidget(self.result, 1)
        self.export_button.clicked.connect(self._ask_export)
        self.import_button.clicked.connect(self._ask_import)
        self.resize(560, 480)

    @Slot()
    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export approved examples", "tutorloop-examples.jsonl",
                                              "JSON Lines (*.jsonl)")
        if path:
            self.export_to(Path(path))

    @Slot()
    def _ask_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import examples", "", "JSON Lines (*.jsonl *.json);;All files (*)")
        if path:
            self.import_from(Path(path))

    def export_to(self, path: Path) -> int | None:
        try:
            count = exchange.export_examples(self.ctx.db, self.ctx.teacher, path,  # type: ignore[arg-type]
                                             fmt=self.export_format.currentData())
        except (StorageError, OSError) as exc:
            self.result.setPlainText(str(exc))
            return None
        self.result.setPlainText(f"Wrote {count} approved example{'s' if count != 1 else ''} to {path}.")
        return count

    def import_from(self, path: Path) -> exchange.ImportReport | None:
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            report = exchange.import_file(self.ctx.db, self.ctx.teacher, path,  # type: ignore[arg-type]
                                          fmt=self.import_format.currentData(), as_status=self.import_as.currentData(),
                                          partial=self.partial_check.isChecked(), system_for=_system_for)
        except exchange.ImportRejected as exc:
            self.result.setPlainText(str(exc) + ("\n\nAll problems:\n" + "\n".join(str(p) for p in exc.problems)
                                                 if len(exc.problems) > exchange.MAX_REPORTED_PROBLEMS else ""))
            return None
        except (StorageError, OSError) as exc:
            self.result.setPlainText(str(exc))
            return None
        finally:
            QGuiApplication.restoreOverrideCursor()
        lines = [f"Imported {report.imported} from {path.name} as {report.status}."]
        if report.duplicates:
            lines.append(f"{report.duplicates} already present (skipped).")
        if report.problems:
            lines.append(f"{len(report.problems)} bad line(s) skipped:")
            lines += [f"  {p}" for p in report.problems]
        if report.status == "approved" and report.imported:
            lines.append("Undo in the review queue (Ctrl+Z) takes the whole import back to pending.")
        self.result.setPlainText("\n".join(lines))
        self.ctx.changes.notify(ChangeKind.REVIEWS)
        return report
