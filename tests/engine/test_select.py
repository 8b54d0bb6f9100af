"""Which engine serves replies (learner.engine.select): llama.cpp on a GGUF model, transformers for a
Hugging Face folder or when asked, and a one-line notice with the fix when llama.cpp cannot run."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from learner.engine import llama_cpp_engine
from learner.engine.gguf_source import export_for_serving, gguf_needs_assembly
from learner.engine.lora_gguf import LORA_GGUF_NAME, MANIFEST_NAME
from learner.engine.select import load_engine, needs_preparation, uses_llama_cpp
from learner.settings import GenerationSettings
from storage import DataDir

needs_llama_cpp = pytest.mark.skipif(llama_cpp_engine.available() is not None,
                                     reason="llama-cpp-python is not installed (the transformers fallback)")


@needs_llama_cpp
def test_a_gguf_model_is_served_by_llama_cpp_without_conversion(tiny_gguf: Path, data_dir: DataDir) -> None:
    settings = GenerationSettings(model_spec=str(tiny_gguf))
    assert uses_llama_cpp(settings) and not needs_preparation(settings, data_dir)
    loaded = load_engine(settings, data_dir)
    try:
        assert loaded.engine.name == "llama.cpp" and loaded.notice is None
        assert not any(data_dir.models_dir.iterdir()), "no bf16 conversion for chatting"
    finally:
        loaded.engine.unload()


def test_a_hugging_face_folder_runs_on_transformers_without_a_notice(tiny_model_dir: Path, data_dir: DataDir) -> None:
    loaded = load_engine(GenerationSettings(model_spec=str(tiny_model_dir), device="cpu"), data_dir)
    assert loaded.engine.name == "transformers" and loaded.notice is None


def test_transformers_can_be_chosen_for_a_gguf_model(tiny_gguf: Path, data_dir: DataDir) -> None:
    settings = GenerationSettings(model_spec=str(tiny_gguf), engine="transformers", device="cpu")
    assert not uses_llama_cpp(settings)
    assert load_engine(settings, data_dir).engine.name == "transformers"


def test_without_llama_cpp_the_chat_falls_back_and_says_how_to_fix_it(
        tiny_gguf: Path, data_dir: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault injection: the package failed to build on this machine.
    monkeypatch.setattr(llama_cpp_engine, "available",
                        lambda: f"The llama.cpp engine is not available (No module named 'llama_cpp'). "
                                f"{llama_cpp_engine.INSTALL_HINT}")
    loaded = load_engine(GenerationSettings(model_spec=str(tiny_gguf), device="cpu"), data_dir)
    assert loaded.engine.name == "transformers"
    assert loaded.notice.startswith("Replies run on the slower transformers engine")
    assert "make run" in loaded.notice and "\n" not in loaded.notice


def test_the_embedded_model_needs_only_assembling_for_llama_cpp(data_dir: DataDir) -> None:
    assert gguf_needs_assembly("default", data_dir)
    assert not gguf_needs_assembly("/some/folder", data_dir)


def test_a_round_writes_the_gguf_form_for_a_gguf_model_only(tiny_lora: Path, tiny_gguf: Path, tiny_model_dir: Path,
                                                            data_dir: DataDir, tmp_path: Path) -> None:
    # The PEFT files only: other tests apply the shared adapter on llama.cpp, which exports beside it.
    peft_only = shutil.ignore_patterns(LORA_GGUF_NAME, MANIFEST_NAME)
    adapter = shutil.copytree(tiny_lora, tmp_path / "v1", ignore=peft_only)
    exported = export_for_serving(adapter, str(tiny_gguf), data_dir)
    assert exported is not None and exported.path == adapter / LORA_GGUF_NAME
    assert (adapter / MANIFEST_NAME).is_file()
    other = shutil.copytree(tiny_lora, tmp_path / "v2", ignore=peft_only)
    assert export_for_serving(other, str(tiny_model_dir), data_dir) is None
    assert not (other / LORA_GGUF_NAME).exists()
