"""Practice items with checked keys (migration 0013): what add_item stores and refuses, and rows
from before the migration reading as unchecked model items."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage import Database, ValidationError, practice, users
from storage.db import migrations, schema_version, sql_statements
from storage.migrations.steps import STEPS

WRONG = practice.KnownWrongAnswer(answer="3/9", values=("1/3",), code="fraction_added_across",
                                  name="added the numerators and added the denominators",
                                  hint="Write both with a common denominator first.")


def test_a_checked_item_round_trips(db):
    ana = users.create_user(db, "Ana")
    item = practice.add_item(db, ana.id, topic="Fractions", question="What is 2/3 + 1/6?", answer_key="5/6",
                             checked=True, key_source="model_corrected", key_note="The engine computed 5/6.",
                             model_answer_key="3/9", require_simplest=True, tolerance="0.010",
                             wrong_answers=(WRONG,), worked_steps=("2/3 = 4/6", "4/6 + 1/6 = 5/6"))
    assert practice.get_item(db, item.id) == item == practice.list_items(db, ana.id)[0]
    assert (item.checked, item.key_source, item.model_answer_key, item.require_simplest, item.tolerance) == (
        True, "model_corrected", "3/9", True, "1/100")
    assert item.wrong_answers == (WRONG,) and item.worked_steps == ("2/3 = 4/6", "4/6 + 1/6 = 5/6")


def test_defaults_are_an_unchecked_model_key(db):
    ana = users.create_user(db, "Ana")
    item = practice.add_item(db, ana.id, topic="History", question="Who built the pyramids?", answer_key="Egyptians")
    assert (item.checked, item.key_source, item.key_note, item.model_answer_key, item.require_simplest,
            item.tolerance, item.wrong_answers, item.worked_steps) == (False, "model", "", None, False, "0", (), ())


@pytest.mark.parametrize("kwargs,says", [
    ({"key_source": "guess", "checked": True}, "Unknown key source"),
    ({"key_source": "model", "checked": True}, "cannot be stored as checked"),
    ({"key_source": "generator", "checked": False}, "cannot be stored as unchecked"),
    ({"tolerance": "-1"}, "negative"),
    ({"tolerance": "a lot"}, "not an exact number"),
    ({"wrong_answers": (practice.KnownWrongAnswer(answer="x", values=("many",), code="c", name="n", hint="h"),)},
     "not an exact number"),
    ({"worked_steps": tuple(str(i) for i in range(practice.MAX_WORKED_STEPS + 1))}, "at most"),
])
def test_inconsistent_or_malformed_items_are_refused(db, kwargs, says):
    ana = users.create_user(db, "Ana")
    with pytest.raises(ValidationError, match=says):
        practice.add_item(db, ana.id, topic="Fractions", question="What is 2/3 + 1/6?", answer_key="5/6", **kwargs)
    assert practice.list_items(db, ana.id) == []


def _database_before(path: Path, version: int) -> sqlite3.Connection:
    """A database as the code before migration `version` left it: migrations 1..version-1 with
    their Python steps, replayed on a plain connection."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    for number, _name, sql in migrations():
        if number >= version:
            break
        conn.execute("BEGIN")
        for statement in sql_statements(sql):
            conn.execute(statement)
        if number in STEPS:
            STEPS[number](conn, path)
        conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")
    return conn


def test_rows_from_before_the_migration_read_as_unchecked_model_items(data_dir):
    [(version, _name, _sql)] = [m for m in migrations() if m[1].endswith("_practice_keys.sql")]
    conn = _database_before(data_dir.db_path, version)
    conn.execute("INSERT INTO users (name, role, grade, created_at) VALUES ('Ana', 'student', '', '2026-01-01')")
    conn.execute("INSERT INTO practice_items (user_id, topic, question, answer_key, created_at) "
                 "VALUES (1, 'Fractions', 'What is 1/2 + 1/4?', '3/4', '2026-01-01')")
    conn.execute("INSERT INTO practice_attempts (item_id, user_id, answer, verdict, created_at) "
                 "VALUES (1, 1, '3/4', 'correct', '2026-01-01')")
    assert "checked" not in {r[1] for r in conn.execute("PRAGMA table_info(practice_items)")}
    conn.close()
    with Database(data_dir.db_path) as db:
        assert db.user_version == schema_version()
        [old] = practice.list_items(db, 1)
        assert (old.answer_key, old.checked, old.key_source, old.wrong_answers, old.tolerance, old.worked_steps) == (
            "3/4", False, "model", (), "0", ())
        assert practice.list_attempts(db, old.id)[0].misconception is None
