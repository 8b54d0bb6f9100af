"""Training elsewhere: the teacher publishes the approved examples, a machine that joined the class
runs `tutorloop adapt --class-folder FOLDER` (a real subprocess, tiny model) and writes its candidate
back; the teacher's sync registers it, only a teacher can promote it, and publishing signs it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage import (
    PermissionDenied,
    ValidationError,
    adapters,
    classfolder,
    review,
    users,
)
from storage.classfolder import training
from tests.learner.adapt.test_round import TINY_SETTINGS
from tests.support.class_folder import (
    chat_reply,
    make_class,
    student_desktop,
    teacher_desktop,
)
from tests.support.classroom import FACTS
from tests.support.cli import tutorloop


def test_adapt_with_a_class_folder_trains_elsewhere_and_only_the_teacher_promotes(
        tmp_path: Path, tiny_model_dir: Path, replay_file: Path) -> None:
    teacher = teacher_desktop(tmp_path / "teacher")
    ana = student_desktop(tmp_path / "ana", "Ana")
    server = student_desktop(tmp_path / "gpu-server", "Server")
    folder = tmp_path / "share" / "7b"
    folder.parent.mkdir()
    try:
        make_class(teacher, folder, ana, server)
        for question, answer in FACTS + [(f"Again: {q}", a) for q, a in FACTS]:
            chat_reply(ana, question, answer)
        classfolder.sync(ana.db)
        classfolder.sync(teacher.db, teacher.user)
        review.approve_many(teacher.db, teacher.user, [i.key for i in review.list_queue(teacher.db, teacher.user)])
        with pytest.raises(PermissionDenied):
            training.publish_examples(teacher.db, users.create_user(teacher.db, "Cleo"))
        seq = training.publish_examples(teacher.db, teacher.user)

        # Tampered examples are refused before anything is trained.
        jsonl = folder / "examples" / f"{seq:08d}.jsonl"
        good = jsonl.read_bytes()
        jsonl.write_bytes(good.replace(b"8:47", b"9:99"))
        with pytest.raises(ValidationError, match="do not match the teacher's signed manifest"):
            training.take_examples(server.db)
        jsonl.write_bytes(good)
        server_home = server.data_dir.root
        server.close()

        done = tutorloop("adapt", "--class-folder", str(folder), "--json", "--model", str(tiny_model_dir), "--replay",
                         str(replay_file), "--no-nice", *TINY_SETTINGS, "--set", "epochs=1", home=server_home,
                         timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "16 approved examples from set 1" in done.stderr and "Candidate v1 written" in done.stderr
        (candidate,) = (folder / "candidates").iterdir()
        note = json.loads((candidate / "candidate.json").read_text())
        assert note["model_id"] == "tiny-qwen2" and note["n_examples"] + note["n_heldout"] == 16

        report = classfolder.sync(teacher.db, teacher.user)
        assert report.candidates == (1,) and any("trained elsewhere" in n for n in report.notes)
        local = adapters.get_adapter(teacher.db, 1)
        assert local.status in ("candidate", "failed") and local.gate_reason.startswith("Trained on")
        assert adapters.adapter_problem(local) is None
        assert classfolder.sync(teacher.db, teacher.user).candidates == ()          # taken in once
        if not local.gate_passed:   # the tiny random model rarely passes its gate; promotion is what is tested
            with teacher.db.transaction() as t:
                t.execute("UPDATE adapters SET gate_passed = 1, status = 'candidate' WHERE version = 1")
        with pytest.raises(PermissionDenied):
            adapters.promote(teacher.db, users.find_user(teacher.db, "Cleo"), 1)
        adapters.promote(teacher.db, teacher.user, 1)
        assert classfolder.sync(teacher.db, teacher.user).published.version == 1
        assert classfolder.sync(ana.db).picked_up.version == 1                      # signed by the teacher's key
    finally:
        teacher.close()
        ana.close()
