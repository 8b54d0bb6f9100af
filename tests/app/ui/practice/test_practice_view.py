"""The Practice panel and Progress dialog driven as a student and a teacher would: real widgets,
the window's real model worker thread with the tiny model loaded, a real SQLite file. Questions on
topics the maths engine has generators for, and the engine's verdicts, need no model; where the
model writes or judges, its text comes from the scripted generator at the learner boundary (the
tiny random model cannot write a parsable item); everything else is the real path."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from PySide6.QtCore import Qt

from app.ui.practice.practice_view import CHECKED_TEXT, UNCHECKED_TEXT, PracticeController
from learner.mastery import bkt_update
from learner.practice import Judgement, store_attempt
from storage import chat, users
from storage import practice
from tests.support.practice import GOOD_ITEM, MODEL_TOPIC, RIGHT_KEY_ITEM, ScriptedGenerator
from tests.support.window import REPLY_TIMEOUT_MS


def _script(panel, replies):
    gen = ScriptedGenerator(replies)
    panel.make_generator = lambda tutor, stop=None: gen
    return gen


def test_generated_question_answer_feedback_mastery_flow(qtbot, window, ctx):
    panel = window.feature(PracticeController).panel
    gen = _script(panel, [])                  # the model is never asked: any call fails the test
    panel.rng = random.Random(2)              # a fraction addition with a known wrong answer
    window.feature(PracticeController).new_action.trigger()
    assert window.feature(PracticeController).dock.isVisible()
    assert "Type a topic first" in panel.status_label.text()
    panel.topic_edit.setText("Fractions")
    with qtbot.waitSignal(panel.item_opened, timeout=REPLY_TIMEOUT_MS):
        qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    [item] = practice.list_items(ctx.db, ctx.student.id)
    assert panel.question_label.text() == item.question and item.topic == "Fractions"
    assert (item.checked, item.key_source, item.difficulty, item.model_id) == (True, "generator", "easy", None)
    assert panel.key_check_label.text() == CHECKED_TEXT
    assert panel.key_label.text() == ""                       # the key stays hidden
    assert item.wrong_answers, "seed 2 gives an item with a known wrong answer"
    wrong = item.wrong_answers[0]

    # bad answers: a clear message, nothing judged, nothing stored
    for bad, says in (("", "Your answer is empty"), ("x" * 10_000, "at most 4,000")):
        panel.answer_edit.setPlainText(bad)
        qtbot.mouseClick(panel.check_button, Qt.MouseButton.LeftButton)
        assert says in panel.status_label.text()
        assert panel._pending is None
    assert "10,000 / 4,000" in panel.count_label.text()
    assert practice.list_attempts(ctx.db, item.id) == []

    # the misconception's wrong answer: judged by the engine, the mistake named, its hint shown
    panel.answer_edit.setPlainText(wrong.answer)
    with qtbot.waitSignal(panel.attempt_recorded, timeout=REPLY_TIMEOUT_MS):
        qtbot.mouseClick(panel.check_button, Qt.MouseButton.LeftButton)
    assert panel.verdict_label.text() == "✘ Not quite"
    assert wrong.name in panel.feedback_label.text()
    assert not panel.hint_label.isHidden() and wrong.hint in panel.hint_label.text()
    [attempt] = practice.list_attempts(ctx.db, item.id)
    assert (attempt.verdict, attempt.misconception, attempt.model_id) == ("incorrect", wrong.code, None)
    expected = bkt_update(None, "incorrect")
    assert practice.get_mastery(ctx.db, ctx.student.id, "Fractions").p_known == pytest.approx(expected)
    assert f"{expected:.0%}" in panel.mastery_label.text() and "30% →" in panel.status_label.text()
    assert practice.get_card(ctx.db, item.id) is not None
    assert gen.calls == []

    # dispute → teacher review
    panel.dispute_edit.setText("I meant something else")
    qtbot.mouseClick(panel.dispute_button, Qt.MouseButton.LeftButton)
    assert practice.get_attempt(ctx.db, attempt.id).disputed and not panel.dispute_button.isEnabled()
    teacher = users.create_user(ctx.db, "Ms Reed", role="teacher", password_hash="x")
    [d] = practice.list_disputes(ctx.db, teacher)
    assert (d.reason, d.answer) == ("I meant something else", wrong.answer)

    qtbot.mouseClick(panel.reveal_button, Qt.MouseButton.LeftButton)
    assert item.answer_key in panel.key_label.text() and item.worked_steps[-1] in panel.key_label.text()
    assert "not checked" not in panel.key_label.text() and practice.get_item(ctx.db, item.id).revealed_at


def test_a_model_written_question_nothing_can_check_is_labelled_unchecked(qtbot, window, ctx):
    panel = window.feature(PracticeController).panel
    gen = _script(panel, [GOOD_ITEM, "Verdict: partly\nFeedback: You wrote three eighths: you added the bottoms "
                                     "too; quarters stay quarters."])
    panel.topic_edit.setText(MODEL_TOPIC)
    with qtbot.waitSignal(panel.item_opened, timeout=REPLY_TIMEOUT_MS):
        qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    [item] = practice.list_items(ctx.db, ctx.student.id)
    assert not item.checked and item.model_id == "scripted-model"
    assert panel.key_check_label.text() == UNCHECKED_TEXT == "⚠ Answer key not checked"
    assert "Difficulty: easy" in gen.prompts[0] and "Grade level: 7" in gen.prompts[0]

    # an answer in words the engine cannot read goes to the model, with the key
    panel.answer_edit.setPlainText("I added them and got three eighths")
    with qtbot.waitSignal(panel.attempt_recorded, timeout=REPLY_TIMEOUT_MS):
        qtbot.mouseClick(panel.check_button, Qt.MouseButton.LeftButton)
    assert "I added them and got three eighths" in gen.prompts[1] and "Answer key: 3/4" in gen.prompts[1]
    assert panel.verdict_label.text() == "◐ Partly correct"
    assert "You wrote three eighths" in panel.feedback_label.text()
    assert "was not checked" in panel.feedback_label.text() and panel.hint_label.isHidden()
    assert practice.get_mastery(ctx.db, ctx.student.id, MODEL_TOPIC).p_known == pytest.approx(
        bkt_update(None, "partly"))

    qtbot.mouseClick(panel.reveal_button, Qt.MouseButton.LeftButton)
    assert "3/4, because" in panel.key_label.text() and "not checked" in panel.key_label.text()


def test_a_correct_answer_is_correct_whatever_the_model_would_say(qtbot, window, ctx):
    panel = window.feature(PracticeController).panel
    gen = _script(panel, [RIGHT_KEY_ITEM, "Verdict: incorrect\nFeedback: No."])
    panel.topic_edit.setText(MODEL_TOPIC)
    with qtbot.waitSignal(panel.item_opened, timeout=REPLY_TIMEOUT_MS):
        qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    assert panel.item.checked and panel.key_check_label.text() == CHECKED_TEXT
    panel.answer_edit.setPlainText("10/12")
    with qtbot.waitSignal(panel.attempt_recorded, timeout=REPLY_TIMEOUT_MS):
        qtbot.mouseClick(panel.check_button, Qt.MouseButton.LeftButton)
    assert panel.verdict_label.text() == "✔ Correct" and len(gen.calls) == 1     # only the item was written
    assert practice.list_attempts(ctx.db, panel.item.id)[0].verdict == "correct"


def test_hint_while_an_item_is_open_is_checked_by_the_guard(qtbot, window, ctx):
    panel = window.feature(PracticeController).panel
    _script(panel, [GOOD_ITEM])
    panel.topic_edit.setText(MODEL_TOPIC)
    with qtbot.waitSignal(panel.item_opened, timeout=REPLY_TIMEOUT_MS):
        qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)

    from learner.types import TutorRequest

    marked = window.model.filtered(TutorRequest(user_text="help?", mode="hint")).guard
    assert marked is not None and marked.answer_key.startswith("3/4") and "Sam ate" in marked.context
    assert window.model.filtered(TutorRequest(user_text="q", mode="practice")).guard is None

    window.composer.mode_buttons["hint"].click()
    window.composer.input.setPlainText("How do I start?")
    with qtbot.waitSignal(window.model.worker.finished, timeout=REPLY_TIMEOUT_MS) as done:
        qtbot.keyClick(window.composer.input, Qt.Key.Key_Return)
    reply = done.args[1]
    assert reply.guard.outcome in ("passed", "regenerated", "withheld")
    qtbot.waitUntil(lambda: practice.telling_rates(ctx.db) != [], timeout=5_000)
    [rate] = practice.telling_rates(ctx.db)
    assert rate.checked == 1 and rate.adapter_version is None
    stored = chat.list_messages(ctx.db, window.session.id)[-1]
    assert stored.content == reply.text              # what the student sees is the checked text


def test_a_model_reply_without_a_key_fails_cleanly(qtbot, window, ctx):
    panel = window.feature(PracticeController).panel
    _script(panel, ["Fractions are great!"] * 3)
    panel.topic_edit.setText(MODEL_TOPIC)
    qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel._pending is None, timeout=REPLY_TIMEOUT_MS)
    assert "did not write a usable practice question in 3 tries" in panel.status_label.text()
    assert practice.list_items(ctx.db, ctx.student.id) == [] and panel.new_button.isEnabled()


def test_due_reviews_are_offered_at_the_start(qtbot, open_window, ctx):
    item = practice.add_item(ctx.db, ctx.student.id, topic="Fractions", question="What is 1/4 + 2/4?", answer_key="3/4")
    store_attempt(ctx.db, item, ctx.student.id, answer="3/4",
                  judgement=Judgement(verdict="correct", feedback="Right.", by_model=False),
                  now=datetime.now(timezone.utc) - timedelta(days=30))
    win = open_window()
    panel = win.feature(PracticeController).panel
    assert win.feature(PracticeController).dock.isVisible()
    assert "1 practice question is due" in panel.offer_label.text()
    assert "1 practice question is due" in win.composer.status_label.text()
    win.feature(PracticeController).review_action.trigger()
    assert panel.item is not None and panel.item.id == item.id
    row = panel.due_list.item(0)
    assert row.data(Qt.ItemDataRole.UserRole) == item.id
    panel._open_due(row)
    assert panel.item is not None and panel.item.id == item.id and panel.question_label.text() == item.question


def test_progress_dialog_student_chart_and_teacher_overview(qtbot, open_window, ctx):
    for answer, verdict in (("3/8", "incorrect"), ("3/4", "correct")):
        item = practice.add_item(ctx.db, ctx.student.id, topic="Fractions", question="What is 1/4 + 2/4?",
                              answer_key="3/4")
        store_attempt(ctx.db, item, ctx.student.id, answer=answer,
                      judgement=Judgement(verdict=verdict, feedback="f", by_model=True))
    practice.record_guard_event(ctx.db, mode="hint", caught=True, outcome="withheld", adapter_version=None)
    win = open_window()
    win.feature(PracticeController).open_progress()
    dialog = win.feature(PracticeController)._progress
    qtbot.waitUntil(dialog.isVisible, timeout=5_000)
    assert dialog.tabs.count() == 1                                  # a student sees only their own
    assert dialog.topic_table.item(0, 0).text() == "Fractions"
    xs, ys = dialog.series["Fractions"]
    assert ys == pytest.approx([bkt_update(None, "incorrect"), bkt_update(bkt_update(None, "incorrect"), "correct")])

    ctx.teacher = users.create_user(ctx.db, "Ms Reed", role="teacher", password_hash="x")
    dialog.reload()
    assert [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())] == [
        "My progress", "Class overview", "Disputed verdicts"]
    assert dialog.class_table.verticalHeaderItem(0).text() == "Ana"
    assert dialog.class_table.item(0, 0).text().endswith("(2)")
    assert dialog.telling_table.item(0, 0).text() == "base model" and dialog.telling_table.item(0, 4).text() == "100%"
    ctx.teacher = None
    dialog.reload()
    assert dialog.tabs.count() == 1
