"""The real embedded model writes one practice item that parses (on a topic the maths engine has no
generator for, so the model writes it and the engine checks what it can), and judges one answer the
engine cannot read. The embedded model is prepared once per run by the `real_model` fixture
(tests/plugins/core.py)."""
from __future__ import annotations


import pytest

from learner import practice
from learner.settings import GenerationSettings
from storage import practice as stored

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def real_generator(real_model):
    from learner.loading import load_model
    from learner.tutor import Tutor

    return practice.ModelTextGenerator(Tutor(load_model(real_model[1], device="cpu")))


TOPIC = "Area of rectangles"      # no generator: the model writes the item


def test_real_model_writes_a_parsable_item_and_judges_an_answer(real_generator, db, student):
    settings = GenerationSettings(temperature=0, max_new_tokens=200)
    assert not practice.has_generator(TOPIC)
    item = practice.new_item(db, real_generator, user_id=student.id, topic=TOPIC, settings=settings,
                             grade="7", attempts=3)
    assert len(item.question) >= 8 and item.answer_key and item.topic == TOPIC
    assert item.model_id == real_generator.model_id
    assert stored.list_items(db, student.id) == [item]
    # checked exactly when the engine recomputed the key; either way it says how
    assert item.checked == (item.key_source in ("model_verified", "model_corrected")) and item.key_note
    print(f"\nitem: {item.question!r} key: {item.answer_key!r} ({item.difficulty}, {item.key_source}: "
          f"{item.key_note})")

    # an answer the engine cannot read goes to the model, which must give a readable verdict
    result = practice.check_attempt(db, real_generator, item_id=item.id, user_id=student.id,
                                    answer="I am not sure, maybe 100?", settings=settings, attempts=3)
    assert result.judgement.by_model and result.judgement.verdict in ("correct", "partly", "incorrect")
    assert result.attempt.feedback
    print(f"verdict: {result.judgement.verdict}; feedback: {result.attempt.feedback!r}")
