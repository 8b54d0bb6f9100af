"""`tutorloop explain MESSAGE_ID`: a student sees the model, adapter, gate and promotion; a signed-in
teacher also sees the similar approved examples (and can measure influence on the tiny model)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from learner.review_prompt import prompt_messages_for
from learner.sources import prepare_model
from storage import Database, DataDir, adapters, chat, review, users
from storage.users import User
from tests.storage.fake_adapter import write_fake_adapter
from tests.support.classroom import FACTS, PASSWORD, TEACHER_NAME, add_exchange, approve
from tests.support.cli import tutorloop
from tests.support.tiny_model import save_noisy_adapter

QUESTION = "Why do volcanoes erupt near tectonic plate boundaries?"
ANSWER = "Magma rises where plates pull apart or sink under each other."
GATE = {"passed": True, "checks": [{"name": "heldout", "passed": True, "skipped": False,
                                    "detail": "Held-out loss 1.2000 is lower than the base's 1.5000."}]}


def _classroom(db: Database, teacher: User, tmp_path: Path, folder: Path, *, model_id: str = "tiny",
               real_folder: bool = False) -> dict:
    approve(db, teacher, tmp_path, FACTS)
    ana = users.create_user(db, "Ana", grade="7")
    session = chat.create_session(db, ana.id, title="Volcanoes", topic="Geography")
    planted = add_exchange(db, session.id, QUESTION, ANSWER)
    example = review.approve(db, teacher, f"m{planted.id}", prompt_for=prompt_messages_for).example_id
    if not real_folder:
        write_fake_adapter(folder)
    ids = [e.id for e in review.list_examples(db)]
    adapters.register_adapter(db, version=1, base_model_id=model_id, path=str(folder), n_examples=len(ids),
                              n_heldout=0, n_replay=0, examples_approved_until=None, recipe={}, metrics={}, gate=GATE,
                              gate_passed=True, gate_reason="All checks passed.", run_id=None, train_ids=ids,
                              heldout_ids=[])
    adapters.promote(db, teacher, 1)
    chat.add_message(db, session.id, "user", "How do volcanoes erupt at plate boundaries?", mode="explain")
    reply = chat.add_message(db, session.id, "assistant", "Magma rises at the boundaries.", mode="explain",
                             model_id=model_id, adapter_version=1)
    return {"reply": reply.id, "example": example, "question_id": reply.id - 1}


def test_a_student_sees_model_adapter_gate_and_promotion_but_no_examples(
        db: Database, data_dir: DataDir, teacher: User, tmp_path: Path) -> None:
    made = _classroom(db, teacher, tmp_path, data_dir.adapters_dir / "v1")
    text = tutorloop("explain", str(made["reply"]), home=data_dir.root)
    assert text.returncode == 0, text.stderr
    assert "tiny with adapter v1" in text.stdout and f"by {TEACHER_NAME}" in text.stdout
    assert "heldout: passed" in text.stdout and "shown to teachers" in text.stdout
    assert "Magma rises where plates" not in text.stdout           # another student's approved exchange

    as_json = tutorloop("explain", str(made["reply"]), "--json", home=data_dir.root)
    data = json.loads(as_json.stdout)
    assert data["adapter_version"] == 1 and data["adapter"]["promoted_by"] == TEACHER_NAME
    assert data["examples_shown"] is False and data["similar_examples"] == []


def test_a_teacher_sees_the_similar_approved_examples_labelled_as_such(
        db: Database, data_dir: DataDir, teacher: User, tmp_path: Path) -> None:
    made = _classroom(db, teacher, tmp_path, data_dir.adapters_dir / "v1")
    done = tutorloop("explain", str(made["reply"]), "--teacher", TEACHER_NAME, "--json", home=data_dir.root,
                     TUTORLOOP_PASSWORD=PASSWORD)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["similar_label"] == "similar approved examples" and "not show they caused" in data["similar_caveat"]
    first = data["similar_examples"][0]
    assert first["example_id"] == made["example"] and first["approved_by"] == TEACHER_NAME and first["approved_at"]
    assert len(data["similar_examples"]) <= 3

    text = tutorloop("explain", str(made["reply"]), "--teacher", TEACHER_NAME, home=data_dir.root,
                     TUTORLOOP_PASSWORD=PASSWORD)
    assert "Similar approved examples" in text.stdout and "Magma rises where plates" in text.stdout

    wrong = tutorloop("explain", str(made["reply"]), "--teacher", TEACHER_NAME, home=data_dir.root,
                      TUTORLOOP_PASSWORD="not the password")
    assert wrong.returncode == 3 and wrong.stdout == ""


def test_a_student_message_or_a_missing_one_is_refused_in_one_line(
        db: Database, data_dir: DataDir, teacher: User, tmp_path: Path) -> None:
    made = _classroom(db, teacher, tmp_path, data_dir.adapters_dir / "v1")
    student_message = tutorloop("explain", str(made["question_id"]), home=data_dir.root)
    assert student_message.returncode == 1 and "explain a tutor reply instead" in student_message.stderr
    missing = tutorloop("explain", "9999", home=data_dir.root)
    assert missing.returncode == 1 and "No message with id 9999" in missing.stderr
    assert "Traceback" not in student_message.stderr + missing.stderr


def test_influence_is_measured_on_the_tiny_model_for_a_teacher(
        db: Database, data_dir: DataDir, teacher: User, tmp_path: Path, tiny_model_dir: Path) -> None:
    prepared = prepare_model(str(tiny_model_dir), data_dir)
    folder = save_noisy_adapter(prepared, data_dir.adapters_dir / "v1")
    made = _classroom(db, teacher, tmp_path, folder, model_id=prepared.model_id, real_folder=True)

    student = tutorloop("explain", str(made["reply"]), "--influence", "--model", str(tiny_model_dir),
                        home=data_dir.root)
    assert student.returncode in (2, 3) and "Traceback" not in student.stderr   # needs a teacher's password
    done = tutorloop("explain", str(made["reply"]), "--influence", "--model", str(tiny_model_dir), "--device", "cpu",
                     "--json", home=data_dir.root, TUTORLOOP_PASSWORD=PASSWORD, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    influence = json.loads(done.stdout)["influence"]
    assert influence["version"] == 1 and not influence["stopped"] and influence["ranked_by"] == "cosine"
    assert 2 <= len(influence["scores"]) <= len(FACTS) + 1
    assert influence["scores"][0]["example_id"] == made["example"]


@pytest.mark.parametrize("flag", ["--top=0"])
def test_a_bad_top_is_a_usage_error(db: Database, data_dir: DataDir, teacher: User, tmp_path: Path, flag: str) -> None:
    made = _classroom(db, teacher, tmp_path, data_dir.adapters_dir / "v1")
    done = tutorloop("explain", str(made["reply"]), flag, home=data_dir.root)
    assert done.returncode == 2 and "--top" in done.stderr
