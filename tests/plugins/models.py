"""The tiny model loaded once per run, for learner tests that need a model in memory."""
from __future__ import annotations

from pathlib import Path

import pytest

from learner.loading import LoadedModel, load_model
from learner.sources import PreparedModel


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_dir: Path) -> LoadedModel:
    return load_model(PreparedModel(model_id=tiny_model_dir.name, path=tiny_model_dir), device="cpu")
