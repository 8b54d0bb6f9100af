""""Why this answer?" in the window: the panel's content for a student and a teacher, the button on
tutor replies in the chat and in the review pane, opening an example in the review window, and a
measured influence on the real model worker (tiny model) with progress."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.ui.chat.chat_view import ChatView
from app.ui.context import AppContext
from app.ui.teacher.review_view import ReviewView
from app.ui.why_panel import WhyPanel
from learner.review_prompt import prompt_messages_for
from learner.sources import prepare_model
from storage import Database, DataDir, adapters, auth, chat, review
from tests.support.classroom import (
    FACTS,
    FAST,
    PASSWORD,
    TEACHER_NAME,
    add_exchange,
    approve,
)
from tests.support.tiny_model import save_noisy_adapter

QUESTION = "Why do volcanoes erupt near tectonic plate boundaries?"
ANSWER = "Magma rises where plates pull apart or sink under each other."


@pytest.fixture
def planted(ctx: AppContext, db: Database, data_dir: DataDir, tmp_path: Path, tiny_model_dir: Path) -> dict:
    """v1, a real LoRA adapter on the tiny model, trained (by registration) on FACTS and a planted
    volcano exchange of Ana's; a reply v1 wrote in another of her chats."""
    teacher = auth.create_teacher(db, None, TEACHER_NAME, PASSWORD, params=FAST)
    approve(db, teacher, tmp_path, FACTS)
    session = chat.create_session(db, ctx.student.id, title="Volcanoes", topic="Geography")
    source = add_exchange(db, session.id, QUESTION, ANSWER)
    example = review.approve(db, teacher, f"m{source.id}", prompt_for=prompt_messages_for).example_id
    prepared = prepare_model(str(tiny_model_dir), data_dir)
    folder = save_noisy_adapter(prepared, data_dir.adapters_dir / "v1")
    ids = [e.id for e in review.list_examples(db)]
    adapters.register_adapter(db, version=1, base_model_id=prepared.model_id, path=str(folder), n_examples=len(ids),
                              n_heldout=0, n_replay=0, examples_approved_until=None, recipe={}, metrics={},
                              gate={"passed": True, "checks": [{"name": "heldout", "passed": True, "skipped": False,
                                                                "detail": "Held-out loss went down."}]},
                              gate_passed=True, gate_reason="All checks passed.", run_id=None, train_ids=ids,
                              heldout_ids=[])
    adapters.promote(db, teacher, 1)
    later = chat.create_session(db, ctx.student.id, title="More volcanoes", topic="Geography")
    chat.add_message(db, later.id, "user", "How do volcanoes erupt at plate boundaries?", mode="explain")
    reply = chat.add_message(db, later.id, "assistant", "Magma rises at the boundaries.", mode="explain",
                             model_id=prepared.model_id, adapter_version=1)
    return {"teacher": teacher, "reply": reply, "example": example, "key": f"m{source.id}", "session": later}


def test_a_student_sees_the_model_adapter_and_gate_but_no_examples(qtbot, ctx: AppContext, planted) -> None:
    panel = WhyPanel(ctx, planted["reply"].id)
    qtbot.addWidget(panel)
    text = panel.summary.toPlainText()
    assert "with adapter v1" in text and f"by {TEACHER_NAME}" in text and "Held-out loss went down." in text
    assert "signed-in teacher" in panel.examples_title.text() and panel.example_buttons == []
    assert not panel.influence_button.isVisible() and not panel.influence_button.isEnabled()


def test_a_teacher_sees_similar_examples_and_opens_one_in_the_review_window(qtbot, ctx: AppContext, planted) -> None:
    ctx.teacher = planted["teacher"]
    panel = WhyPanel(ctx, planted["reply"].id)
    qtbot.addWidget(panel)
    assert "Similar approved examples" in panel.examples_title.text()
    assert "not show they caused" in panel.examples_title.text()
    assert panel.example_buttons and panel.example_buttons[0].isEnabled()
    with qtbot.waitSignal(ctx.navigation.review_item, timeout=2000) as opened:
        panel.example_buttons[0].click()
    assert opened.args == [planted["key"]]

    view = ReviewView(ctx)
    qtbot.addWidget(view)
    view.show_item(planted["key"])
    assert view.current_item().key == planted["key"] and view.status_filter.currentText() == "approved"
    assert ANSWER in view.detail.toPlainText()
    view.show_item(f"m{planted['reply'].id}")              # a reply nobody approved: said, not selected
    assert "not in the queue" in view.status_line.text()


def test_the_chat_and_the_review_pane_open_the_panel_from_a_reply(qtbot, ctx: AppContext, db: Database,
                                                                  planted) -> None:
    view = ChatView(ctx)
    qtbot.addWidget(view)
    widget = view.add_message(planted["reply"])
    assert not widget.why_button.isHidden()
    widget.why_button.click()
    assert view.why_panel is not None and view.why_panel.message_id == planted["reply"].id
    assert view.why_panel.isVisible()
    view.why_panel.close()
    qtbot.waitUntil(lambda: view.why_panel is None)

    ctx.teacher = planted["teacher"]
    pane = ReviewView(ctx)
    qtbot.addWidget(pane)
    assert pane.why_button.isEnabled()                      # a chat reply is selected (the queue's first)
    pane.explain_current()
    assert pane.why_panel is not None and pane.why_panel.message_id == int(pane.current_item().key[1:])


def test_influence_runs_on_the_model_worker_with_progress(qtbot, window, planted) -> None:
    window.ctx.teacher = planted["teacher"]
    window.chat.explain(planted["reply"].id)
    panel = window.chat.why_panel
    assert panel is not None and panel.host is window.model and panel.influence_button.isEnabled()
    seen: list[int] = []
    panel.timer.timeout.connect(lambda: seen.append(panel.progress.value()))
    panel.influence_button.click()
    assert panel.stop_button.isVisible() and panel.request_id is not None
    qtbot.waitUntil(lambda: panel.request_id is None, timeout=120_000)
    assert "examples scored" in panel.status.text(), panel.status.text()
    assert "Measured influence" in panel.examples_title.text() and panel.example_buttons
    assert panel.example_buttons[0].isEnabled()              # the top example opens in the review window
    with qtbot.waitSignal(window.ctx.navigation.review_item, timeout=2000) as opened:
        panel.example_buttons[0].click()
    assert opened.args == [planted["key"]]
