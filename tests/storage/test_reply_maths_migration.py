"""Migration 0018 (messages.maths_json) on a database made before it: every row kept, the new
column NULL ("not recorded"), and the replies still in the review queue."""
from __future__ import annotations

import sqlite3

from storage import Database, chat, review, users
from storage.db import migrations


def test_an_older_database_keeps_its_replies_with_no_maths_record(data_dir) -> None:
    every = migrations()
    assert every[17][1] == "0018_reply_maths.sql"
    raw = sqlite3.connect(data_dir.db_path, isolation_level=None)
    for version, _name, sql in every[:17]:
        raw.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    assert "maths_json" not in {r[1] for r in raw.execute("PRAGMA table_info(messages)")}
    raw.execute("INSERT INTO users (id, name, name_key, grade, created_at) VALUES (1, 'Ana', 'ana', '7', '2026-01-01')")
    raw.execute("INSERT INTO sessions (id, user_id, title, topic, private, created_at, updated_at) "
                "VALUES (1, 1, 'Fractions', 'Fractions', 0, '2026-01-01', '2026-01-01')")
    raw.executemany("INSERT INTO messages (session_id, role, content, mode, status, created_at) "
                    "VALUES (1, ?, ?, 'explain', 'complete', '2026-01-01')",
                    [("user", "What is 2/3 + 1/6?"), ("assistant", "2/3 + 1/6 = 5/6.")])
    raw.close()

    with Database(data_dir.db_path) as db:
        assert db.user_version == len(migrations())
        messages = chat.list_messages(db, 1)
        assert [(m.role, m.content, m.maths_json) for m in messages] == [
            ("user", "What is 2/3 + 1/6?", None), ("assistant", "2/3 + 1/6 = 5/6.", None)]
        teacher = users.create_user(db, "Ms Lee", role="teacher")
        [item] = review.list_queue(db, teacher)
        assert (item.reply, item.maths_json) == ("2/3 + 1/6 = 5/6.", None)
        # A reply finished after the upgrade can carry its record.
        finished = chat.finish_message(db, messages[1].id, "5/6", status="complete", maths_json='{"computed": []}')
        assert finished.maths_json == '{"computed": []}'
