"""What every window needs: the data folder, the UI thread's database, who is signed in, and one
"something changed" notification that views subscribe to instead of calling each other."""
from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal

import app.qt_compat  # noqa: F401  - guards against PySide6 6.12's lost references; before any Qt use
from storage import Database, DataDir
from storage.users import User


class Changes(QObject):
    """Emitted after a write. `kind` names what changed: "sessions", "messages", "feedback",
    "reviews", "examples", "adapters", "practice", "settings", "users", "schedule"."""

    changed = Signal(str)

    def notify(self, kind: str) -> None:
        self.changed.emit(kind)


@dataclass(eq=False)
class AppContext:
    data_dir: DataDir
    db: Database                      # owned by the UI thread; workers open their own
    student: User | None = None       # the profile chatting now
    teacher: User | None = None       # set after a teacher signs in; cleared on sign-out
    changes: Changes = field(default_factory=Changes)
