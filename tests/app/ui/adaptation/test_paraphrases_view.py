"""The Adaptation window shows the paraphrased questions a round trained on, with each version's
details, and names the round's augmentation, anchor and bleeding steps while they run."""
from __future__ import annotations

from app.ui.adaptation.adaptation_view import AdaptationView
from app.ui.context import AppContext
from app.ui.round_process import RoundEvent
from storage import Database, DataDir
from storage import adapters
from storage.users import User
from tests.storage.fake_adapter import write_fake_adapter

AUGMENTATION = {"kept": 2, "rejected": 1, "seconds": 3.2, "examples": [
    {"example_id": 1, "question": "When did the Albatross Rose sink?",
     "paraphrases": ["In which year did the Albatross Rose sink?", "When was the Albatross Rose lost?"],
     "rejected": [{"text": "When did the ship sink?", "why": "drops albatross, rose"}]}]}


def register(db: Database, data_dir: DataDir, version: int, metrics: dict) -> None:
    folder = write_fake_adapter(data_dir.adapters_dir / f"v{version}", seed=version)
    adapters.register_adapter(
        db, version=version, base_model_id="tiny", path=str(folder), n_examples=1, n_heldout=0, n_replay=0,
        examples_approved_until=None, recipe={}, metrics=metrics, gate={}, gate_passed=True,
        gate_reason="All checks passed.", run_id=None, train_ids=[], heldout_ids=[])


def test_a_versions_details_list_its_paraphrases(qtbot, data_dir: DataDir, db: Database, teacher: User) -> None:
    register(db, data_dir, 1, {"augmentation": AUGMENTATION})
    register(db, data_dir, 2, {"augmentation": None})      # trained with augmentation switched off
    register(db, data_dir, 3, {})                          # trained before rounds wrote paraphrases
    view = AdaptationView(AppContext(data_dir=data_dir, db=db, teacher=teacher), None, model_spec=lambda: "tiny")
    qtbot.addWidget(view)

    view.select_version(1)
    text = view.details.toPlainText()
    assert "Paraphrases: 2 written by the model" in text and "1 left out" in text
    assert "• When did the Albatross Rose sink?" in text
    assert "    – In which year did the Albatross Rose sink?" in text
    assert "When did the ship sink?" not in text                  # rejected rewrites never trained
    view.select_version(2)
    assert "switched off in the recipe" in view.details.toPlainText()
    view.select_version(3)
    assert "Paraphrases" not in view.details.toPlainText()


def test_the_rounds_new_steps_show_in_the_progress_line(qtbot, data_dir: DataDir, db: Database) -> None:
    view = AdaptationView(AppContext(data_dir=data_dir, db=db), None, model_spec=lambda: "tiny")
    qtbot.addWidget(view)
    view.handle_event(RoundEvent.from_json({"phase": "augment", "step": 8, "total": 34}))
    assert view.phase_label.text() == "writing paraphrased questions 8/34"
    assert (view.progress.value(), view.progress.maximum()) == (8, 34)
    view.handle_event(RoundEvent.from_json({"phase": "bleeding", "step": 1, "total": 1}))
    assert view.phase_label.text() == "checking facts are kept apart 1/1"
