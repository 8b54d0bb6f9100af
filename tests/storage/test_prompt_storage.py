"""Training-example prompts are stored once and shared: a long session's snapshots grow the database
by their new turns, not by their whole history; prompts read back exactly; deleting a chat or a
student leaves none of its text behind."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from learner.review_prompt import prompt_messages_for
from storage import Database, chat, exchange, review, students
from storage.db import migrations, utcnow
from storage.prompt_store import content_hash
from storage.review import HISTORY_CHARS, ReplyContext
from storage.users import User
from tests.support.classroom import Classroom, fixed_prompt


def long_session(db: Database, student: User, exchanges: int) -> int:
    session = chat.create_session(db, student.id, title="all year", topic="Arithmetic")
    now = utcnow()
    with db.transaction() as t:
        t["messages"].insert_all(
            {"session_id": session.id, "role": role, "content": text, "mode": "explain", "status": "complete",
             "created_at": now}
            for e in range(exchanges)
            for role, text in (("user", f"Question {e}: what is {e} + {e + 1}?"),
                               ("assistant", f"Answer {e}: {e} + {e + 1} = {2 * e + 1}, ones first.")))
    return session.id


def stored_bytes(db: Database) -> int:
    return db.query("SELECT (SELECT COALESCE(SUM(length(prompt_json)), 0) FROM training_examples) + "
                    "(SELECT COALESCE(SUM(length(content)), 0) FROM prompt_messages) AS n")[0]["n"]


def test_a_long_sessions_snapshots_share_their_prompts(db: Database, classroom: Classroom) -> None:
    long_session(db, classroom.student, 300)
    keys = [i.key for i in review.list_queue(db, classroom.teacher, review.QueueFilter(student_id=classroom.student.id))]
    decisions = review.approve_many(db, classroom.teacher, keys, prompt_for=prompt_messages_for)
    assert len(decisions) == 303
    history_chars = db.query("SELECT SUM(length(content)) AS n FROM messages")[0]["n"]
    # Stored whole, 300 snapshots of a growing history hold ~150 histories; shared, about one, plus
    # each question once more in its mode's wrapper (a few hundred characters of instructions).
    assert stored_bytes(db) < 10 * history_chars
    nodes = db.query("SELECT COUNT(*) AS n FROM prompt_nodes")[0]["n"]
    assert nodes < 4 * 606
    # What was stored reads back as what the prompt builder rendered.
    by_message = {e.source_message_ids[1]: e for e in review.list_examples(db)}
    for decision in decisions[::37]:
        message_id = int(decision.key[1:])
        rendered = prompt_messages_for(review.reply_context(db, classroom.teacher, message_id))
        assert [dict(m) for m in by_message[message_id].prompt] == rendered
        assert by_message[message_id].messages()[-1]["role"] == "assistant"


def test_a_snapshot_renders_at_most_what_a_prompt_can_hold(db: Database, classroom: Classroom) -> None:
    long_session(db, classroom.student, 900)
    seen: list[ReplyContext] = []

    def recording(ctx: ReplyContext) -> list[dict[str, str]]:
        seen.append(ctx)
        return fixed_prompt(ctx)

    last = db.query("SELECT MAX(id) AS id FROM messages WHERE role = 'assistant'")[0]["id"]
    review.approve(db, classroom.teacher, last, prompt_for=recording)
    (ctx,) = seen
    kept = sum(len(t.content) for t in ctx.history)
    assert HISTORY_CHARS <= kept < HISTORY_CHARS + 64 * 200     # the budget, then back to a block boundary
    assert ctx.history[0].role == "user" and ctx.history[-1].content.startswith("Question 899")


def test_a_recorded_prompt_and_its_snapshot_are_one_stored_prompt(db: Database, classroom: Classroom) -> None:
    reply = classroom.replies[1]
    prompt = [{"role": "system", "content": "Be brief. ✓"}, {"role": "user", "content": "And 1/3 + 1/3? 🙂"}]
    review.record_reply_prompt(db, reply.id, prompt)
    decision = review.approve(db, classroom.teacher, reply.id)
    row = db.query("SELECT te.prompt_node AS example, rp.prompt_node AS recorded, te.prompt_json AS text "
                   "FROM training_examples te, reply_prompts rp WHERE te.id = ? AND rp.message_id = ?",
                   (decision.example_id, reply.id))[0]
    assert row["example"] == row["recorded"] and row["text"] == ""
    assert list(review.get_example(db, decision.example_id).prompt) == prompt


def test_an_exported_example_is_still_recognised_as_a_duplicate(db: Database, classroom: Classroom,
                                                                 tmp_path: Path) -> None:
    review.approve(db, classroom.teacher, classroom.replies[0].id, prompt_for=fixed_prompt)
    out = tmp_path / "out.jsonl"
    exchange.export_examples(db, classroom.teacher, out)
    report = exchange.import_file(db, classroom.teacher, out)
    assert report.imported == 0 and report.duplicates == 1


def test_deleting_a_chat_or_a_student_leaves_none_of_its_prompt_text(db: Database, classroom: Classroom) -> None:
    secret = "my address is 12 Elm Street"
    other = chat.create_session(db, classroom.student.id, title="private")
    chat.add_message(db, other.id, "user", secret, mode="explain")
    reply = chat.add_message(db, other.id, "assistant", "Let's keep that private.", mode="explain")
    review.record_reply_prompt(db, reply.id, [{"role": "user", "content": secret}])
    chat.delete_session(db, other.id)
    assert not db.query("SELECT 1 FROM prompt_messages WHERE content LIKE '%Elm Street%'")
    review.approve(db, classroom.teacher, classroom.replies[0].id, prompt_for=fixed_prompt)
    students.delete_student(db, classroom.teacher, classroom.student.id, confirm_name="Ana")
    assert db.query("SELECT COUNT(*) AS n FROM prompt_messages")[0]["n"] == 0
    assert db.query("SELECT COUNT(*) AS n FROM prompt_nodes")[0]["n"] == 0


def test_migration_moves_stored_prompts_into_chains(data_dir) -> None:
    raw = sqlite3.connect(data_dir.db_path, isolation_level=None)
    for version, _name, sql in migrations()[:10]:
        raw.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    raw.execute("INSERT INTO users (id, name, name_key, created_at) VALUES (1, 'Ana', 'ana', '2026-01-01')")
    prompt = [{"role": "system", "content": "Tutor."}, {"role": "user", "content": "What is ½ + ¼?"}]
    raw.execute("INSERT INTO training_examples (uid, prompt_json, completion, approved_by_name, approved_at, source, "
                "content_sha256, created_at, student_id) VALUES ('u1', ?, '¾', 'Ms Lee', '2026-01-02', 'review', "
                "'old', '2026-01-02', 1)", (json.dumps(prompt),))
    raw.close()
    with Database(data_dir.db_path) as db:
        (example,) = review.list_examples(db)
        assert list(example.prompt) == prompt
        row = db.query("SELECT prompt_json, prompt_node, content_sha256 FROM training_examples")[0]
        assert row["prompt_json"] == "" and row["prompt_node"] is not None
        assert row["content_sha256"] == content_hash(prompt, "¾")
