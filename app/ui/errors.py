"""One way to tell the person at the screen that something failed.

Expected failures (storage and learner errors, bad input) carry messages written for people and are
shown as they are. A cancelled preparation is not a failure and is not shown. Anything else is a
bug: it is logged with its traceback in the data folder's logs/ and shown briefly, and the app
keeps running.
"""
from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtWidgets import QMessageBox, QWidget

from storage import StorageError

log = logging.getLogger("tutorloop")
_log_file: Path | None = None


def _is_cancellation(error: BaseException) -> bool:
    try:
        from learner.errors import PreparationCancelled
    except ImportError:  # the learner could not be imported at all; nothing was cancelled
        return False
    return isinstance(error, PreparationCancelled)


def _is_expected(error: BaseException) -> bool:
    try:
        from learner.errors import LearnerError
    except ImportError:
        LearnerError = ()  # type: ignore[assignment, misc]  # noqa: N806
    return isinstance(error, (StorageError, LearnerError, ValueError, OSError))


def present_error(parent: QWidget | None, error: BaseException | str, *, title: str = "tutorloop") -> None:
    """Show `error` in a message box. Strings and expected errors as they are; bugs logged."""
    if isinstance(error, str):
        QMessageBox.warning(parent, title, error)
        return
    if _is_cancellation(error):
        return
    if _is_expected(error):
        QMessageBox.warning(parent, title, str(error))
        return
    log.error("unexpected error", exc_info=(type(error), error, error.__traceback__))
    where = f"\n\nDetails were written to {_log_file}." if _log_file else ""
    QMessageBox.critical(parent, title, f"Something went wrong: {type(error).__name__}: {error}{where}")


def setup_logging(log_dir: Path) -> None:
    """Log to <data dir>/logs/tutorloop.log; a broken folder leaves logging on stderr only."""
    global _log_file
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_dir / "tutorloop.log", encoding="utf-8")
    except OSError:
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    _log_file = log_dir / "tutorloop.log"


def install_excepthook() -> None:
    """An exception escaping a Qt slot is shown and logged instead of printed to a console the
    student never sees."""
    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, tb)
            return
        traceback.print_exception(kind, error, tb)
        present_error(None, error.with_traceback(tb))

    sys.excepthook = hook
