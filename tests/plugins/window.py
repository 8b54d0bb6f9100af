"""Qt fixtures. Autouse for every test: no QThread may be left running, and message boxes are
recorded instead of blocking an offscreen run. For window tests: a context with a student, and
main windows with the tiny model loaded by the real worker thread."""
from __future__ import annotations

import gc
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QMessageBox

from app.ui.context import AppContext
from learner.settings import save_generation_settings
from storage import DataDir, Database, users
from tests.support.window import LOAD_TIMEOUT_MS, MessageBoxes, tiny_settings


@pytest.fixture(scope="session", autouse=True)
def garbage_collected_on_the_main_thread(qapp):
    """As the app does (app.ui.qt_compat.collect_garbage_on_the_gui_thread): no automatic collection,
    which could run in a worker thread and crash on a Qt wrapper (seen: a segfault while transformers
    started a loading thread); a timer collects while Qt waits, and each test ends with a collection
    of the young generations here, on the main thread."""
    from app.ui.qt_compat import collect_garbage_on_the_gui_thread

    collector = collect_garbage_on_the_gui_thread()
    yield
    collector.timer.stop()
    gc.enable()


@pytest.fixture(autouse=True)
def collect_after_each_test():
    yield
    gc.collect(1)


@pytest.fixture(autouse=True)
def no_running_qthreads(monkeypatch: pytest.MonkeyPatch):
    """Fail any test that leaves a QThread running. pytest-qt closes the widgets it was given
    before fixtures are torn down, so a window's closeEvent has had its chance to shut down."""
    started: list[QThread] = []
    original_start = QThread.start

    def recording_start(self: QThread, *args: object) -> None:
        started.append(self)
        original_start(self, *args)

    monkeypatch.setattr(QThread, "start", recording_start)
    yield started
    running = [t.objectName() or repr(t) for t in started if t.isRunning()]
    for thread in started:  # stop them anyway so one failure does not cascade into the next test
        if thread.isRunning():
            thread.quit()
            thread.wait(10_000)
    assert not running, f"test left QThreads running: {running}"


@pytest.fixture(autouse=True)
def message_boxes(monkeypatch: pytest.MonkeyPatch) -> MessageBoxes:
    """Modal boxes would block an offscreen test forever; record them instead."""
    boxes = MessageBoxes()

    def recorder(kind: str):
        def show(_parent, title, text, *_args, **_kwargs):
            boxes.shown.append((kind, title, text))
            return boxes.answer if kind == "question" else QMessageBox.StandardButton.Ok
        return staticmethod(show)

    for kind in ("warning", "critical", "information", "question", "about"):
        monkeypatch.setattr(QMessageBox, kind, recorder(kind))
    return boxes


@pytest.fixture
def ctx(data_dir: DataDir, db: Database, tiny_model_dir: Path) -> AppContext:
    save_generation_settings(db, tiny_settings(tiny_model_dir))
    context = AppContext(data_dir=data_dir, db=db)
    context.student = users.create_user(db, "Ana", grade="7")
    return context


@pytest.fixture
def open_window(qtbot, ctx: AppContext):
    """Opens main windows and closes them after the test. The fixture holds them: qtbot keeps only
    a weak reference, and a window garbage-collected without closing would never stop its thread."""
    from app.ui.app import window_features
    from app.ui.main_window import MainWindow

    opened: list[MainWindow] = []

    def open_() -> MainWindow:
        win = MainWindow(ctx, features=window_features())
        qtbot.addWidget(win)
        opened.append(win)
        win.show()
        return win

    yield open_
    for win in opened:
        win.close()
        # delete now, with the database still open: the window installs timers and application
        # event filters (scheduler) that would otherwise outlive it until garbage collection
        shiboken6.delete(win)


@pytest.fixture
def window(qtbot, open_window):
    """The main window with the tiny model loaded by its real worker thread."""
    from app.ui.worker import READY

    win = open_window()
    win.start_model()
    qtbot.waitUntil(lambda: win.model.state == READY, timeout=LOAD_TIMEOUT_MS)
    return win
