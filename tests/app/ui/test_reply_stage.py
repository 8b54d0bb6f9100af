"""Before a word problem's reply streams, the tiny model writes programs for seconds; the reply's
bubble says so ("working the problem out… 6 s"), then shows "writing…" once text streams. Real
widgets, the real worker thread with the tiny model, a real SQLite file."""
from __future__ import annotations

import threading

import torch
from PySide6.QtCore import Qt

from app.ui.main_window import MainWindow
from learner.grounded import STAGE_PROGRAMS
from tests.app.ui.test_main_window import type_and_send
from tests.support.window import REPLY_TIMEOUT_MS

WORD_PROBLEM = "Natalia sold 48 clips in April and half as many in May. How many clips did she sell altogether?"


def hold_at_first(signal) -> tuple[threading.Event, threading.Event]:
    """Pause the worker, on its own thread, at the first emission of `signal` (after the window's
    queued slot has its copy) until released. Returns (held, release)."""
    held, release = threading.Event(), threading.Event()

    def hold(*_args: object) -> None:
        if not held.is_set():
            held.set()
            release.wait(timeout=30)

    signal.connect(hold, Qt.ConnectionType.DirectConnection)
    return held, release


def test_the_bubble_says_the_problem_is_being_worked_out_until_text_streams(qtbot, window: MainWindow) -> None:
    torch.manual_seed(0)   # the tiny model samples; a fixed seed makes it write something visible
    worker = window.model.worker
    at_stage, after_stage = hold_at_first(worker.stage)
    _at_text, after_text = hold_at_first(worker.token)   # held at its first piece: "writing…" is seen
    now = [1000.0]
    window._clock = lambda: now[0]
    try:
        type_and_send(qtbot, window, WORD_PROBLEM)
        qtbot.waitUntil(at_stage.is_set, timeout=REPLY_TIMEOUT_MS)   # no program written yet, nothing streamed
        widget = window.chat.widget_for(window.pending.message_id)
        qtbot.waitUntil(lambda: widget.progress_label.text() == f"{STAGE_PROGRAMS}… 0 s", timeout=5_000)
        now[0] += 6
        qtbot.waitUntil(lambda: widget.progress_label.text() == "working the problem out… 6 s", timeout=5_000)
        assert widget.progress_label.isVisible() and window.pending.parts == []

        after_stage.set()   # the programs are written, then the reply streams
        qtbot.waitUntil(lambda: bool(window.pending and window.pending.parts), timeout=REPLY_TIMEOUT_MS)
        now[0] += 2
        qtbot.waitUntil(lambda: widget.progress_label.text().startswith("writing… 8 s"), timeout=5_000)
    finally:
        after_stage.set()
        after_text.set()
    qtbot.waitUntil(lambda: window.pending is None, timeout=REPLY_TIMEOUT_MS)
    assert not widget.progress_label.isVisible()


def test_a_question_the_engine_reads_itself_never_shows_the_stage(qtbot, window: MainWindow) -> None:
    torch.manual_seed(0)
    stages: list[str] = []
    window.model.worker.stage.connect(lambda _rid, stage: stages.append(stage))
    with qtbot.waitSignal(window.model.worker.finished, timeout=REPLY_TIMEOUT_MS):
        type_and_send(qtbot, window, "What is 1/2 + 1/4?")
    qtbot.waitUntil(lambda: window.pending is None, timeout=5_000)
    assert stages == []
