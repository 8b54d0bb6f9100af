"""The class round trip on the tiny model: students' exchanges → the teacher's queue → approval →
a real training round → promotion → signed publication → a student desktop verifies, copies in and
hot-swaps the adapter in its Tutor."""
from __future__ import annotations

from pathlib import Path

from learner.adapt.choice import choose_adapter
from learner.adapt.recipe import Recipe
from learner.adapt.round import run_round
from learner.loading import load_model
from learner.settings import GenerationSettings
from learner.sources import prepare_model
from learner.tutor import Tutor
from learner.types import TutorRequest
from storage import adapters, classfolder, review
from storage.adapter_files import file_sha256
from tests.support.class_folder import (
    chat_reply,
    make_class,
    student_desktop,
    teacher_desktop,
)
from tests.support.classroom import FACTS


def test_class_round_trip_with_a_real_round_and_a_student_hot_swap(tmp_path: Path, tiny_model_dir: Path,
                                                                    replay_file: Path, tiny_recipe: Recipe) -> None:
    assert tiny_model_dir.name == "tiny-qwen2"          # the class's model id (tests.support.class_folder.MODEL)
    teacher = teacher_desktop(tmp_path / "teacher")
    ana = student_desktop(tmp_path / "ana", "Ana")
    ben = student_desktop(tmp_path / "ben", "Ben")
    try:
        (tmp_path / "share").mkdir()
        make_class(teacher, tmp_path / "share" / "7b", ana, ben)
        for desk, prefix in ((ana, ""), (ben, "Please: ")):
            for question, answer in FACTS:
                chat_reply(desk, prefix + question, answer)
            assert classfolder.sync(desk.db).sent.exchanges == len(FACTS)
        assert classfolder.sync(teacher.db, teacher.user).imported.imported == 2 * len(FACTS)
        keys = [item.key for item in review.list_queue(teacher.db, teacher.user)]
        review.approve_many(teacher.db, teacher.user, keys)

        result = run_round(teacher.data_dir, trigger="manual", recipe=tiny_recipe, model_spec=str(tiny_model_dir),
                           device="cpu", replay_path=replay_file)
        candidate = adapters.get_adapter(teacher.db, result.version)
        assert candidate.base_model_id == "tiny-qwen2" and candidate.n_examples + candidate.n_heldout == 16
        if not candidate.gate_passed:   # a random tiny model rarely passes; the promotion path is what is tested
            with teacher.db.transaction() as t:
                t.execute("UPDATE adapters SET gate_passed = 1, status = 'candidate' WHERE version = ?",
                          [result.version])
        adapters.promote(teacher.db, teacher.user, result.version)
        assert classfolder.sync(teacher.db, teacher.user).published.published

        tutor = Tutor(load_model(prepare_model(str(tiny_model_dir), ana.data_dir), device="cpu", dtype="float32"))
        ask = TutorRequest(user_text="What is a fraction?", mode="explain")
        settings = GenerationSettings(temperature=0, max_new_tokens=8)
        assert tutor.reply(ask, settings).adapter_version is None
        picked = classfolder.sync(ana.db).picked_up
        assert picked.changed and picked.version == result.version
        choice = choose_adapter(ana.data_dir, ana.db, "tiny-qwen2")
        assert choice.version == result.version and choice.problem is None
        teacher_weights = Path(candidate.path) / "adapter_model.safetensors"
        assert file_sha256(choice.path / "adapter_model.safetensors") == file_sha256(teacher_weights)
        tutor.set_adapter(choice.path, choice.version)                      # what AdapterSync does in the window
        assert tutor.reply(ask, settings).adapter_version == result.version
        assert classfolder.status(ana.db).headline() == "Class: 7B, tutor updated today"
    finally:
        for desk in (teacher, ana, ben):
            desk.close()
