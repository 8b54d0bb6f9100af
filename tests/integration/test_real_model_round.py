"""One real-model round of a few steps (slow: marked integration). The embedded model is
prepared once per run by the `real_model` fixture (tests/plugins/core.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from learner.adapt.recipe import Recipe
from learner.adapt.round import run_round
from learner.loading import load_model
from learner.settings import GenerationSettings
from learner.sources import prepare_model
from learner.tutor import Tutor
from learner.types import TutorRequest
from storage import Database, DataDir
from storage import adapters
from tests.support.classroom import FACTS, approve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def real_model_path(real_model) -> Path:
    return real_model[1].path


def test_a_few_steps_on_the_real_model_register_a_version_the_tutor_can_use(
        real_model_path: Path, data_dir: DataDir, db: Database, teacher, tmp_path: Path) -> None:
    approve(db, teacher, tmp_path, FACTS[:6])
    events: list[dict] = []
    # Paraphrasing off and one fairness group: a few steps, as CI's time allows (each is tested on the tiny model).
    recipe = Recipe(max_steps=2, batch_tokens=512, max_batch_examples=2, replay_train_limit=2, replay_eval_limit=2,
                    augment=False, fairness_groups=1)
    result = run_round(data_dir, recipe=recipe, model_spec=str(real_model_path), on_progress=events.append)
    assert result.version == 1 and (data_dir.adapters_dir / "v1" / "adapter_model.safetensors").is_file()
    assert [e["step"] for e in events if e["phase"] == "train"] == [1, 2]
    adapter = adapters.get_adapter(db, 1)
    for which in ("candidate", "base"):
        assert adapter.metrics["replay_loss"][which] > 0
    assert adapter.metrics["train"]["tokens_per_s"] > 0

    tutor = Tutor(load_model(prepare_model(str(real_model_path), data_dir), device="cpu"))
    tutor.set_adapter(result.adapter_path, result.version)
    reply = tutor.reply(TutorRequest(user_text="What is 2 + 2?", mode="explain"),
                        GenerationSettings(temperature=0, max_new_tokens=12))
    assert reply.adapter_version == 1 and reply.text.strip()
