from __future__ import annotations

import sqlite3

import pytest

from storage import Database, NotFoundError, PermissionDenied, ValidationError, adapters, audit, chat, review, users
from storage.review import AlreadyDecided, QueueFilter
from tests.storage.fake_adapter import write_fake_adapter
from tests.support.classroom import Classroom, add_exchange, fixed_prompt


def keys(items) -> list[str]:
    return [i.key for i in items]


def test_queue_lists_finished_replies_with_the_student_message(db: Database, classroom: Classroom) -> None:
    pending = review.list_queue(db, classroom.teacher)
    assert keys(pending) == [f"m{m.id}" for m in classroom.replies]
    first = pending[0]
    assert (first.student_message, first.reply, first.student_name, first.topic, first.mode) == (
        "What is 1/2 + 1/4?", "3/4: write 1/2 as 2/4 and add.", "Ana", "Fractions", "explain")
    detail = review.get_detail(db, classroom.teacher, pending[2].key)
    assert [t.content for t in detail.context] == [
        "What is 1/2 + 1/4?", "3/4: write 1/2 as 2/4 and add.", "And 1/3 + 1/3?", "2/3."]


def test_private_sessions_and_unfinished_replies_are_not_in_the_queue(db: Database, classroom: Classroom) -> None:
    hidden = chat.create_session(db, classroom.student.id, title="Secret", topic="Fractions")
    private_reply = add_exchange(db, hidden.id, "private question", "private answer")
    chat.update_session(db, hidden.id, private=True)
    chat.add_message(db, classroom.session.id, "user", "one more")
    chat.add_message(db, classroom.session.id, "assistant", "half", status="generating")
    assert keys(review.list_queue(db, classroom.teacher)) == [f"m{m.id}" for m in classroom.replies]
    with pytest.raises(ValidationError, match="private"):
        review.approve(db, classroom.teacher, f"m{private_reply.id}", prompt_for=fixed_prompt)
    assert review.list_examples(db) == []


def test_filters_and_thumbs_down_first(db: Database, classroom: Classroom) -> None:
    t = classroom.teacher
    other = users.create_user(db, "Ben", grade="9")
    s2 = chat.create_session(db, other.id, title="Cells", topic="Biology")
    bio = add_exchange(db, s2.id, "What is a cell?", "The unit of life.", mode="explain")
    chat.set_feedback(db, classroom.replies[2].id, rating=-1)
    chat.set_feedback(db, classroom.replies[0].id, rating=1)
    everything = review.list_queue(db, t)
    assert everything[0].key == f"m{classroom.replies[2].id}"  # 👎 first
    assert keys(review.list_queue(db, t, QueueFilter(student_id=other.id))) == [f"m{bio.id}"]
    assert keys(review.list_queue(db, t, QueueFilter(topic="fractions"))) == keys(
        [i for i in everything if i.topic == "Fractions"])
    assert keys(review.list_queue(db, t, QueueFilter(mode="hint"))) == [f"m{classroom.replies[1].id}"]
    assert keys(review.list_queue(db, t, QueueFilter(rating="down"))) == [f"m{classroom.replies[2].id}"]
    assert keys(review.list_queue(db, t, QueueFilter(rating="up"))) == [f"m{classroom.replies[0].id}"]
    assert len(review.list_queue(db, t, QueueFilter(rating="unrated"))) == 2
    today = everything[0].created_at[:10]
    assert len(review.list_queue(db, t, QueueFilter(since=today, until=today))) == 4
    assert review.list_queue(db, t, QueueFilter(until="2000-01-01")) == []
    options = review.filter_options(db, t)
    assert [name for _, name in options.students] == ["Ana", "Ben"]
    assert options.topics == ("Biology", "Fractions")


def test_student_cannot_do_teacher_work(db: Database, classroom: Classroom) -> None:
    student, key = classroom.student, f"m{classroom.replies[0].id}"
    for attempt in (
        lambda: review.list_queue(db, student),
        lambda: review.approve(db, student, key, prompt_for=fixed_prompt),
        lambda: review.edit_and_approve(db, student, key, "better", prompt_for=fixed_prompt),
        lambda: review.reject(db, student, key, "bad"),
        lambda: review.approve_many(db, student, [key], prompt_for=fixed_prompt),
        lambda: review.undo_last(db, student),
        lambda: review.counts(db, student),
        lambda: audit.list_entries(db, student),
    ):
        with pytest.raises(PermissionDenied):
            attempt()
    assert review.list_examples(db) == []
    assert db.query("SELECT COUNT(*) AS n FROM reviews")[0]["n"] == 0


def test_approve_writes_a_snapshot_with_provenance(db: Database, classroom: Classroom) -> None:
    reply = classroom.replies[1]
    decision = review.approve(db, classroom.teacher, reply.id, prompt_for=fixed_prompt)
    example = review.get_example(db, decision.example_id)
    assert example.prompt == (
        {"role": "system", "content": "You are a tutor. Mode: hint. Grade: 7. Topic: Fractions."},
        {"role": "user", "content": "What is 1/2 + 1/4?"},
        {"role": "assistant", "content": "3/4: write 1/2 as 2/4 and add."},
        {"role": "user", "content": "And 1/3 + 1/3?"},
    )
    assert (example.completion, example.mode, example.topic, example.grade) == ("2/3.", "hint", "Fractions", "7")
    assert (example.approved_by, example.approved_by_name, example.source) == (
        classroom.teacher.id, "Ms Lee", "review")
    assert example.source_message_ids == (reply.id - 1, reply.id)
    assert example.student_id == classroom.student.id
    assert f"m{reply.id}" not in keys(review.list_queue(db, classroom.teacher))
    assert keys(review.list_queue(db, classroom.teacher, QueueFilter(status="approved"))) == [f"m{reply.id}"]
    [entry] = audit.list_entries(db, classroom.teacher, action_prefix="review.")
    assert (entry.action, entry.target, entry.actor_name) == ("review.approve", f"m{reply.id}", "Ms Lee")


def test_edit_prefills_the_suggestion_and_keeps_the_original(db: Database, classroom: Classroom) -> None:
    reply = classroom.replies[2]
    key = f"m{reply.id}"
    assert review.editor_prefill(db, classroom.teacher, key) == reply.content
    chat.set_feedback(db, reply.id, rating=-1, suggestion="Same denominator: add the numerators, 1+1=2.")
    prefill = review.editor_prefill(db, classroom.teacher, key)
    assert prefill == "Same denominator: add the numerators, 1+1=2."
    decision = review.edit_and_approve(db, classroom.teacher, key, prefill + " So 2/3.", prompt_for=fixed_prompt)
    example = review.get_example(db, decision.example_id)
    assert decision.decision == "edited"
    assert example.completion == "Same denominator: add the numerators, 1+1=2. So 2/3."
    assert example.original_completion == reply.content


def test_reject_needs_a_reason_and_keeps_it(db: Database, classroom: Classroom) -> None:
    key = f"m{classroom.replies[0].id}"
    for empty in ("", "   "):
        with pytest.raises(ValidationError, match="reason"):
            review.reject(db, classroom.teacher, key, empty)
    review.reject(db, classroom.teacher, key, "Gives the answer away")
    [item] = review.list_queue(db, classroom.teacher, QueueFilter(status="rejected"))
    assert (item.key, item.reason, item.decided_by) == (key, "Gives the answer away", "Ms Lee")
    assert review.list_examples(db) == []


def test_duplicate_and_empty_decisions_change_nothing(db: Database, classroom: Classroom) -> None:
    key = f"m{classroom.replies[0].id}"
    review.approve(db, classroom.teacher, key, prompt_for=fixed_prompt)
    before = db.query("SELECT (SELECT COUNT(*) FROM reviews) AS r, (SELECT COUNT(*) FROM training_examples) AS e, "
                      "(SELECT COUNT(*) FROM audit_log) AS a")
    with pytest.raises(AlreadyDecided, match="already approved by Ms Lee"):
        review.approve(db, classroom.teacher, key, prompt_for=fixed_prompt)
    with pytest.raises(AlreadyDecided):
        review.reject(db, classroom.teacher, key, "changed my mind")
    with pytest.raises(ValidationError, match="Nothing is selected"):
        review.approve_many(db, classroom.teacher, [], prompt_for=fixed_prompt)
    with pytest.raises(ValidationError, match="empty"):
        review.edit_and_approve(db, classroom.teacher, f"m{classroom.replies[1].id}", "  ", prompt_for=fixed_prompt)
    with pytest.raises(ValidationError, match="not a review item"):
        review.approve(db, classroom.teacher, "x7", prompt_for=fixed_prompt)
    # A bulk approval containing an already-decided item approves none of the others.
    with pytest.raises(AlreadyDecided):
        review.approve_many(db, classroom.teacher, [classroom.replies[1].id, key], prompt_for=fixed_prompt)
    after = db.query("SELECT (SELECT COUNT(*) FROM reviews) AS r, (SELECT COUNT(*) FROM training_examples) AS e, "
                     "(SELECT COUNT(*) FROM audit_log) AS a")
    assert before == after


def test_the_database_refuses_a_second_standing_decision(db: Database, classroom: Classroom) -> None:
    reply_id = classroom.replies[0].id
    review.reject(db, classroom.teacher, reply_id, "wrong")
    with pytest.raises(sqlite3.IntegrityError):
        with db.transaction() as t:
            t["reviews"].insert({"message_id": reply_id, "decision": "approved", "teacher_name": "x",
                                 "batch": "b", "created_at": "now"})


def test_deleted_source_message_gives_a_clear_message(db: Database, classroom: Classroom) -> None:
    key = f"m{classroom.replies[0].id}"
    chat.delete_session(db, classroom.session.id)
    with pytest.raises(NotFoundError, match="no longer exists.*deleted"):
        review.approve(db, classroom.teacher, key, prompt_for=fixed_prompt)
    with pytest.raises(NotFoundError, match="no longer exists"):
        review.reject(db, classroom.teacher, key, "bad")
    assert review.list_examples(db) == []
    assert db.query("SELECT COUNT(*) AS n FROM reviews")[0]["n"] == 0


def test_prompt_builder_output_is_validated(db: Database, classroom: Classroom) -> None:
    key = f"m{classroom.replies[0].id}"
    with pytest.raises(ValidationError, match="must end with the student's message"):
        review.approve(db, classroom.teacher, key, prompt_for=lambda ctx: [{"role": "system", "content": "x"}])
    with pytest.raises(ValidationError, match="message 1 has no role"):
        review.approve(db, classroom.teacher, key, prompt_for=lambda ctx: [{"content": "x"}])
    assert review.list_examples(db) == []


def test_undo_returns_the_item_and_retracts_the_example(db: Database, classroom: Classroom) -> None:
    t = classroom.teacher
    key = f"m{classroom.replies[0].id}"
    decision = review.approve(db, t, key, prompt_for=fixed_prompt)
    undone = review.undo_last(db, t)
    assert undone.keys == (key,) and undone.decision == "approved"
    assert key in keys(review.list_queue(db, t))
    assert review.list_examples(db) == []
    assert review.get_example(db, decision.example_id).status == "retracted"
    # Approving again works and writes a new snapshot; the retracted one stays for provenance.
    again = review.approve(db, t, key, prompt_for=fixed_prompt)
    assert again.example_id != decision.example_id
    review.reject(db, t, f"m{classroom.replies[1].id}", "too terse")
    assert review.undo_last(db, t).decision == "rejected"
    assert review.undo_last(db, t).keys == (key,)
    with pytest.raises(ValidationError, match="no decision of yours"):
        review.undo_last(db, t)


def test_bulk_approve_is_one_action_for_undo(db: Database, classroom: Classroom) -> None:
    t = classroom.teacher
    all_keys = [f"m{m.id}" for m in classroom.replies]
    results = review.approve_many(db, t, all_keys + [all_keys[0]], prompt_for=fixed_prompt)  # duplicates collapse
    assert [r.key for r in results] == all_keys
    assert len({r.batch for r in results}) == 1
    assert review.counts(db, t).approved_since_adapter == 3
    assert review.undo_last(db, t).keys == tuple(all_keys)
    assert review.counts(db, t) == review.ReviewCounts(pending=3, approved_since_adapter=0, approved_total=0,
                                                       rejected=0)


def test_counts(db: Database, classroom: Classroom) -> None:
    t = classroom.teacher
    review.approve(db, t, classroom.replies[0].id, prompt_for=fixed_prompt)
    review.reject(db, t, classroom.replies[1].id, "wrong")
    assert review.counts(db, t) == review.ReviewCounts(pending=1, approved_since_adapter=1, approved_total=1,
                                                       rejected=1)


def test_counts_since_the_active_adapter(db: Database, classroom: Classroom, tmp_path) -> None:
    t = classroom.teacher
    first = review.approve(db, t, classroom.replies[0].id, prompt_for=fixed_prompt)
    approved_at = review.get_example(db, first.example_id).approved_at
    assert review.last_adapter_cutoff(db) is None      # no adapter yet: everything counts as new
    assert review.counts(db, t).approved_since_adapter == 1

    def register(version: int, cutoff: str) -> None:
        write_fake_adapter(tmp_path / f"v{version}", seed=version)
        adapters.register_adapter(
            db, version=version, base_model_id="m", path=str(tmp_path / f"v{version}"), n_examples=1, n_heldout=0,
            n_replay=0, examples_approved_until=cutoff, recipe={}, metrics={}, gate={}, gate_passed=True,
            gate_reason="", run_id=None, train_ids=[first.example_id], heldout_ids=[])

    register(1, approved_at)
    assert review.last_adapter_cutoff(db) is None      # a candidate is not what students use
    adapters.promote(db, t, 1)
    assert review.last_adapter_cutoff(db) == approved_at
    assert (review.counts(db, t).approved_since_adapter, review.counts(db, t).approved_total) == (0, 1)
    register(2, "2000-01-01T00:00:00+00:00")
    adapters.promote(db, t, 2)
    assert review.counts(db, t).approved_since_adapter == 1


def test_immutability_of_approved_examples(db: Database, classroom: Classroom, tmp_path) -> None:
    reply = classroom.replies[0]
    decision = review.approve(db, classroom.teacher, reply.id, prompt_for=fixed_prompt)
    before = review.get_example(db, decision.example_id)
    # Editing the chat afterwards leaves the example as it was.
    chat.finish_message(db, reply.id, "something else entirely", status="complete")
    chat.update_session(db, classroom.session.id, topic="Algebra")
    users.update_user(db, classroom.student.id, grade="8")
    assert review.get_example(db, decision.example_id) == before
    # And the database itself refuses to change it.
    for column, value in (("completion", "tampered"), ("prompt_json", "[]"), ("prompt_node", None), ("topic", "x"),
                          ("status", "pending")):
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            with db.transaction() as t:
                t.execute(f"UPDATE training_examples SET {column} = ? WHERE id = ?", [value, decision.example_id])
    assert review.get_example(db, decision.example_id) == before
    assert before.prompt[1]["content"] == "What is 1/2 + 1/4?"
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):     # nor the stored prompt it names
        with db.transaction() as t:
            t.execute("UPDATE prompt_messages SET content = 'tampered'")


def test_marking_a_session_private_later_takes_its_examples_out_of_training(db: Database,
                                                                          classroom: Classroom) -> None:
    t = classroom.teacher
    decision = review.approve(db, t, classroom.replies[0].id, prompt_for=fixed_prompt)
    assert [e.id for e in review.list_examples(db)] == [decision.example_id]
    chat.update_session(db, classroom.session.id, private=True)
    assert review.list_examples(db) == []
    assert review.counts(db, t).approved_total == 0 and review.counts(db, t).pending == 0
    assert review.get_example(db, decision.example_id).status == "approved"  # the row itself is untouched
    chat.update_session(db, classroom.session.id, private=False)
    assert [e.id for e in review.list_examples(db)] == [decision.example_id]


def test_reply_context_is_teacher_only(db: Database, classroom: Classroom) -> None:
    reply = classroom.replies[1]
    ctx = review.reply_context(db, classroom.teacher, reply.id)
    assert [t.content for t in ctx.history][-1] == "And 1/3 + 1/3?" and ctx.reply == "2/3."
    with pytest.raises(PermissionDenied):
        review.reply_context(db, classroom.student, reply.id)


def test_counts_read_the_adaptation_slice_adapters_table(db: Database, classroom: Classroom) -> None:
    """Contract with migration 0003: the active adapter's examples_approved_until is the cutoff."""
    t = classroom.teacher
    first = review.approve(db, t, classroom.replies[0].id, prompt_for=fixed_prompt)
    cutoff = review.get_example(db, first.example_id).approved_at
    with db.transaction() as tx:
        tx.execute("INSERT INTO adapters (version, status, created_at, base_model_id, path, examples_approved_until) "
                   "VALUES (1, 'active', ?, 'tiny', 'adapters/v1', ?)", [cutoff, cutoff])
    assert review.counts(db, t).approved_since_adapter == 0
    with db.transaction() as tx:
        tx.execute("UPDATE adapters SET examples_approved_until = '2000-01-01T00:00:00+00:00'")
    assert review.counts(db, t).approved_since_adapter == 1


def test_a_recorded_generation_prompt_is_snapshotted_verbatim(db: Database, classroom: Classroom) -> None:
    reply = classroom.replies[1]
    as_generated = [{"role": "system", "content": "the system prompt as it was that day"},
                    {"role": "user", "content": "[…earlier part left out…]\nAnd 1/3 + 1/3?"}]
    review.record_reply_prompt(db, reply.id, as_generated)
    decision = review.approve(db, classroom.teacher, reply.id, prompt_for=fixed_prompt)
    assert list(review.get_example(db, decision.example_id).prompt) == as_generated
    # Without a recorded prompt and without a builder there is nothing to snapshot.
    with pytest.raises(ValidationError, match="no recorded prompt"):
        review.approve(db, classroom.teacher, classroom.replies[0].id)
    with pytest.raises(ValidationError, match="Only a tutor reply"):
        review.record_reply_prompt(db, reply.id - 1, as_generated)
    with pytest.raises(ValidationError, match="must end with the student's message"):
        review.record_reply_prompt(db, reply.id, as_generated[:1])
