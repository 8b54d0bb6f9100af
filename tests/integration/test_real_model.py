"""The real embedded model: prepared into a cache once per run (the `real_model` fixture, reused
from $TUTORLOOP_TEST_MODEL_CACHE when set), then a few short generations through the app's path."""
from __future__ import annotations

import threading

import pytest

from learner.loading import LoadedModel, load_model
from learner.settings import GenerationSettings
from learner.sources import EMBEDDED_MODEL, MANIFEST_NAME, PreparedModel, PrepareProgress, needs_preparation
from learner.tutor import Tutor
from learner.types import TutorRequest
from storage import DataDir, Database, users
from storage import chat

pytestmark = pytest.mark.integration

SHORT = GenerationSettings(max_new_tokens=40, temperature=0)


@pytest.fixture(scope="session")
def model_cache(real_model) -> tuple[DataDir, PreparedModel, list[PrepareProgress]]:
    return real_model


@pytest.fixture(scope="session")
def real_loaded(model_cache) -> LoadedModel:
    _, prepared, _ = model_cache
    return load_model(prepared, device="cpu")


def test_the_embedded_model_is_prepared_into_a_valid_cache(model_cache) -> None:
    data, prepared, seen = model_cache
    assert prepared.model_id == EMBEDDED_MODEL.model_id
    assert prepared.path.parent == data.models_dir
    assert (prepared.path / MANIFEST_NAME).is_file() and (prepared.path / "model.safetensors").is_file()
    assert not needs_preparation("default", data)
    if seen:   # converted in this run: the steps came in order and ended complete
        steps = [p.step for p in seen]
        assert steps.index("Assembling model files") < steps.index("Verifying") < steps.index("Converting")
        assert seen[-1].fraction == 1.0


def test_loads_in_bf16_on_cpu(real_loaded: LoadedModel) -> None:
    assert real_loaded.dtype == "bfloat16" and real_loaded.device == "cpu"
    assert real_loaded.context_window >= 2048


def test_a_real_answer_streams_and_is_stored(real_loaded: LoadedModel, db: Database) -> None:
    student = users.create_user(db, "Ada", grade="7")
    session = chat.create_session(db, student.id, title="Plants", topic="Biology")
    question = "What is photosynthesis?"
    chat.add_message(db, session.id, "user", question, mode="explain")
    pending = chat.add_message(db, session.id, "assistant", "", mode="explain", model_id=real_loaded.model_id,
                               status="generating")
    pieces: list[str] = []
    reply = Tutor(real_loaded).reply(TutorRequest(user_text=question, mode="explain", grade="7", topic="Biology"),
                                     SHORT, on_text=pieces.append)
    stored = chat.finish_message(db, pending.id, reply.text, status="stopped" if reply.stopped else "complete",
                                 answer_key=reply.answer_key, notice=reply.notice)

    assert len(pieces) >= 3 and "".join(pieces) == reply.text
    words = reply.text.lower()
    assert any(word in words for word in ("light", "plant", "sun", "energy", "oxygen")), reply.text
    assert 0 < reply.n_tokens <= 40 and reply.tokens_per_s > 0
    messages = chat.list_messages(db, session.id)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[-1] == stored
    assert stored.content == reply.text and stored.mode == "explain" and stored.status == "complete"
    assert stored.model_id == EMBEDDED_MODEL.model_id and stored.adapter_version is None


def test_stop_ends_a_real_generation_early(real_loaded: LoadedModel) -> None:
    stop = threading.Event()
    reply = Tutor(real_loaded).reply(TutorRequest(user_text="Explain fractions.", mode="explain"), SHORT,
                                     on_text=lambda _piece: stop.set(), stop=stop)
    assert reply.stopped and reply.n_tokens < 40
