"""The chat records the exact prompt each tutor reply was generated from (storage table
reply_prompts), and a teacher's approval snapshots that prompt, not one rendered again later.

Real widgets, the real worker thread, the tiny model and a real SQLite file; the approval goes
through storage.review.approve with the builder the review view and CLI pass (prompt_messages_for),
so a missing recording would show up as a prompt rendered from today's settings."""
from __future__ import annotations


import torch
from PySide6.QtCore import Qt

from app.ui.main_window import MainWindow
from learner.prompts import TRIM_MARKER, mode_turn, system_prompt
from learner.review_prompt import prompt_messages_for
from storage import auth, chat, review, users
from tests.support.window import REPLY_TIMEOUT_MS, tiny_settings
from tests.app.ui.test_main_window import hold_at_first_piece, send_and_wait, type_and_send

FAST_SCRYPT = auth.ScryptParams(n=2**8, r=8, p=1)


def recorded_prompt(db, message_id: int) -> list[dict[str, str]] | None:
    return review.recorded_prompt(db, message_id)


def assistant_messages(db, session_id: int) -> list[chat.Message]:
    return [m for m in chat.list_messages(db, session_id) if m.role == "assistant"]


def test_each_reply_records_the_messages_the_tutor_built(qtbot, window: MainWindow, ctx) -> None:
    torch.manual_seed(0)
    first = send_and_wait(qtbot, window, "What is a fraction?", mode="explain")
    second = send_and_wait(qtbot, window, "And what is a denominator?", mode="hint")
    session = window.session
    user1, reply1, user2, reply2 = chat.list_messages(ctx.db, session.id)

    assert recorded_prompt(ctx.db, reply1.id) == list(first.messages)
    assert recorded_prompt(ctx.db, reply2.id) == list(second.messages)
    # Re-derived independently of the Tutor: the system prompt for the student's grade as the chat
    # sends it ("grade 7"), the earlier exchange as stored, the new message wrapped by the hint prompt.
    grade, topic = "grade 7", session.topic
    earlier = [{"role": m.role, "content": m.content} for m in (user1, reply1) if m.content.strip()]
    assert recorded_prompt(ctx.db, reply2.id) == [
        {"role": "system", "content": system_prompt(grade=grade, topic=topic)},
        *earlier,
        {"role": "user", "content": mode_turn("hint", user2.content, grade=grade, topic=topic)},
    ]


def test_approval_snapshots_the_recorded_prompt_after_the_grade_changed(qtbot, window: MainWindow, ctx) -> None:
    torch.manual_seed(0)
    reply = send_and_wait(qtbot, window, "Why is 1/2 bigger than 1/3?", mode="explain")
    [stored] = assistant_messages(ctx.db, window.session.id)
    as_generated = recorded_prompt(ctx.db, stored.id)
    assert as_generated == list(reply.messages)
    assert "grade 7" in as_generated[0]["content"]

    # After the reply: the student's grade changes (and with it what the prompt files render).
    users.update_user(ctx.db, ctx.student.id, grade="11")
    teacher = auth.create_teacher(ctx.db, None, "Ms Lee", "correct horse battery", params=FAST_SCRYPT)
    rendered_now = prompt_messages_for(review.reply_context(ctx.db, teacher, stored.id))
    assert "11" in rendered_now[0]["content"] and rendered_now != as_generated, \
        "a prompt rendered at approval time would differ, so the snapshot below shows the recording is used"

    decision = review.approve(ctx.db, teacher, stored.id, prompt_for=prompt_messages_for)
    example = review.get_example(ctx.db, decision.example_id)
    assert list(example.prompt) == as_generated
    assert example.completion == stored.content.strip()


def test_a_stopped_reply_records_its_prompt_too(qtbot, window: MainWindow, ctx) -> None:
    window.apply_settings(tiny_settings(window.settings.model_spec, max_new_tokens=3000))
    held = hold_at_first_piece(window)
    type_and_send(qtbot, window, "Tell me a very long story about fractions.", mode="explain")
    qtbot.waitUntil(held.is_set, timeout=REPLY_TIMEOUT_MS)
    with qtbot.waitSignal(window.model.worker.cancelled, timeout=REPLY_TIMEOUT_MS) as stopped:
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.pending is None, timeout=5_000)
    reply = stopped.args[1]
    [stored] = assistant_messages(ctx.db, window.session.id)
    assert stored.status == "stopped"
    assert reply.messages and recorded_prompt(ctx.db, stored.id) == list(reply.messages)


def test_the_recorded_prompt_is_the_trimmed_one(qtbot, window: MainWindow, ctx) -> None:
    torch.manual_seed(0)
    window.apply_settings(tiny_settings(window.settings.model_spec, max_new_tokens=8))
    paste = ("Photosynthesis turns light into sugar. " * 3000)[:100_000]
    reply = send_and_wait(qtbot, window, paste)
    [stored] = assistant_messages(ctx.db, window.session.id)
    prompt = recorded_prompt(ctx.db, stored.id)
    assert prompt == list(reply.messages)
    assert TRIM_MARKER in prompt[-1]["content"] and len(prompt[-1]["content"]) < len(paste)


def test_a_guarded_reply_records_its_prompt(qtbot, window: MainWindow, ctx) -> None:
    """Replies checked by the hint-don't-tell guard (practice) are rebuilt by learner.guard; they
    must keep the prompt of the generation whose text they carry."""
    from learner.guard import guarded_request

    window.model.add_request_filter(lambda request: guarded_request(request, "zzqx never said",
                                                                    context="Sam ate 3/8 of a pizza."))
    torch.manual_seed(0)
    reply = send_and_wait(qtbot, window, "How do I start?", mode="hint")
    assert reply.guard is not None
    [stored] = assistant_messages(ctx.db, window.session.id)
    assert reply.messages and recorded_prompt(ctx.db, stored.id) == list(reply.messages)
    assert "How do I start?" in reply.messages[-1]["content"]

