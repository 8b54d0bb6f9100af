"""Profile names: Unicode caseless uniqueness, no invisible or control characters, at most 64."""
from __future__ import annotations

import sqlite3

import pytest

from storage import Database, ValidationError, auth, users
from storage.db import migrations
from tests.support.classroom import FAST, PASSWORD


@pytest.mark.parametrize(("first", "second"), [
    ("Émile", "émile"),
    ("Émile", "E\u0301mile"),              # decomposed accent: the same name under NFKC
    ("emile", "ｅｍｉｌｅ"),                  # full-width compatibility forms
    ("Straße", "STRASSE"),                 # full case folding, not only lower()
])
def test_names_are_unique_under_unicode_caseless_matching(db: Database, first: str, second: str) -> None:
    users.create_user(db, first)
    with pytest.raises(ValidationError, match="already exists"):
        users.create_user(db, second)
    assert users.find_user(db, second) is not None


@pytest.mark.parametrize("name", ["Ana\nBen", "Ana\u202eneB", "A\u200bna", "\ufeffAna", "Ana\u2028", "Ana\x00",
                                  "Ana\ud800"])
def test_control_bidi_and_invisible_characters_are_refused(db: Database, name: str) -> None:
    with pytest.raises(ValidationError, match="invisible or control character"):
        users.create_user(db, name)
    assert users.list_users(db) == []


def test_names_are_at_most_64_characters(db: Database) -> None:
    assert users.create_user(db, "a" * 64).name == "a" * 64
    for length in (65, 5000):
        with pytest.raises(ValidationError, match="the limit is 64"):
            users.create_user(db, "b" * length)


def test_renaming_follows_the_same_rules(db: Database) -> None:
    ana = users.create_user(db, "Ana")
    users.create_user(db, "Émile")
    with pytest.raises(ValidationError, match="already exists"):
        users.update_user(db, ana.id, name="ÉMILE")
    with pytest.raises(ValidationError, match="invisible"):
        users.update_user(db, ana.id, name="An\u200da")
    assert users.update_user(db, ana.id, name="  Ana   Maria ").name == "Ana Maria"
    assert users.update_user(db, ana.id, name="ANA MARIA").name == "ANA MARIA"   # its own key: allowed


def test_teachers_sign_in_with_any_case_of_their_name(db: Database) -> None:
    teacher = auth.create_teacher(db, None, "Émile Zola", PASSWORD, params=FAST)
    assert auth.authenticate(db, "ÉMILE ZOLA", PASSWORD, params=FAST).id == teacher.id
    with pytest.raises(ValidationError, match="already exists"):
        users.create_user(db, "émile zola")


def test_migration_keys_existing_names_and_keeps_both_of_a_clash(data_dir) -> None:
    raw = sqlite3.connect(data_dir.db_path, isolation_level=None)
    for version, _name, sql in migrations()[:9]:
        raw.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    for name in ("Émile", "émile", "Ana"):
        raw.execute("INSERT INTO users (name, created_at) VALUES (?, '2026-01-01')", (name,))
    raw.close()
    with Database(data_dir.db_path) as db:
        rows = db.query("SELECT name, name_key FROM users ORDER BY id")
        assert [r["name"] for r in rows] == ["Émile", "émile", "Ana"]
        assert len({r["name_key"] for r in rows}) == 3
        assert users.find_user(db, "ÉMILE").name == "Émile"
        clash = db.query("SELECT target FROM audit_log WHERE action = 'users.name_clash'")
        assert len(clash) == 1
