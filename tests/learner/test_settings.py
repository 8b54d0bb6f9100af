from __future__ import annotations

import pytest

from learner.settings import GenerationSettings


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
