from __future__ import annotations

from pathlib import Path

import pytest

from learner.settings import (
    STORAGE_KEY, GenerationSettings, load_generation_settings, save_generation_settings, saved_generation_settings,
)
from storage import Database, DataDir, chat


def test_defaults_and_round_trip() -> None:
    settings = GenerationSettings(model_spec="/models/x", device="CPU", dtype="bf16", max_new_tokens=64,
                                  temperature=0)
    assert settings.device == "cpu" and settings.dtype == "bfloat16" and settings.temperature == 0.0
    data = settings.to_dict()
    assert list(data) == sorted(data)
    assert GenerationSettings.from_dict(data) == settings
    assert GenerationSettings.from_dict(None) == GenerationSettings()


def test_from_dict_ignores_unknown_keys() -> None:
    assert GenerationSettings.from_dict({"max_new_tokens": 99, "from_the_future": 1}).max_new_tokens == 99


@pytest.mark.parametrize(("field", "value"), [
    ("model_spec", "  "),
    ("device", "tpu"),
    ("dtype", "int4"),
    ("max_new_tokens", 0),
    ("max_new_tokens", 100_000),
    ("max_new_tokens", 12.5),
    ("max_new_tokens", True),
    ("temperature", -0.1),
    ("temperature", 3),
    ("temperature", "hot"),
])
def test_bad_values_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        GenerationSettings(**{field: value})


# -- the saved Settings (one reader for the window, the CLI and cron's adaptation round) ------------

def test_saved_settings_round_trip_through_the_database(db: Database) -> None:
    chosen = GenerationSettings(model_spec="/models/tutor", device="cpu", max_new_tokens=99)
    save_generation_settings(db, chosen)
    assert load_generation_settings(db) == (chosen, None)


@pytest.mark.parametrize("stored", [{"device": "abacus", "max_new_tokens": 99}, ["not", "a", "dict"], "text"])
def test_unusable_saved_settings_fall_back_to_the_defaults_and_say_why(db: Database, stored: object) -> None:
    chat.set_setting(db, STORAGE_KEY, stored)
    settings, problem = load_generation_settings(db)
    assert settings == GenerationSettings()
    assert problem is not None and "using the defaults" in problem


def test_saved_settings_from_a_data_folder(data_dir: DataDir, db: Database) -> None:
    empty = DataDir(data_dir.root / "elsewhere")
    assert saved_generation_settings(empty) == (GenerationSettings(), None)   # no database yet: none is made
    assert not empty.db_path.exists()
    save_generation_settings(db, GenerationSettings(model_spec="/models/tutor"))
    assert saved_generation_settings(data_dir)[0].model_spec == "/models/tutor"


def test_a_damaged_database_gives_the_defaults_and_a_reason(tmp_path: Path) -> None:
    damaged = DataDir(tmp_path / "damaged").ensure()
    damaged.db_path.write_bytes(b"this is not a database" * 100)
    settings, problem = saved_generation_settings(damaged)
    assert settings == GenerationSettings() and problem is not None
    assert damaged.db_path.read_bytes() == b"this is not a database" * 100    # untouched
