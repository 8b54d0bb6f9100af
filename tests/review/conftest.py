"""Fixtures for the teacher-review tests: a teacher, a student with a chat, a prompt builder."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from storage import Database, auth, chat, users
from storage.review import ReplyContext

# Cheap scrypt for tests (the production default is memory-hard and ~0.3 s per hash).
FAST = auth.ScryptParams(n=2**8, r=8, p=1)
PASSWORD = "correct horse battery"


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


@pytest.fixture
def teacher(db: Database) -> users.User:
    return auth.create_teacher(db, None, "Ms Lee", PASSWORD, params=FAST)


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
