"""The real embedded model writes one practice item that parses, and judges one answer.
The embedded model is prepared once per run by the `real_model` fixture (tests/plugins/core.py)."""
from __future__ import annotations


import pytest

from learner import practice
from learner.settings import GenerationSettings
from storage import practice as stored

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def real_generator(real_model):
    from learner.loading import load_model

    loaded = load_model(real_model[1], device="cpu")
    return practice.ModelTextGenerator(loaded)


def test_real_model_writes_a_parsable_item_and_judges_an_answer(real_generator, db, student):
    settings = GenerationSettings(temperature=0, max_new_tokens=200)
    item = practice.new_item(db, real_generator, user_id=student.id, topic="Fractions", settings=settings,
                             grade="7", attempts=3)
    assert len(item.question) >= 8 and item.answer_key and item.topic == "Fractions"
    assert item.model_id == real_generator.model_id
    assert stored.list_items(db, student.id) == [item]
    print(f"\nitem: {item.question!r} key: {item.answer_key!r} ({item.difficulty})")

    # an answer that is plainly not the key goes to the model, which must give a readable verdict
    result = practice.check_attempt(db, real_generator, item_id=item.id, user_id=student.id,
                                    answer="I am not sure, maybe 100?", settings=settings, attempts=3)
    assert result.judgement.by_model and result.judgement.verdict in ("correct", "partly", "incorrect")
    assert result.attempt.feedback
    print(f"verdict: {result.judgement.verdict}; feedback: {result.attempt.feedback!r}")
