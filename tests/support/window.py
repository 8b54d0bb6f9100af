"""Helpers for window tests: timeouts, the recorded message boxes, settings for the tiny model."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from learner.settings import GenerationSettings

LOAD_TIMEOUT_MS = 60_000
REPLY_TIMEOUT_MS = 60_000


@dataclass
class MessageBoxes:
    """Every QMessageBox shown during a test, as (kind, title, text); `answer` is what question() returns."""
    shown: list[tuple[str, str, str]] = field(default_factory=list)
    answer: QMessageBox.StandardButton = QMessageBox.StandardButton.No

    def texts(self, kind: str | None = None) -> list[str]:
        return [text for k, _title, text in self.shown if kind is None or k == kind]


def tiny_settings(model_dir: Path, **overrides: object) -> GenerationSettings:
    values: dict[str, object] = {"model_spec": str(model_dir), "device": "cpu", "max_new_tokens": 24,
                                 "temperature": 1.0}
    values.update(overrides)
    return GenerationSettings(**values)  # type: ignore[arg-type]
