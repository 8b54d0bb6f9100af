"""Keys every tool window answers to: Esc and Ctrl+W (the platform's Close) close it."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget


def add_close_keys(window: QWidget) -> list[QShortcut]:
    shortcuts: list[QShortcut] = []
    seen: set[str] = set()
    # the platform's Close may itself be Ctrl+W; two shortcuts on one key would be ambiguous and neither fire
    for keys in (QKeySequence(Qt.Key.Key_Escape), QKeySequence("Ctrl+W"),
                 *QKeySequence.keyBindings(QKeySequence.StandardKey.Close)):
        if keys.isEmpty() or keys.toString() in seen:
            continue
        seen.add(keys.toString())
        shortcut = QShortcut(keys, window)
        shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        shortcut.activated.connect(window.close)
        shortcuts.append(shortcut)
    return shortcuts
