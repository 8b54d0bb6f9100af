from __future__ import annotations

import pytest

from learner.settings import GenerationSettings
from storage import users


@pytest.fixture
def student(db):
    return users.create_user(db, "Ana", grade="7")


@pytest.fixture
def settings() -> GenerationSettings:
    return GenerationSettings(model_spec="scripted", device="cpu", temperature=0.0, max_new_tokens=256)
