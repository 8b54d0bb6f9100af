from __future__ import annotations

import pytest

from learner.settings import GenerationSettings
from storage import chat


@pytest.fixture
def student(db):
    return chat.create_user(db, "Ana", grade="7")


@pytest.fixture
def settings() -> GenerationSettings:
    return GenerationSettings(model_spec="scripted", device="cpu", temperature=0.0, max_new_tokens=256)
