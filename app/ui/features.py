"""How a feature (teacher tools, adaptation, schedule, practice) plugs into the main window.

The window knows nothing of any feature. It is built with a list of feature factories
(`app.ui.app.FEATURES`); each gets a `WindowHost`, the narrow and typed part of the window that a
feature may use: its menus, the status bar, a dock area, the composer's status line, the teacher
sign-in, and the model host (to run jobs and to add a request filter). A feature never replaces
another object's attributes; it adds to these places and keeps its own state.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance
    from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QWidget

    from app.ui.context import AppContext
    from app.ui.worker import ModelHost
    from learner.settings import GenerationSettings
    from storage.chat import Session

MenuName = Literal["practice", "teacher"]


class WindowHost(Protocol):
    """What a feature may use of the main window."""

    ctx: AppContext
    model: ModelHost
    session_opened: SignalInstance     # emits the id of the session now open (-1: none)

    @property
    def session(self) -> Session | None: ...

    @property
    def settings(self) -> GenerationSettings: ...

    def widget(self) -> QMainWindow:
        """The window itself, as the parent of a feature's dialogs and windows."""
        ...

    def menu(self, name: MenuName) -> QMenu: ...

    def set_menu_badge(self, name: MenuName, on: bool) -> None:
        """Mark a menu's title ("Teacher ●") while something there waits for the user."""
        ...

    def add_status_widget(self, widget: QWidget) -> None: ...

    def add_dock(self, dock: QDockWidget) -> None: ...

    def show_message(self, text: str, *, timeout_ms: int = 0) -> None:
        """A line in the status bar, for `timeout_ms` (0: until the next message)."""
        ...

    def notify_desktop(self, text: str) -> None: ...

    def show_input_status(self, text: str) -> None:
        """The line under the composer, where the student looks while typing."""
        ...

    def with_teacher(self, action: Callable[[], None]) -> None:
        """Run `action` now if a teacher is signed in, else after one signs in (never if they cancel)."""
        ...


class Feature(Protocol):
    def shutdown(self) -> None:
        """The window is closing: stop timers, processes and windows of this feature."""
        ...


FeatureFactory = Callable[[WindowHost], Feature]
