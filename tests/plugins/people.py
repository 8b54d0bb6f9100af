"""People and their exchanges: a teacher, a student, a classroom with replies to review, approved
examples and a small replay set to train on."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from learner.adapt.recipe import Recipe
from learner.settings import GenerationSettings
from storage import Database, auth, chat, users
from tests.support.classroom import (
    FACTS, FAST, PASSWORD, TEACHER_NAME, Classroom, add_exchange, approve, exchange_record,
)


@pytest.fixture
def teacher(db: Database) -> users.User:
    return auth.create_teacher(db, None, TEACHER_NAME, PASSWORD, params=FAST)


@pytest.fixture
def student(db: Database) -> users.User:
    return users.create_user(db, "Ana", grade="7")


@pytest.fixture
def classroom(db: Database, teacher: users.User) -> Classroom:
    student = users.create_user(db, "Ana", grade="7")
    session = chat.create_session(db, student.id, title="Fractions help", topic="Fractions")
    replies = [
        add_exchange(db, session.id, "What is 1/2 + 1/4?", "3/4: write 1/2 as 2/4 and add."),
        add_exchange(db, session.id, "And 1/3 + 1/3?", "2/3.", mode="hint"),
        add_exchange(db, session.id, "Why?", "Because the denominators match.", mode="explain"),
    ]
    return Classroom(teacher=teacher, student=student, session=session, replies=replies)


@pytest.fixture
def approved(db: Database, teacher: users.User, tmp_path: Path) -> int:
    # Enough variants that the ~15 % held-out split gets some: the same facts worded twice.
    pairs = FACTS + [(f"Please tell me: {u.lower()}", a) for u, a in FACTS] + \
        [(f"Quick question - {u.lower()}", a) for u, a in FACTS]
    return approve(db, teacher, tmp_path, pairs)


@pytest.fixture
def replay_file(tmp_path: Path) -> Path:
    lines = []
    for i, (user, assistant, mode) in enumerate([
        ("Why is 6 x 4 the same as 4 x 6?", "Multiplication counts equal groups; the order does not matter.", "explain"),
        ("How do I add 1/2 and 1/4?", "What could you change 1/2 into so both have quarters?", "hint"),
        ("Give me a fractions question.", "What is 3/4 + 1/8?\nAnswer key: 7/8", "practice"),
        ("What is photosynthesis?", "Plants turn light, water and carbon dioxide into sugar and oxygen.", "explain"),
    ]):
        record = exchange_record(user, assistant, mode=mode, grade="5", topic="Maths")
        lines.append(json.dumps({"messages": record["messages"], "mode": mode, "subject": "maths", "grade": "5",
                                 "topic": "Maths", "student_message": user}))
    path = tmp_path / "replay.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tiny_recipe() -> Recipe:
    return Recipe(rank=4, alpha=8, dropout=0.0, learning_rate=5e-3, epochs=2, batch_tokens=8192,
                  max_batch_examples=8, replay_eval_limit=None, must_pass_max_new_tokens=8, fairness_groups=1,
                  fairness_max_new_tokens=4)


@pytest.fixture
def settings() -> GenerationSettings:
    """Generation settings for a scripted (stand-in) text generator."""
    return GenerationSettings(model_spec="scripted", device="cpu", temperature=0.0, max_new_tokens=256)
