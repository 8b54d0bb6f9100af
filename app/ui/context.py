"""What every window needs: the data folder, the UI thread's database, who is signed in, and one
"something changed" notification that views subscribe to instead of calling each other."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from PySide6.QtCore import QObject, Signal

import app.ui.qt_compat  # noqa: F401  - guards against PySide6 6.12's lost references; before any Qt use
from storage import Database, DataDir
from storage.users import User


class ChangeKind(Enum):
    """What a write changed; views refresh on the kinds they show."""
    SESSIONS = "sessions"        # created, renamed, re-topicked, made private, deleted
    MESSAGES = "messages"        # a message sent or a reply finished
    FEEDBACK = "feedback"        # a rating or a suggestion
    REVIEWS = "reviews"          # a teacher's decision (and so the training examples)
    ADAPTERS = "adapters"        # a round registered a version, or one was promoted/rolled back
    PRACTICE = "practice"        # items, attempts, mastery, guard events
    SETTINGS = "settings"
    USERS = "users"              # profiles, and who is signed in as teacher
    SCHEDULE = "schedule"        # the adaptation schedule or its state
    SAFEGUARDING = "safeguarding"  # a safeguarding alert recorded or acknowledged


class Changes(QObject):
    """Emitted after a write, with the ChangeKind of what changed."""

    changed = Signal(object)

    def notify(self, kind: ChangeKind) -> None:
        self.changed.emit(kind)


class Navigation(QObject):
    """Requests to show something another feature owns (features never import each other)."""

    review_item = Signal(str)    # open the review window at this item key ("m12" chat reply, "i3" import)


@dataclass(eq=False)
class AppContext:
    data_dir: DataDir
    db: Database                      # owned by the UI thread; workers open their own
    student: User | None = None       # the profile chatting now
    teacher: User | None = None       # set after a teacher signs in; cleared on sign-out
    changes: Changes = field(default_factory=Changes)
    navigation: Navigation = field(default_factory=Navigation)
