"""The chat window stores the maths engine's record (TutorReply.maths) with the reply it was made
for, so a teacher reviewing the reply sees it. Real widgets, the real worker thread running the
grounded reply path with the tiny model, a real SQLite file."""
from __future__ import annotations

import torch

from app.ui.main_window import MainWindow
from learner.maths_record import from_json, to_json
from storage import chat
from tests.app.ui.test_main_window import send_and_wait


def test_a_grounded_reply_is_stored_with_its_maths_record(qtbot, window: MainWindow, ctx) -> None:
    torch.manual_seed(0)
    reply = send_and_wait(qtbot, window, "What is 2/3 + 1/6?", mode="explain")
    # The engine computes the sum before generating, whatever the tiny model then writes.
    assert reply.maths is not None and "2/3 + 1/6 = 5/6" in reply.maths.computed
    [stored] = [m for m in chat.list_messages(ctx.db, window.session.id) if m.role == "assistant"]
    assert stored.maths_json == to_json(reply.maths)
    assert from_json(stored.maths_json) == reply.maths


def test_a_reply_the_engine_had_nothing_for_stores_no_record(qtbot, window: MainWindow, ctx) -> None:
    torch.manual_seed(0)
    reply = send_and_wait(qtbot, window, "Tell me a short story about a cat.", mode="explain")
    assert reply.maths is None
    [stored] = [m for m in chat.list_messages(ctx.db, window.session.id) if m.role == "assistant"]
    assert stored.maths_json is None
