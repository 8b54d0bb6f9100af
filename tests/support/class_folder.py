"""Three data folders and one class folder: a teacher's desktop and two student desktops, each with
its own real SQLite file, as a class of desktops would be."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from storage import Database, DataDir, adapters, auth, chat, classfolder, review, users
from tests.storage.fake_adapter import write_fake_adapter
from tests.support.classroom import FAST, PASSWORD, TEACHER_NAME

MODEL = "tiny-qwen2"


@dataclass
class Desktop:
    data_dir: DataDir
    db: Database
    user: users.User

    def close(self) -> None:
        self.db.close()


def open_desktop(root: Path) -> tuple[DataDir, Database]:
    data = DataDir(root).ensure()
    return data, Database(data.db_path)


def teacher_desktop(root: Path) -> Desktop:
    data, db = open_desktop(root)
    return Desktop(data_dir=data, db=db, user=auth.create_teacher(db, None, TEACHER_NAME, PASSWORD, params=FAST))


def student_desktop(root: Path, name: str) -> Desktop:
    data, db = open_desktop(root)
    return Desktop(data_dir=data, db=db, user=users.create_user(db, name, grade="7"))


def chat_reply(desktop: Desktop, question: str, answer: str, *, session_id: int | None = None,
               mode: str = "explain") -> chat.Message:
    """A student's question and the tutor's reply, with the prompt the reply was generated from."""
    db = desktop.db
    if session_id is None:
        session_id = chat.create_session(db, desktop.user.id, title="Fractions", topic="Fractions").id
    chat.add_message(db, session_id, "user", question, mode=mode)
    reply = chat.add_message(db, session_id, "assistant", answer, mode=mode, model_id=MODEL)
    review.record_reply_prompt(db, reply.id, [{"role": "system", "content": "You are a tutor."},
                                              {"role": "user", "content": question}])
    return reply


def publish_fake_version(teacher: Desktop, version: int, *, model_id: str = MODEL, seed: int = 0) -> None:
    """A registered, gate-passed version promoted on the teacher's desktop."""
    folder = write_fake_adapter(teacher.data_dir.adapters_dir / f"v{version}", seed=seed)
    (folder / "adapter.gguf").write_bytes(b"GGUF" + bytes(range(64)))     # the llama.cpp form, when there is one
    adapters.register_adapter(teacher.db, version=version, base_model_id=model_id, path=str(folder), n_examples=1,
                              n_heldout=0, n_replay=0, examples_approved_until=None, recipe={}, metrics={},
                              gate={"checks": []}, gate_passed=True, gate_reason="All checks passed.", run_id=None,
                              train_ids=[], heldout_ids=[])
    adapters.promote(teacher.db, teacher.user, version)


def make_class(teacher: Desktop, folder: Path, *students: Desktop) -> classfolder.Membership:
    made = classfolder.create_class(teacher.db, teacher.user, "7B", folder, model_id=MODEL)
    for student in students:
        classfolder.join_class(student.db, None, folder)
    return made
