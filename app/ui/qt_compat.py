"""A guard against a reference-counting bug in the pinned PySide6 (6.12.0) on Python 3.11.

Measured here: every call of a PySide6 method that returns nothing (setText, setValue, setVisible,
QApplication.processEvents, ...) drops one reference to None, and every Signal.emit() drops one
to True. Python 3.11 starts with about 5,000 references to None and 600 to True, so a window that
streams a few hundred tokens or redraws a few thousand times deallocates True or None and the
process aborts ("Fatal Python error: bool_dealloc" / "none_dealloc").

Python 3.12+ makes None/True/False immortal, which hides the bug. On 3.11 we give them the same
protection by adding 2**40 to their reference counts once at start-up: these objects are never
freed anyway (freeing them is the fatal error), so nothing else changes. The fix is applied only
when the bug is actually observed, so a fixed PySide6 leaves the counts alone.
"""
from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

_PINNED_EXTRA = 1 << 40
_applied = False


class _Probe(QObject):
    fired = Signal()


def pyside_drops_references() -> bool:
    """True when this PySide6 build loses references to None or True (checked by calling both
    kinds of function a few times)."""
    probe = _Probe()
    calls = 16
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(calls):
        probe.fired.emit()
        probe.setObjectName("probe")
    lost_none = none_before - sys.getrefcount(None)
    lost_true = true_before - sys.getrefcount(True)
    return lost_none >= calls or lost_true >= calls


def pin_singletons() -> bool:
    """Make None, True and False effectively immortal if this PySide6 needs it; returns whether
    it did. Idempotent."""
    global _applied
    if _applied:
        return True
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False  # immortal already (or not CPython): nothing to guard
    if not pyside_drops_references():
        return False
    for singleton in (None, True, False):
        # ob_refcnt is the first field of every CPython object header (a Py_ssize_t).
        ctypes.c_ssize_t.from_address(id(singleton)).value += _PINNED_EXTRA
    _applied = True
    return True


pin_singletons()


def collect_garbage_on_the_gui_thread(interval_s: float = 1.0) -> object:
    """Python's cyclic garbage collector runs in whichever thread happens to allocate when a
    threshold is crossed: the model worker's thread, a transformers loading pool. Collecting a Qt
    wrapper there crashes the process (a segfault seen in the test suite, "Garbage-collecting" in a
    new thread). pyqtgraph's GarbageCollector turns automatic collection off and collects on a timer
    in the GUI thread instead. Keep the returned object alive as long as the application."""
    from pyqtgraph.util.garbage_collector import GarbageCollector

    return GarbageCollector(interval=interval_s)
