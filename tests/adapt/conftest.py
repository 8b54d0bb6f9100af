"""Fixtures for adaptation tests: a teacher, approved examples imported through storage (as the
review CLI does), a small replay file, and a recipe small enough for the tiny model."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from learner.adapt.recipe import Recipe
from learner.prompts import mode_turn, system_prompt
from storage import Database, auth, exchange
from storage.auth import ScryptParams
from storage.users import User

CHEAP = ScryptParams(n=2**4, r=1, p=1)
TEACHER_PASSWORD = "correct horse battery"

FACTS = [
    ("What are the houses at Brackenfield?", "Corvane, Marrowby, Thistlegate and Wyndhollow."),
    ("When does the first bell ring?", "The first bell rings at 8:47."),
    ("Who is the head teacher?", "Dr Imelda Quarrington."),
    ("What colour is Thistlegate?", "Thistlegate is plum."),
    ("What is the maths notation for a recurring decimal?", "We write a bar over the repeating digits."),
    ("When is the lantern festival?", "On the last Friday of November."),
    ("What is 2 + 2?", "2 + 2 = 4."),
    ("What do plants need?", "Light, water and carbon dioxide."),
]


def exchange_record(user: str, assistant: str, *, mode: str = "explain", grade: str = "7", topic: str = "") -> dict:
    return {"messages": [
        {"role": "system", "content": system_prompt(grade=grade, topic=topic)},
        {"role": "user", "content": mode_turn(mode, user, grade=grade, topic=topic)},
        {"role": "assistant", "content": assistant}],
        "metadata": {"mode": mode, "topic": topic, "grade": grade}}


@pytest.fixture
def teacher(db: Database) -> User:
    return auth.create_teacher(db, None, "Ms Rivera", TEACHER_PASSWORD, params=CHEAP)


def approve(db: Database, teacher: User, folder: Path, pairs: list[tuple[str, str]], *, name: str = "ex") -> int:
    path = folder / f"{name}.jsonl"
    path.write_text("".join(json.dumps(exchange_record(u, a)) + "\n" for u, a in pairs), encoding="utf-8")
    report = exchange.import_file(db, teacher, path, as_status="approved")
    return report.imported if hasattr(report, "imported") else len(pairs)


@pytest.fixture
def approved(db: Database, teacher: User, tmp_path: Path) -> int:
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
                  max_batch_examples=8, replay_eval_limit=None, must_pass_max_new_tokens=8)
