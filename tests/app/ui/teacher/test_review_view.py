"""pytest-qt flows in the review view: keyboard decisions, dialogs, bulk confirmation, undo."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app.ui.context import AppContext, ChangeKind
from app.ui.teacher.review_view import EditReplyDialog, RejectDialog, ReviewView
from storage import Database, chat, review, users
from storage.review import QueueFilter
from tests.support.classroom import Classroom, add_exchange
from tests.support.window import MessageBoxes


def press(qtbot, view: ReviewView, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(view.list, key, modifier)


def pending_keys(db: Database, teacher) -> list[str]:
    return [i.key for i in review.list_queue(db, teacher)]


def test_counts_and_list_are_shown(view: ReviewView, classroom: Classroom) -> None:
    assert view.list.count() == 3
    assert "<b>3</b> pending" in view.counts_label.text()
    assert "What is 1/2 + 1/4?" in view.detail.toPlainText()
    assert "3/4: write 1/2 as 2/4 and add." in view.detail.toPlainText()


def test_j_k_move_and_a_approves_the_current_reply(qtbot, view: ReviewView, db, classroom: Classroom) -> None:
    press(qtbot, view, Qt.Key.Key_J)
    assert view.current_item().key == f"m{classroom.replies[1].id}"
    press(qtbot, view, Qt.Key.Key_J)
    press(qtbot, view, Qt.Key.Key_K)
    assert view.current_item().key == f"m{classroom.replies[1].id}"
    # The context before the student message is shown, the reply after it.
    assert "Earlier in the conversation" in view.detail.toHtml()
    press(qtbot, view, Qt.Key.Key_A)
    assert pending_keys(db, classroom.teacher) == [f"m{classroom.replies[0].id}", f"m{classroom.replies[2].id}"]
    [example] = review.list_examples(db)
    assert example.completion == "2/3." and example.prompt[0]["role"] == "system"
    assert "<b>2</b> pending" in view.counts_label.text() and "<b>1</b> approved" in view.counts_label.text()
    # The next item is selected, ready for the next key.
    assert view.current_item().key == f"m{classroom.replies[2].id}"


def test_e_opens_the_editor_with_the_suggestion_and_approves_the_edit(qtbot, view: ReviewView, db,
                                                                      classroom: Classroom) -> None:
    chat.set_feedback(db, classroom.replies[0].id, rating=-1, suggestion="Use quarters: 2/4 + 1/4 = 3/4.")
    view.refresh()
    press(qtbot, view, Qt.Key.Key_E)
    dialog = view.dialog
    assert isinstance(dialog, EditReplyDialog)
    assert dialog.editor.toPlainText() == "Use quarters: 2/4 + 1/4 = 3/4."
    dialog.editor.setPlainText("   ")
    assert not dialog.approve_button.isEnabled()   # an empty edit cannot be approved
    dialog.editor.setPlainText("Use quarters: 2/4 + 1/4 = 3/4. Draw it!")
    qtbot.mouseClick(dialog.approve_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.dialog is None)
    [example] = review.list_examples(db)
    assert example.completion == "Use quarters: 2/4 + 1/4 = 3/4. Draw it!"
    assert example.original_completion == classroom.replies[0].content


def test_r_rejects_with_a_reason_and_cancel_changes_nothing(qtbot, view: ReviewView, db,
                                                           classroom: Classroom) -> None:
    press(qtbot, view, Qt.Key.Key_R)
    dialog = view.dialog
    assert isinstance(dialog, RejectDialog)
    assert not dialog.reject_button.isEnabled()    # no reason, no rejection
    dialog.reject()
    qtbot.waitUntil(lambda: view.dialog is None)
    assert len(pending_keys(db, classroom.teacher)) == 3

    press(qtbot, view, Qt.Key.Key_R)
    dialog = view.dialog
    dialog.reason_edit.setCurrentText("Gives the answer away")
    qtbot.mouseClick(dialog.reject_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.dialog is None)
    [rejected] = review.list_queue(db, classroom.teacher, QueueFilter(status="rejected"))
    assert (rejected.key, rejected.reason) == (f"m{classroom.replies[0].id}", "Gives the answer away")
    assert "<b>1</b> rejected" in view.counts_label.text()


def test_ctrl_z_undoes_the_last_decision(qtbot, view: ReviewView, db, classroom: Classroom) -> None:
    press(qtbot, view, Qt.Key.Key_A)
    assert len(review.list_examples(db)) == 1
    press(qtbot, view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert review.list_examples(db) == []
    assert view.current_item().key == f"m{classroom.replies[0].id}"
    assert "Undid" in view.status_line.text()


def test_bulk_approve_states_the_count_and_needs_confirmation(qtbot, view: ReviewView, db,
                                                              classroom: Classroom) -> None:
    view.list.selectAll()
    assert view.bulk_button.text().startswith("Approve selected (3)")
    press(qtbot, view, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    box = view.dialog
    assert isinstance(box, QMessageBox)
    assert box.text() == "Approve 3 selected replies as training examples?"
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    # Cancel: nothing is approved.
    qtbot.mouseClick(box.button(QMessageBox.StandardButton.Cancel), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.dialog is None)
    assert review.list_examples(db) == []
    # Plain A on a multi-selection asks too.
    view.list.selectAll()
    press(qtbot, view, Qt.Key.Key_A)
    box = view.dialog
    assert isinstance(box, QMessageBox) and "Approve 3" in box.text()
    qtbot.mouseClick(box.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.dialog is None)
    assert len(review.list_examples(db)) == 3
    assert view.list.count() == 0 and "<b>0</b> pending" in view.counts_label.text()
    press(qtbot, view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert review.list_examples(db) == [] and view.list.count() == 3


def test_filters_narrow_the_list(qtbot, view: ReviewView, db, classroom: Classroom) -> None:
    other = users.create_user(db, "Ben")
    add_exchange(db, chat.create_session(db, other.id, topic="Biology").id, "What is DNA?", "A molecule.")
    chat.set_feedback(db, classroom.replies[2].id, rating=-1)
    view.ctx.changes.notify(ChangeKind.MESSAGES)
    assert view.list.count() == 4
    assert view._items[0].key == f"m{classroom.replies[2].id}"   # 👎 first
    view.student_filter.setCurrentIndex(view.student_filter.findText("Ben"))
    assert [i.student_name for i in view._items] == ["Ben"]
    view.student_filter.setCurrentIndex(0)
    view.topic_filter.setCurrentIndex(view.topic_filter.findText("Fractions"))
    view.mode_filter.setCurrentText("hint")
    assert [i.key for i in view._items] == [f"m{classroom.replies[1].id}"]
    view.mode_filter.setCurrentText("Any")
    view.rating_filter.setCurrentIndex(view.rating_filter.findData("down"))
    assert [i.key for i in view._items] == [f"m{classroom.replies[2].id}"]


def test_a_reply_deleted_meanwhile_gives_a_clear_message(qtbot, view: ReviewView, db, classroom: Classroom,
                                                         message_boxes: MessageBoxes) -> None:
    chat.delete_session(db, classroom.session.id)   # the student deletes the chat while the queue is open
    press(qtbot, view, Qt.Key.Key_A)
    warnings = message_boxes.texts("warning")
    assert warnings and "no longer exists" in warnings[0]
    assert review.list_examples(db) == []
    assert view.list.count() == 0


def test_a_student_signed_in_as_teacher_object_is_still_refused(qtbot, data_dir, db, classroom: Classroom) -> None:
    ctx = AppContext(data_dir=data_dir, db=db, teacher=classroom.student)  # a UI bug cannot grant the role
    widget = ReviewView(ctx)
    qtbot.addWidget(widget)
    assert widget.list.count() == 0
    assert "only a teacher" in widget.detail.toPlainText()
    widget.approve_current()
    assert review.list_examples(db) == []


def test_letters_typed_into_a_filter_never_decide(qtbot, view: ReviewView, db, classroom: Classroom) -> None:
    view.mode_filter.setFocus()
    qtbot.keyClick(view.mode_filter, Qt.Key.Key_A)
    qtbot.keyClick(view.mode_filter, Qt.Key.Key_R)
    assert review.list_examples(db) == [] and view.dialog is None
    view.detail.setFocus()                 # reading the conversation, A still works
    qtbot.keyClick(view.detail, Qt.Key.Key_A)
    assert len(review.list_examples(db)) == 1
