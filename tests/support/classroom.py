"""Helpers for tests with people in them: cheap password hashing, a fixed prompt builder, the
classroom a fixture builds, and approved exchanges in the import format."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from learner.prompts import mode_turn, system_prompt
from storage import Database, auth, chat, exchange, users
from storage.review import ReplyContext

# Cheap scrypt for tests (the production default is memory-hard and ~0.3 s per hash).
FAST = auth.ScryptParams(n=2**8, r=8, p=1)
PASSWORD = "correct horse battery"
TEACHER_NAME = "Ms Lee"

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


def fixed_prompt(ctx: ReplyContext) -> list[dict[str, str]]:
    """A prompt builder standing in for the learner's: a system line naming mode/grade/topic + history."""
    system = f"You are a tutor. Mode: {ctx.mode}. Grade: {ctx.grade}. Topic: {ctx.topic}."
    return [{"role": "system", "content": system}] + [{"role": t.role, "content": t.content} for t in ctx.history]


@dataclass
class Classroom:
    teacher: users.User
    student: users.User
    session: chat.Session
    replies: list[chat.Message]


def add_exchange(db: Database, session_id: int, question: str, answer: str, *, mode: str = "explain") -> chat.Message:
    chat.add_message(db, session_id, "user", question, mode=mode)
    return chat.add_message(db, session_id, "assistant", answer, mode=mode, model_id="tiny")


def exchange_record(user: str, assistant: str, *, mode: str = "explain", grade: str = "7", topic: str = "") -> dict:
    return {"messages": [
        {"role": "system", "content": system_prompt(grade=grade, topic=topic)},
        {"role": "user", "content": mode_turn(mode, user, grade=grade, topic=topic)},
        {"role": "assistant", "content": assistant}],
        "metadata": {"mode": mode, "topic": topic, "grade": grade}}


def approve(db: Database, teacher: users.User, folder: Path, pairs: list[tuple[str, str]], *, name: str = "ex") -> int:
    """Import `pairs` as approved training examples; returns how many were imported."""
    path = folder / f"{name}.jsonl"
    path.write_text("".join(json.dumps(exchange_record(u, a)) + "\n" for u, a in pairs), encoding="utf-8")
    return exchange.import_file(db, teacher, path, as_status="approved").imported
